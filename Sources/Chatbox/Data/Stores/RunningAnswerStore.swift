/// Several instances on one database: each instance's lease, and the answers running on any of them (one per
/// conversation) with the stops asked for them. The database is where the instances meet; no instance trusts
/// another's memory.
public protocol RunningAnswerStore: Sendable {
    /// Starts this instance's lease. A lease of the same id left by an earlier run is ended first, its answers
    /// failed with `error` (text kept); returns how many answers that failed.
    func startLease(instanceID: String, now: Millis, error: String) async throws -> Int
    /// Renews the lease; false when it is gone: another instance presumed this one dead and failed its answers.
    func renewLease(instanceID: String, now: Millis) async throws -> Bool
    /// Ends the lease (a clean shutdown, after its answers have ended).
    func endLease(instanceID: String) async throws
    /// The instances whose lease was last renewed before `before`.
    func expiredLeases(before: Millis) async throws -> [String]
    /// If the lease of `instanceID` is still older than `before`, in one transaction: ends it, fails its answers
    /// with `error` (text kept) and frees their conversations. Returns how many answers failed; nil when the lease
    /// was renewed or reaped meanwhile.
    func reap(instanceID: String, before: Millis, error: String, now: Millis) async throws -> Int?
    /// Fails the `processing` answers of conversations no instance holds (left by a crash before leases existed,
    /// or by a final save that failed); returns how many. (Safe beside running turns: a turn reserves its
    /// conversation in the transaction that stores its answer.)
    func failOrphanedAnswers(error: String, now: Millis) async throws -> Int
    /// Frees the reservation `instanceID` made at `reservedAt` (nothing when the conversation has been reserved
    /// again since, here or on another instance).
    func releaseAnswer(conversationID: Int64, instanceID: String, reservedAt: Millis) async throws
    /// The answer running in a conversation, on any instance.
    func runningAnswer(conversationID: Int64) async throws -> RunningAnswer?
    /// Asks the owner of the answer running in a conversation to stop it; false when none runs.
    func requestStop(conversationID: Int64, reason: AnswerStopRequest) async throws -> Bool
    /// Asks the owners of every answer of a user to stop them.
    func requestStops(userID: Int64, reason: AnswerStopRequest) async throws
    /// The answers `instanceID` holds, with the stops asked for them.
    func heldAnswers(instanceID: String) async throws -> [RunningAnswer]
    /// The answer of a conversation still being written (status `processing`), as last saved.
    func answerInProgress(conversationID: Int64) async throws -> Message?
    /// A message of a conversation, as last saved.
    func message(id: Int64, conversationID: Int64) async throws -> Message?
}

/// An answer running on some instance.
public struct RunningAnswer: Sendable, Equatable {
    public let conversationID: Int64
    public let userID: Int64
    public let instanceID: String
    /// A stop someone asked for, not yet carried out.
    public let stopRequest: AnswerStopRequest?
}

/// Why another instance asked for an answer to stop.
public enum AnswerStopRequest: String, Sendable, Equatable {
    /// Its user pressed stop.
    case user
    /// Its user was disabled or deleted.
    case accountClosed = "account_closed"
}

/// The reservation a turn takes in the same transaction as its messages (`ConversationStore.beginTurn`,
/// `beginRegeneration`): the conversation, for an answer of `userID` written by `instanceID`, as of `at` (the
/// reservation's token). Refused as `.busy` when an answer runs there already on another instance, as
/// `.userAtLimit` when the user would have more than `limit` running. A row `instanceID` itself still holds there is
/// taken over: the caller has checked that no answer runs there on this instance, so its release is only late (the
/// database was away).
public struct AnswerClaim: Sendable, Equatable {
    public let userID: Int64
    public let instanceID: String
    /// How many answers the user may have running on all instances together.
    public let limit: Int
    public let at: Millis

    public init(userID: Int64, instanceID: String, limit: Int, at: Millis) {
        (self.userID, self.instanceID, self.limit, self.at) = (userID, instanceID, limit, at)
    }
}

/// A turn's reservation was refused (`.busy` or `.userAtLimit`): nothing of the turn is stored.
public struct AnswerClaimRefused: Error, Equatable {
    public let reason: AnswerReservation

    public init(reason: AnswerReservation) { self.reason = reason }
}

/// How a reservation went.
public enum AnswerReservation: Sendable, Equatable {
    case reserved
    /// An answer runs in the conversation already.
    case busy
    /// The user has as many answers running as they may.
    case userAtLimit
}
