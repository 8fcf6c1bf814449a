import SQLKit

/// Throttle counts in `login_attempts` (migration 8), shared by every instance on the database.
extension SQLChatStore: LoginAttemptStore {
    public func addLoginAttempts(buckets: [String], at: Millis) async throws -> [Int64] {
        try await transaction { conn in
            var ids: [Int64] = []
            for bucket in buckets {
                ids.append(
                    try await insert(
                        "INSERT INTO login_attempts (bucket, attempted_at) VALUES (\(bind: bucket), \(bind: at))",
                        on: conn))
            }
            return ids
        }
    }

    /// Each bucket's rows come from the (bucket, attempted_at) index; a bucket holds at most its limit plus the
    /// attempts racing for its last places, so the answer stays small.
    public func loginAttempts(buckets: [String], since: Millis) async throws -> [LoginAttemptRecord] {
        guard !buckets.isEmpty else { return [] }
        return try await db.raw(
            """
            SELECT id, bucket, attempted_at FROM login_attempts \
            WHERE bucket IN (\(binds: buckets)) AND attempted_at >= \(bind: since) ORDER BY attempted_at, id
            """
        ).all().map { row in
            LoginAttemptRecord(
                id: try row.decode(column: "id", as: Int64.self),
                bucket: try row.decode(column: "bucket", as: String.self),
                attemptedAt: try row.decode(column: "attempted_at", as: Int64.self))
        }
    }

    public func deleteLoginAttempts(ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        try await db.raw("DELETE FROM login_attempts WHERE id IN (\(binds: ids))").run()
    }

    public func deleteLoginAttempts(bucket: String) async throws {
        try await db.raw("DELETE FROM login_attempts WHERE bucket = \(bind: bucket)").run()
    }

    public func deleteLoginAttempts(before: Millis) async throws -> Int {
        try await changedRows("DELETE FROM login_attempts WHERE attempted_at < \(bind: before)")
    }
}
