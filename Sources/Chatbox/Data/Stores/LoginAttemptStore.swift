/// One counted login attempt (or sign-up) in a throttle bucket: its row and when it was made.
public struct LoginAttemptRecord: Sendable, Equatable {
    public let id: Int64
    public let bucket: String
    public let attemptedAt: Millis

    public init(id: Int64, bucket: String, attemptedAt: Millis) {
        self.id = id
        self.bucket = bucket
        self.attemptedAt = attemptedAt
    }
}

/// Failed logins and sign-ups counted in the database (`login_attempts`), so that every instance on one database
/// throttles with the same counts. `LoginThrottle` decides; this only records, counts and forgets.
public protocol LoginAttemptStore: Sendable {
    /// Records one attempt at `at` in each bucket (one transaction); the new rows' ids, in the buckets' order.
    func addLoginAttempts(buckets: [String], at: Millis) async throws -> [Int64]
    /// The attempts in these buckets made at or after `since`, oldest first (one query).
    func loginAttempts(buckets: [String], since: Millis) async throws -> [LoginAttemptRecord]
    /// Forgets these attempts (given back); unknown ids are ignored.
    func deleteLoginAttempts(ids: [Int64]) async throws
    /// Forgets every attempt of a bucket.
    func deleteLoginAttempts(bucket: String) async throws
    /// Forgets every attempt made before `before` (they count nowhere any more); how many.
    func deleteLoginAttempts(before: Millis) async throws -> Int
}
