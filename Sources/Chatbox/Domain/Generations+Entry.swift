import Synchronization

extension Generations {
    /// One generation: its phase, its text so far and its listeners.
    final class Entry: Sendable {
        /// Where a generation is: `reserved` → `started` → `finished` (a reservation given back never starts).
        enum Phase {
            /// The conversation is claimed and its turn is being stored. Pieces can arrive already: they wait in
            /// `content`, and nobody can attach yet.
            case reserved
            /// The turn is stored: listeners attach and see `start` with these messages.
            case started(user: Message, assistant: Message)
            /// The listeners were closed at the end; one that comes later gets nothing.
            case finished
        }

        struct State {
            var phase = Phase.reserved
            var content = ""
            /// `content.count`, kept as pieces arrive (counting the whole text each time would be quadratic).
            var characters = 0
            /// How many bytes of `content` the database has (see `ProgressSaver`).
            var savedBytes = 0
            var listeners: [Listener] = []
            var stopReason: StopReason?
            /// The whole job, awaited at shutdown.
            var job: Task<Void, Never>?
            /// The streaming part, cancelled by a stop.
            var task: Task<(MessageStatus, String?), Never>?
        }
        let state: Mutex<State>
        let userID: Int64
        let maxCharacters: Int
        init(userID: Int64, maxCharacters: Int) {
            self.userID = userID
            self.maxCharacters = maxCharacters
            state = Mutex(State())
        }
    }
}

extension Generations.Entry {
    /// Appends a piece of the answer and sends it to every listener. A piece that takes the answer past its
    /// limit is cut there and the generation is stopped as too long; pieces after that are dropped.
    func append(_ piece: String) {
        let tooLong = state.withLock { state -> Bool in
            guard state.stopReason != .tooLong else { return false }
            var piece = piece
            let count = piece.count
            let room = maxCharacters - state.characters
            if count > room { piece = String(piece.prefix(room)) }
            state.characters += min(count, room)
            if !piece.isEmpty {
                state.content += piece
                state.listeners.removeAll { !$0.push(.delta(piece)) }
            }
            return count > room
        }
        if tooLong { requestStop(.tooLong) }
    }

    /// The text so far.
    var content: String { state.withLock { $0.content } }

    /// Whether the turn is stored and the generation not finished: what listeners can attach to.
    var isStarted: Bool {
        state.withLock { state in
            if case .started = state.phase { return true }
            return false
        }
    }

    var stopReason: Generations.StopReason? { state.withLock { $0.stopReason } }

    func requestStop(_ reason: Generations.StopReason) {
        let task = state.withLock { state -> Task<(MessageStatus, String?), Never>? in
            if state.stopReason == nil { state.stopReason = reason }
            return state.task
        }
        task?.cancel()
    }

    func send(_ event: ChatEvent) {
        state.withLock { state in
            state.listeners.removeAll { !$0.push(event) }
        }
    }

    func setJob(_ job: Task<Void, Never>) {
        state.withLock { $0.job = job }
    }

    /// Records the streaming task; cancels it at once if a stop came first.
    func setStreamingTask(_ task: Task<(MessageStatus, String?), Never>) {
        let stop = state.withLock { state in
            state.task = task
            return state.stopReason != nil
        }
        if stop { task.cancel() }
    }

    /// Records that the database has the text up to `bytes` (UTF-8).
    func saved(bytes: Int) {
        state.withLock { $0.savedBytes = max($0.savedBytes, bytes) }
    }

    /// Closes the listeners attached now; the generation itself goes on until it ends.
    func closeListeners() {
        let listeners = state.withLock { state in
            defer { state.listeners = [] }
            return state.listeners
        }
        for listener in listeners { listener.close() }
    }

    /// Ends every listener's events; later listeners get nothing.
    func finish() {
        let listeners = state.withLock { state in
            state.phase = .finished
            defer { state.listeners = [] }
            return state.listeners
        }
        for listener in listeners { listener.close() }
    }
}
