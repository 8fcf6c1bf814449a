import SQLKit

/// Queries for user management: the admin's list, accounts, sessions and runtime settings.
extension SQLChatStore {
    public func users(limit: Int, afterID: Int64?, query: String?) async throws -> (users: [UserSummary], hasMore: Bool) {
        var sql = SQLQueryString("""
            SELECT u.id, u.username, u.role, u.disabled, u.created_at, u.last_active_at, \
            (SELECT COUNT(*) FROM conversations c WHERE c.user_id = u.id) AS conversation_count \
            FROM users u WHERE u.id > \(bind: afterID ?? 0)
            """)
        if let query, !query.isEmpty {
            sql += " AND u.username_key LIKE \(bind: "%" + Self.escapeLike(Rules.usernameKey(query)) + "%") ESCAPE '!'"
        }
        sql += " ORDER BY u.id LIMIT \(bind: limit + 1)"
        let rows = try await db.raw(sql).all()
        let users = try rows.prefix(limit).map { row in
            UserSummary(
                user: try Self.user(row), lastActiveAt: try row.decode(column: "last_active_at", as: Int64?.self),
                conversationCount: try row.decode(column: "conversation_count", as: Int.self))
        }
        return (users, rows.count > limit)
    }

    public func adminCount() async throws -> Int {
        try await Self.adminCount(on: db)
    }

    static func adminCount(on conn: any SQLDatabase) async throws -> Int {
        try await conn.raw("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND disabled = 0").first()?
            .decode(column: "n", as: Int.self) ?? 0
    }

    public func updateUser(userID: Int64, role: Role?, disabled: Bool?) async throws -> User {
        try await changeUser(userID) { conn, before in
            var user = before
            user.role = role ?? user.role
            user.disabled = disabled ?? user.disabled
            try await conn.raw("""
                UPDATE users SET role = \(bind: user.role.rawValue), disabled = \(bind: user.disabled ? 1 : 0), \
                updated_at = \(bind: Millis.now()) WHERE id = \(bind: userID)
                """).run()
            return user
        }
    }

    public func deleteUser(userID: Int64) async throws {
        try await changeUser(userID) { conn, _ in
            // Explicit, so it does not depend on the foreign keys' cascade being switched on.
            try await conn.raw("""
                DELETE FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE user_id = \(bind: userID))
                """).run()
            try await conn.raw("DELETE FROM conversations WHERE user_id = \(bind: userID)").run()
            try await conn.raw("DELETE FROM sessions WHERE user_id = \(bind: userID)").run()
            try await conn.raw("DELETE FROM users WHERE id = \(bind: userID)").run()
        }
    }

    /// The one last-admin guard. Runs `change` on a user under the users lock, then, if the user was an enabled
    /// admin, refuses with `StoreError.lastAdmin` (rolled back) when no enabled admin is left. Checked after the
    /// change, in its transaction, so two admins demoting, disabling or deleting each other at once cannot both pass.
    private func changeUser<T: Sendable>(
        _ userID: Int64, _ change: @escaping @Sendable (any SQLDatabase, User) async throws -> T
    ) async throws -> T {
        let flavor = self.flavor
        return try await withUsersLocked { conn in
            guard let before = try await Self.user(id: userID, on: conn, forUpdate: flavor == .mysql) else {
                throw StoreError.notFound
            }
            let result = try await change(conn, before)
            if before.role == .admin, !before.disabled, try await Self.adminCount(on: conn) == 0 {
                throw StoreError.lastAdmin
            }
            return result
        }
    }

    /// Runs `body` in a transaction that no other change of who is admin runs beside: on SQLite the transaction
    /// itself (`BEGIN IMMEDIATE` takes the database's write lock at once), on MySQL the `locks` row `users`
    /// (migration 5), locked FOR UPDATE first, so the reads that follow see every earlier such change committed.
    func withUsersLocked<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws
        -> T
    {
        let flavor = self.flavor
        return try await transaction { conn in
            if flavor == .mysql {
                try await conn.raw("SELECT name FROM locks WHERE name = 'users' FOR UPDATE").run()
            }
            return try await body(conn)
        }
    }

    public func sessions(userID: Int64, now: Millis) async throws -> [Session] {
        try await db.raw("""
            SELECT id, user_id, created_at, last_used_at, expires_at FROM sessions \
            WHERE user_id = \(bind: userID) AND expires_at > \(bind: now) ORDER BY last_used_at DESC, id DESC
            """).all().map { row in
            Session(
                id: try row.decode(column: "id", as: Int64.self), userID: try row.decode(column: "user_id", as: Int64.self),
                createdAt: try row.decode(column: "created_at", as: Int64.self),
                lastUsedAt: try row.decode(column: "last_used_at", as: Int64.self),
                expiresAt: try row.decode(column: "expires_at", as: Int64.self))
        }
    }

    public func deleteSession(id: Int64, userID: Int64) async throws {
        let changed = try await db.withSession { conn in
            try await conn.raw("DELETE FROM sessions WHERE id = \(bind: id) AND user_id = \(bind: userID)").run()
            return try await changedRows(conn)
        }
        if changed == 0 { throw StoreError.notFound }
    }

    public func setting(_ name: String) async throws -> String? {
        try await db.raw("SELECT value FROM settings WHERE name = \(bind: name)").first()?
            .decode(column: "value", as: String.self)
    }

    public func setSetting(_ name: String, value: String) async throws {
        try await transaction { conn in
            try await conn.raw("DELETE FROM settings WHERE name = \(bind: name)").run()
            try await conn.raw("INSERT INTO settings (name, value) VALUES (\(bind: name), \(bind: value))").run()
        }
    }
}
