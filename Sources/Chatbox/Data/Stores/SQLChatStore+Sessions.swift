import SQLKit

/// Sessions, stored under the hash of their token.
extension SQLChatStore: SessionStore {
    public func createSession(userID: Int64, tokenHash: String, expiresAt: Millis) async throws -> Session {
        let now = Millis.now()
        let id = try await insert(
            """
            INSERT INTO sessions (user_id, token_hash, created_at, last_used_at, expires_at) \
            VALUES (\(bind: userID), \(bind: tokenHash), \(bind: now), \(bind: now), \(bind: expiresAt))
            """)
        try await db.raw("UPDATE users SET last_active_at = \(bind: now) WHERE id = \(bind: userID)").run()
        return Session(id: id, userID: userID, createdAt: now, lastUsedAt: now, expiresAt: expiresAt)
    }

    public func session(tokenHash: String, now: Millis) async throws -> (session: Session, user: User)? {
        guard
            let row = try await db.raw(
                """
                SELECT s.id AS session_id, s.created_at AS session_created_at, s.last_used_at, s.expires_at, \
                u.id, u.username, u.role, u.disabled, u.created_at \
                FROM sessions s JOIN users u ON u.id = s.user_id \
                WHERE s.token_hash = \(bind: tokenHash) AND s.expires_at > \(bind: now)
                """
            ).first()
        else { return nil }
        let user = try Self.user(row)
        let session = Session(
            id: try row.decode(column: "session_id", as: Int64.self), userID: user.id,
            createdAt: try row.decode(column: "session_created_at", as: Int64.self),
            lastUsedAt: try row.decode(column: "last_used_at", as: Int64.self),
            expiresAt: try row.decode(column: "expires_at", as: Int64.self))
        return (session, user)
    }

    public func touchSession(id: Int64, now: Millis, expiresAt: Millis) async throws {
        try await db.raw(
            """
            UPDATE sessions SET last_used_at = \(bind: now), expires_at = \(bind: expiresAt) WHERE id = \(bind: id)
            """
        ).run()
        try await db.raw(
            """
            UPDATE users SET last_active_at = \(bind: now) WHERE id = (SELECT user_id FROM sessions WHERE id = \(bind: id))
            """
        ).run()
    }

    public func deleteSession(tokenHash: String) async throws {
        try await db.raw("DELETE FROM sessions WHERE token_hash = \(bind: tokenHash)").run()
    }

    public func deleteSessions(userID: Int64, except sessionID: Int64?) async throws {
        try await db.raw(
            """
            DELETE FROM sessions WHERE user_id = \(bind: userID) AND id <> \(bind: sessionID ?? -1)
            """
        ).run()
    }

    public func deleteExpiredSessions(now: Millis) async throws -> Int {
        try await changedRows("DELETE FROM sessions WHERE expires_at <= \(bind: now)")
    }

    public func sessions(userID: Int64, now: Millis) async throws -> [Session] {
        try await db.raw(
            """
            SELECT id, user_id, created_at, last_used_at, expires_at FROM sessions \
            WHERE user_id = \(bind: userID) AND expires_at > \(bind: now) ORDER BY last_used_at DESC, id DESC
            """
        ).all().map { row in
            Session(
                id: try row.decode(column: "id", as: Int64.self),
                userID: try row.decode(column: "user_id", as: Int64.self),
                createdAt: try row.decode(column: "created_at", as: Int64.self),
                lastUsedAt: try row.decode(column: "last_used_at", as: Int64.self),
                expiresAt: try row.decode(column: "expires_at", as: Int64.self))
        }
    }

    public func deleteSession(id: Int64, userID: Int64) async throws {
        try await changeOne("DELETE FROM sessions WHERE id = \(bind: id) AND user_id = \(bind: userID)")
    }
}
