import Synchronization

/// The answers being generated right now, one per conversation at most. A generation is a server-side job:
/// it goes on when the browser that asked for it leaves, any number of listeners can attach and detach, and
/// each listener sees `start` (with the text so far) and then every later event exactly once.
public final class Generations: Sendable {
    /// What one user may hold at once, and how long an answer may grow.
    public struct Limits: Sendable {
        /// Answers running at once per user, across conversations.
        public var runningPerUser: Int
        /// Open streams (a turn's own and re-attached ones) per user.
        public var streamsPerUser: Int
        /// Characters an answer may have; past that it ends as failed, its text up to the limit kept.
        public var answerCharacters: Int

        public init(runningPerUser: Int = 3, streamsPerUser: Int = 20, answerCharacters: Int = 200_000) {
            self.runningPerUser = runningPerUser
            self.streamsPerUser = streamsPerUser
            self.answerCharacters = answerCharacters
        }
    }

    /// Why a generation was asked to stop.
    enum StopReason: Sendable {
        case user, shutdown
        /// The answer reached `Limits.answerCharacters`.
        case tooLong
        /// Its user was disabled or deleted.
        case accountClosed
        /// This instance lost its lease (it was presumed dead, and another instance failed the answer and freed its
        /// conversation): the answer stops without writing anything more.
        case fenced
    }

    private struct Running {
        var entries: [Int64: Entry] = [:]
        /// Generations whose answer is finished (their conversation is free) but whose task still runs: the title
        /// is being written. Shutdown waits for them too.
        var finishing: [ObjectIdentifier: Entry] = [:]
        /// Running generations per user.
        var perUser: [Int64: Int] = [:]
    }

    private let running = Mutex(Running())
    /// Open streams per user.
    private let streams = StreamSlots()
    let limits: Limits

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Claims the conversation for a new generation of this user. Throws `alreadyGenerating` when one runs there
    /// and `tooManyRunning` when the user has `runningPerUser` answers running. The generation can take pieces at
    /// once; listeners can attach once `begin` has given it its stored messages.
    func reserve(_ conversationID: Int64, userID: Int64) throws(ChatError) -> Entry {
        let limits = self.limits
        return try running.withLock { (running: inout Running) throws(ChatError) -> Entry in
            guard running.entries[conversationID] == nil else { throw .alreadyGenerating }
            guard running.perUser[userID, default: 0] < limits.runningPerUser else {
                throw .tooManyRunning(limit: limits.runningPerUser)
            }
            let entry = Entry(userID: userID, maxCharacters: limits.answerCharacters)
            running.entries[conversationID] = entry
            running.perUser[userID, default: 0] += 1
            return entry
        }
    }

    /// A listener that holds one of the user's stream slots until it closes; throws `tooManyStreams` when the
    /// user has `streamsPerUser` open.
    func openStream(userID: Int64) throws(ChatError) -> Listener {
        let limit = limits.streamsPerUser
        guard streams.take(userID, limit: limit) else { throw .tooManyStreams(limit: limit) }
        return Listener { [streams] in streams.give(userID) }
    }

    /// Gives a reserved generation its stored question and answer, and makes `listener` the turn's own: `start`
    /// (with the answer empty), then the text that arrived before the turn was stored as a `delta`, then the rest.
    func begin(_ entry: Entry, user: Message, assistant: Message, listener: Listener) {
        entry.state.withLock { state in
            guard case .reserved = state.phase else { return }
            state.phase = .started(user: user, assistant: assistant)
        }
        listen(listener, to: entry, includeUser: true)
    }

    /// A new listener for the user's generation running in this conversation, or nil when none runs.
    public func attach(_ conversationID: Int64, userID: Int64) throws(ChatError) -> Listener? {
        guard let entry = running.withLock({ $0.entries[conversationID] }), entry.userID == userID, entry.isStarted
        else { return nil }
        let listener = try openStream(userID: userID)
        listen(listener, to: entry, includeUser: false)
        return listener
    }

    /// Whether a generation runs in this conversation.
    public func isRunning(_ conversationID: Int64) -> Bool {
        running.withLock { $0.entries[conversationID] != nil }
    }

    /// The generation running in this conversation, if any.
    func entry(_ conversationID: Int64) -> Entry? {
        running.withLock { $0.entries[conversationID] }
    }

    /// Every running generation (not those only writing a title) by conversation.
    func entries() -> [Int64: Entry] {
        running.withLock { $0.entries }
    }

    /// How many generations run now (those still writing a title included).
    public var count: Int { running.withLock { $0.entries.count + $0.finishing.count } }

    /// Ends everything of a user who was disabled or deleted: their answers stop (failed, text kept) and their
    /// streams close at once.
    public func endAll(userID: Int64) {
        let theirs = running.withLock { $0.entries.values.filter { $0.userID == userID } }
        for entry in theirs {
            entry.requestStop(.accountClosed)
            entry.closeListeners()
        }
    }

    /// Asks the running generation to stop (its partial text is kept); false when none runs.
    @discardableResult
    public func stop(_ conversationID: Int64) -> Bool {
        guard let entry = running.withLock({ $0.entries[conversationID] }) else { return false }
        entry.requestStop(.user)
        return true
    }

    /// Stops every running generation (server shutdown) and waits until they have finished.
    func stopAll() async {
        let (all, finishing) = running.withLock { (Array($0.entries.values), Array($0.finishing.values)) }
        for entry in all { entry.requestStop(.shutdown) }
        for entry in all + finishing { await entry.ended() }
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

    private func listen(_ listener: Listener, to entry: Entry, includeUser: Bool) {
        entry.state.withLock { state in
            guard case .started(let user, var snapshot) = state.phase else { return listener.close() }
            if includeUser {
                _ = listener.push(.start(user: user, assistant: snapshot))
                if !state.reasoning.isEmpty { _ = listener.push(.reasoning(state.reasoning)) }
                if !state.content.isEmpty { _ = listener.push(.delta(state.content)) }
            } else {
                snapshot.content = state.content
                snapshot.reasoning = state.reasoning
                _ = listener.push(.start(user: nil, assistant: snapshot))
            }
            state.listeners.append(listener)
        }
    }

    /// The answers whose text or reasoning changed since they were last saved.
    func unsaved() -> [Unsaved] {
        let all = running.withLock { Array($0.entries.values) }
        return all.compactMap { entry in
            entry.state.withLock { state in
                guard case .started(_, let assistant) = state.phase, state.revision != state.savedRevision
                else { return nil }
                return Unsaved(
                    progress: AnswerProgress(
                        messageID: assistant.id, content: state.content, reasoning: state.reasoning),
                    revision: state.revision, entry: entry)
            }
        }
    }

    /// An answer's progress to save, and the revision it is.
    struct Unsaved {
        let progress: AnswerProgress
        let revision: Int
        let entry: Entry
        var messageID: Int64 { progress.messageID }
        var content: String { progress.content }
        /// Records that the database now has it.
        func saved() { entry.saved(revision: revision) }
    }
}

extension Generations {
    /// Forgets a generation: a finished one, or a reserved one whose turn could not start after all.
    func remove(_ conversationID: Int64, _ entry: Entry) {
        running.withLock { running in Self.free(conversationID, entry, in: &running) }
    }

    /// Frees the conversation (a new turn may start) and the user's running slot once the answer is finished;
    /// the rest of its task (the title) still counts for shutdown until `ended`.
    func answered(_ conversationID: Int64, _ entry: Entry) {
        running.withLock { running in
            guard Self.free(conversationID, entry, in: &running) else { return }
            running.finishing[ObjectIdentifier(entry)] = entry
        }
    }

    /// The generation's task is over.
    func ended(_ entry: Entry) {
        _ = running.withLock { $0.finishing.removeValue(forKey: ObjectIdentifier(entry)) }
    }

    @discardableResult
    private static func free(_ conversationID: Int64, _ entry: Entry, in running: inout Running) -> Bool {
        guard running.entries[conversationID] === entry else { return false }
        running.entries[conversationID] = nil
        let left = running.perUser[entry.userID, default: 1] - 1
        running.perUser[entry.userID] = left > 0 ? left : nil
        return true
    }
}

/// How many streams each user has open.
private final class StreamSlots: Sendable {
    private let open = Mutex<[Int64: Int]>([:])

    /// Takes a slot unless the user holds `limit` already.
    func take(_ userID: Int64, limit: Int) -> Bool {
        open.withLock { open in
            guard open[userID, default: 0] < limit else { return false }
            open[userID, default: 0] += 1
            return true
        }
    }

    func give(_ userID: Int64) {
        open.withLock { open in
            let left = open[userID, default: 1] - 1
            open[userID] = left > 0 ? left : nil
        }
    }
}
