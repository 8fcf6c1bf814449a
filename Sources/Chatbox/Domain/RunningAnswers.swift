import Logging

/// The answers running on every instance. This instance's own are in `generations` (their text, listeners and
/// tasks); each one also has a row in the database that reserves its conversation across instances and carries the
/// stops asked on other instances (`LeaseKeeper` picks them up). A listener that asks on an instance that does not
/// own the answer follows its saved text (`Follower`).
public struct RunningAnswers: Sendable {
    public let generations: Generations
    let store: any RunningAnswerStore & ConversationStore
    /// This instance's name in the database's leases and rows.
    public let instanceID: String
    /// How often a follower reads the saved text.
    let followInterval: Duration
    /// How long a follower waits for the title after the answer of a first round.
    let titleWait: Duration
    let logger: Logger

    public init(
        generations: Generations, store: any RunningAnswerStore & ConversationStore, instanceID: String,
        followInterval: Duration = .milliseconds(200), titleWait: Duration = .seconds(20), logger: Logger
    ) {
        self.generations = generations
        self.store = store
        self.instanceID = instanceID
        self.followInterval = followInterval
        self.titleWait = titleWait
        self.logger = logger
    }

    /// The reservation of a conversation in the database, for a generation this instance has reserved already; the
    /// turn takes it in the transaction that stores it (`ConversationStore.beginTurn`, `beginRegeneration`).
    func claim(userID: Int64) -> AnswerClaim {
        AnswerClaim(userID: userID, instanceID: instanceID, limit: generations.limits.runningPerUser, at: .now())
    }

    /// Runs `begin`, which stores a turn with `claim` taken: afterwards the generation holds the reservation
    /// (`release` frees it). A refusal is `alreadyGenerating` when an answer runs there on any instance,
    /// `tooManyRunning` when the user has as many running as they may on all instances together.
    func claiming<T>(_ entry: Generations.Entry, _ claim: AnswerClaim, _ begin: () async throws -> T) async throws
        -> T
    {
        let stored: T
        do { stored = try await begin() } catch let refused as AnswerClaimRefused {
            switch refused.reason {
            case .reserved, .busy: throw ChatError.alreadyGenerating
            case .userAtLimit: throw ChatError.tooManyRunning(limit: claim.limit)
            }
        }
        entry.markShared(at: claim.at)
        return stored
    }

    /// Frees the conversation in the database once the answer is saved. If the database is away, the delete is
    /// retried in the background (every 2 s, for up to an hour); meanwhile no other instance can take the row, and
    /// a new turn here takes it over (the late delete then leaves that new reservation alone).
    func release(_ entry: Generations.Entry, conversationID: Int64) async {
        guard let reservedAt = entry.sharedAt else { return }
        await persistently(atOnce: 1) { attempt in await tryRelease(conversationID, reservedAt, attempt: attempt) }
    }

    private func tryRelease(_ conversationID: Int64, _ reservedAt: Millis, attempt: Int) async -> Bool {
        do {
            try await store.releaseAnswer(
                conversationID: conversationID, instanceID: instanceID, reservedAt: reservedAt)
            if attempt > 1 { logger.notice("freed conversation \(conversationID) after the database came back") }
            return true
        } catch {
            if attempt == 1 || attempt % 30 == 0 {
                logger.error("could not free conversation \(conversationID) in the database (will retry): \(error)")
            }
            return false
        }
    }

    /// Stops the answer running in a conversation, on this instance at once, on another through the database
    /// (its owner picks the stop up within one save interval). The partial text is kept.
    public func stop(conversationID: Int64) async throws {
        if generations.stop(conversationID) { return }
        _ = try await store.requestStop(conversationID: conversationID, reason: .user)
    }

    /// Ends every answer and stream of a user who was disabled or deleted, on every instance.
    public func endAll(userID: Int64) async {
        generations.endAll(userID: userID)
        do { try await store.requestStops(userID: userID, reason: .accountClosed) } catch {
            logger.error("could not ask other instances to stop the answers of user \(userID): \(error)")
        }
    }

    /// A listener for the answer running in a conversation: this instance's own, or one another instance writes
    /// (followed from the database); nil when none runs (or its turn is not stored yet).
    func attach(conversationID: Int64, userID: Int64) async throws -> Listener? {
        if generations.isRunning(conversationID) {
            return try generations.attach(conversationID, userID: userID)
        }
        guard let running = try await store.runningAnswer(conversationID: conversationID),
            running.userID == userID, running.instanceID != instanceID
        else { return nil }
        let listener = try generations.openStream(userID: userID)
        let follower = Follower(
            store: store, conversationID: conversationID, userID: userID, interval: followInterval,
            titleWait: titleWait, logger: logger)
        do {
            guard try await follower.start(listener) else {
                listener.close()
                return nil
            }
        } catch {
            listener.close()
            throw error
        }
        return listener
    }
}
