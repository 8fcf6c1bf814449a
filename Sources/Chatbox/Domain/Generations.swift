import Synchronization

/// The answers being generated right now, one per conversation at most. A generation is a server-side job:
/// it goes on when the browser that asked for it leaves, any number of listeners can attach and detach, and
/// each listener sees `start` (with the text so far) and then every later event exactly once.
public final class Generations: Sendable {
    final class Entry: Sendable {
        struct State {
            var user: Message?
            var assistant: Message
            var content = ""
            /// How many bytes of `content` the database has (see `ProgressSaver`).
            var savedBytes = 0
            var listeners: [Listener] = []
            var stopReason: StopReason?
            /// The whole job, awaited at shutdown.
            var job: Task<Void, Never>?
            var finished = false
            /// The streaming part, cancelled by a stop.
            var task: Task<(MessageStatus, String?), Never>?
        }
        let state: Mutex<State>
        init(user: Message, assistant: Message) { state = Mutex(State(user: user, assistant: assistant)) }
    }

    /// Why a generation was asked to stop.
    enum StopReason: Sendable {
        case user, shutdown
    }

    private let entries = Mutex<[Int64: Entry]>([:])

    public init() {}

    /// Claims the conversation for a new generation; nil when one is already running there. The generation can
    /// take pieces at once; listeners can attach once `begin` has given it its stored messages.
    func reserve(_ conversationID: Int64) -> Entry? {
        entries.withLock { entries in
            guard entries[conversationID] == nil else { return nil }
            let entry = Entry(user: .placeholder, assistant: .placeholder)
            entries[conversationID] = entry
            return entry
        }
    }

    /// Gives a reserved conversation back when the turn could not start after all.
    func release(_ conversationID: Int64) {
        _ = entries.withLock { $0.removeValue(forKey: conversationID) }
    }

    /// Gives a reserved generation its stored question and answer, and returns the turn's own listener: `start`
    /// (with the answer empty), then the text that arrived before the turn was stored as a `delta`, then the rest.
    func begin(_ entry: Entry, user: Message, assistant: Message) -> Listener {
        entry.state.withLock { state in
            state.user = user
            state.assistant = assistant
        }
        return listen(to: entry, includeUser: true)
    }

    /// A new listener for the running generation, or nil when none runs.
    public func attach(_ conversationID: Int64) -> Listener? {
        guard let entry = entries.withLock({ $0[conversationID] }), entry.state.withLock({ $0.assistant.id != 0 }) else {
            return nil
        }
        return listen(to: entry, includeUser: false)
    }

    /// Whether a generation runs in this conversation.
    public func isRunning(_ conversationID: Int64) -> Bool {
        entries.withLock { $0[conversationID] != nil }
    }

    /// How many generations run now.
    public var count: Int { entries.withLock { $0.count } }

    /// Asks the running generation to stop (its partial text is kept); false when none runs.
    @discardableResult
    public func stop(_ conversationID: Int64) -> Bool {
        guard let entry = entries.withLock({ $0[conversationID] }) else { return false }
        entry.requestStop(.user)
        return true
    }

    /// Stops every running generation (server shutdown) and waits until they have finished.
    func stopAll() async {
        let running = entries.withLock { Array($0.values) }
        for entry in running { entry.requestStop(.shutdown) }
        for entry in running { await entry.state.withLock { $0.job }?.value }
    }

    /// Waits until every generation has finished by itself, or `timeout` passes; returns whether all finished.
    func waitForAll(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while count > 0 {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return true
    }

    private func listen(to entry: Entry, includeUser: Bool) -> Listener {
        let listener = Listener()
        entry.state.withLock { state in
            guard !state.finished else { return listener.close() }
            var snapshot = state.assistant
            if includeUser {
                _ = listener.push(.start(user: state.user, assistant: snapshot))
                if !state.content.isEmpty { _ = listener.push(.delta(state.content)) }
            } else {
                snapshot.content = state.content
                _ = listener.push(.start(user: nil, assistant: snapshot))
            }
            state.listeners.append(listener)
        }
        return listener
    }

    /// The answers whose text has grown since it was last saved: message id, text so far, and its entry.
    func unsaved() -> [(messageID: Int64, content: String, entry: Entry)] {
        let running = entries.withLock { Array($0.values) }
        return running.compactMap { entry in
            entry.state.withLock { state in
                guard state.assistant.id != 0, !state.finished, state.content.utf8.count != state.savedBytes else {
                    return nil
                }
                return (state.assistant.id, state.content, entry)
            }
        }
    }
}

extension Generations.Entry {
    /// Appends a piece of the answer and sends it to every listener.
    func append(_ piece: String) {
        state.withLock { state in
            state.content += piece
            state.listeners.removeAll { !$0.push(.delta(piece)) }
        }
    }

    /// The text so far.
    var content: String { state.withLock { $0.content } }

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

    /// Ends every listener's events; later listeners get nothing.
    func finish() {
        let listeners = state.withLock { state in
            state.finished = true
            defer { state.listeners = [] }
            return state.listeners
        }
        for listener in listeners { listener.close() }
    }
}

extension Generations {
    /// Forgets a finished generation.
    func remove(_ conversationID: Int64, _ entry: Entry) {
        entries.withLock { entries in
            if entries[conversationID] === entry { entries[conversationID] = nil }
        }
    }
}

extension Message {
    static let placeholder = Message(
        id: 0, conversationID: 0, role: .assistant, content: "", status: .processing, error: nil, createdAt: 0)
}
