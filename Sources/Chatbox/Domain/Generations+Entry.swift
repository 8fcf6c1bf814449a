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
            /// The model's reasoning so far, kept apart from the answer, and its length in characters.
            var reasoning = ""
            var reasoningCharacters = 0
            /// What the provider said the answer cost, when it says.
            var usage: TokenUsage?
            /// Counts changes to `content` and `reasoning`; `savedRevision` is the one the database has (see
            /// `ProgressSaver`).
            var revision = 0
            var savedRevision = 0
            var listeners: [Listener] = []
            var stopReason: StopReason?
            /// The database holds its conversation's reservation (see `RunningAnswers.share`).
            /// When the database reservation was made (its token), once it is.
            var sharedAt: Millis?
            /// The model's answer while it streams (no task holds it); a stop cancels it.
            var call: ModelCall?
            /// What is left once the streaming is over: saving the answer, telling the listeners, the title.
            /// Shutdown awaits it.
            var finishing: Task<Void, Never>?
            /// Those waiting for `finishing` to be there (`ended`).
            var endWaiters: [CheckedContinuation<Task<Void, Never>, Never>] = []
            /// `cancelStreaming` was called (before the call was recorded, perhaps).
            var streamingCancelled = false
            /// The streaming is over: stops and timeouts no longer cancel anything (the save and title go on).
            var streamingOver = false
            /// Whether the turn was stored, once the finishing task needs to know (see `storedTurn`).
            var turn = TurnWait.pending(nil)
        }
        /// The turn as the finishing task waits for it: not yet known (it may be waiting), or known (nil: not
        /// stored).
        enum TurnWait {
            case pending(CheckedContinuation<StoredTurn?, Never>?)
            case known(StoredTurn?)
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
        add(piece, to: \.content, counted: \.characters, as: ChatEvent.delta)
    }

    /// Appends a piece of the model's reasoning and sends it to every listener; limited like the answer.
    func appendReasoning(_ piece: String) {
        add(piece, to: \.reasoning, counted: \.reasoningCharacters, as: ChatEvent.reasoning)
    }

    private func add(
        _ piece: String, to text: WritableKeyPath<State, String>, counted: WritableKeyPath<State, Int>,
        as event: (String) -> ChatEvent
    ) {
        let tooLong = state.withLock { state -> Bool in
            guard state.stopReason != .tooLong else { return false }
            let (kept, over) = Self.cut(piece, used: &state[keyPath: counted], limit: maxCharacters)
            if !kept.isEmpty {
                state[keyPath: text] += kept
                state.revision += 1
                let sent = event(kept)
                state.listeners.removeAll { !$0.push(sent) }
            }
            return over
        }
        if tooLong { requestStop(.tooLong) }
    }

    /// The answer so far was reasoning after all (a `<think>` block without its opening tag): it moves to the
    /// reasoning, and listeners are sent the whole reasoning to replace what they have.
    func answerWasReasoning() {
        let tooLong = state.withLock { state -> Bool in
            guard state.stopReason != .tooLong, !state.content.isEmpty else { return false }
            let (kept, over) = Self.cut(state.content, used: &state.reasoningCharacters, limit: maxCharacters)
            state.reasoning += kept
            state.content = ""
            state.characters = 0
            state.revision += 1
            let reasoning = state.reasoning
            state.listeners.removeAll { !$0.push(.reasoningReplaced(reasoning)) }
            return over
        }
        if tooLong { requestStop(.tooLong) }
    }

    func setUsage(_ usage: TokenUsage) {
        state.withLock { $0.usage = usage }
    }

    /// `piece`, cut where it would take `used` characters past `limit`, and whether it was cut.
    private static func cut(_ piece: String, used: inout Int, limit: Int) -> (String, Bool) {
        let count = piece.count
        let room = limit - used
        used += min(count, room)
        return count > room ? (String(piece.prefix(room)), true) : (piece, false)
    }

    /// The text so far.
    var content: String { state.withLock { $0.content } }

    /// The answer so far: its text, reasoning and usage.
    var output: (content: String, reasoning: String, usage: TokenUsage?) {
        state.withLock { ($0.content, $0.reasoning, $0.usage) }
    }

    /// Whether the turn is stored and the generation not finished: what listeners can attach to.
    var isStarted: Bool {
        state.withLock { state in
            if case .started = state.phase { return true }
            return false
        }
    }

    var stopReason: Generations.StopReason? { state.withLock { $0.stopReason } }

    /// Records that the database holds the reservation: from now on, a missing row means another instance took it.
    func markShared(at reservedAt: Millis) {
        state.withLock { $0.sharedAt = reservedAt }
    }

    var isShared: Bool { sharedAt != nil }

    /// When the database reservation was made (the token that frees it), or nil before.
    var sharedAt: Millis? { state.withLock { $0.sharedAt } }

    func requestStop(_ reason: Generations.StopReason) {
        let call = state.withLock { state -> ModelCall? in
            if state.stopReason == nil { state.stopReason = reason }
            return state.streamingOver ? nil : state.call
        }
        call?.cancel()
    }

    func send(_ event: ChatEvent) {
        state.withLock { state in
            state.listeners.removeAll { !$0.push(event) }
        }
    }

    /// Records the model's answer under way; cancels it at once if a stop (or `cancelStreaming`) came first.
    /// Not kept when the answer has already ended (a model that failed at once).
    func setCall(_ call: ModelCall) {
        let stop = state.withLock { state in
            guard !state.streamingOver else { return false }
            state.call = call
            return state.stopReason != nil || state.streamingCancelled
        }
        if stop { call.cancel() }
    }

    /// Cancels the model's answer while it streams, now or as soon as it is recorded (a timeout; its reason is
    /// kept by the caller).
    func cancelStreaming() {
        let call = state.withLock { state in
            state.streamingCancelled = true
            return state.streamingOver ? nil : state.call
        }
        call?.cancel()
    }

    /// Whether something asked the streaming to end early (a stop, a timeout, an abandoned turn).
    var streamingCutShort: Bool { state.withLock { $0.streamingCancelled || $0.stopReason != nil } }

    /// The answer has stopped streaming; a stop no longer cancels anything.
    func streamingEnded() {
        state.withLock {
            $0.streamingOver = true
            $0.call = nil
        }
    }

    /// Records the task that finishes the answer, for those waiting in `ended`.
    func setFinishing(_ task: Task<Void, Never>) {
        let waiters = state.withLock { state in
            state.finishing = task
            defer { state.endWaiters = [] }
            return state.endWaiters
        }
        for waiter in waiters { waiter.resume(returning: task) }
    }

    /// Waits until the answer's work is over: its streaming, then its finishing task (shutdown; an abandoned
    /// turn).
    func ended() async {
        let finishing = await withCheckedContinuation { (waiter: CheckedContinuation<Task<Void, Never>, Never>) in
            let known = state.withLock { state -> Task<Void, Never>? in
                if let finishing = state.finishing { return finishing }
                state.endWaiters.append(waiter)
                return nil
            }
            if let known { waiter.resume(returning: known) }
        }
        await finishing.value
    }

    /// Tells the finishing task whether the turn was stored (nil: it was not, and it ends without saving anything).
    func turnStored(_ turn: StoredTurn?) {
        let waiting = state.withLock { state -> CheckedContinuation<StoredTurn?, Never>? in
            guard case .pending(let continuation) = state.turn else { return nil }
            state.turn = .known(turn)
            return continuation
        }
        waiting?.resume(returning: turn)
    }

    /// The stored turn, once `turnStored` says (nil: not stored). Not cancellable: the turn's start always says.
    func storedTurn() async -> StoredTurn? {
        await withCheckedContinuation { continuation in
            let known = state.withLock { state -> StoredTurn?? in
                switch state.turn {
                case .known(let turn): return .some(turn)
                case .pending:
                    state.turn = .pending(continuation)
                    return nil
                }
            }
            if let known { continuation.resume(returning: known) }
        }
    }

    /// Records that the database has the text and reasoning as of `revision`.
    func saved(revision: Int) {
        state.withLock { $0.savedRevision = max($0.savedRevision, revision) }
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

/// A stored turn, as the finishing task needs it: its messages and whether it names the conversation. A
/// class, so that every entry's state stays one pointer bigger, not two messages bigger.
final class StoredTurn: Sendable {
    let user: Message
    let assistant: Message
    let naming: Bool
    init(user: Message, assistant: Message, naming: Bool) {
        (self.user, self.assistant, self.naming) = (user, assistant, naming)
    }
}
