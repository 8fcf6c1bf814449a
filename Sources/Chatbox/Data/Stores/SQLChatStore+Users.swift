import SQLKit

/// Accounts: sign-up (the first one is the admin), credentials, and the admin's changes under the one
/// last-admin guard.
extension SQLChatStore: UserStore {
    static let userColumns = "id, username, role, disabled, created_at"

    public func createUser(username: String, usernameKey: String, passwordHash: String, role: Role) async throws
        -> User
    {
        let now = Millis.now()
        let id = try await mapDuplicate {
            try await insert(
                """
                INSERT INTO users (username, username_key, hashed_password, role, disabled, created_at, updated_at) \
                VALUES (\(bind: username), \(bind: usernameKey), \(bind: passwordHash), \(bind: role.rawValue), 0, \
                \(bind: now), \(bind: now))
                """)
        }
        return User(id: id, username: username, role: role, disabled: false, createdAt: now)
    }

    public func createUserAdminIfFirst(username: String, usernameKey: String, passwordHash: String) async throws
        -> User
    {
        let now = Millis.now()
        return try await mapDuplicate {
            try await withUsersLocked { conn in
                // The role is decided by the INSERT itself, under the users lock (see `withUsersLocked`).
                let id = try await insert(
                    """
                    INSERT INTO users (username, username_key, hashed_password, role, disabled, created_at, updated_at) \
                    SELECT \(bind: username), \(bind: usernameKey), \(bind: passwordHash), \
                    CASE WHEN EXISTS (SELECT 1 FROM users) THEN 'user' ELSE 'admin' END, 0, \(bind: now), \(bind: now)
                    """, on: conn)
                guard let user = try await Self.user(id: id, on: conn) else { throw StoreError.notFound }
                return user
            }
        }
    }

    public func userCredentials(usernameKey: String) async throws -> (user: User, passwordHash: String)? {
        guard
            let row = try await db.raw(
                """
                SELECT \(unsafeRaw: Self.userColumns), hashed_password FROM users WHERE username_key = \(bind: usernameKey)
                """
            ).first()
        else { return nil }
        return (try Self.user(row), try row.decode(column: "hashed_password", as: String.self))
    }

    public func user(id: Int64) async throws -> User? {
        try await Self.user(id: id, on: db)
    }

    /// The user with this id on `conn`; `forUpdate` also locks the row (MySQL only: inside a transaction).
    static func user(id: Int64, on conn: any SQLDatabase, forUpdate: Bool = false) async throws -> User? {
        var query: SQLQueryString = "SELECT \(unsafeRaw: userColumns) FROM users WHERE id = \(bind: id)"
        if forUpdate { query.appendLiteral(" FOR UPDATE") }
        return try await conn.raw(query).first().map(user)
    }

    public func setPasswordHash(userID: Int64, passwordHash: String) async throws {
        try await changeOne(
            """
            UPDATE users SET hashed_password = \(bind: passwordHash), updated_at = \(bind: Millis.now()) \
            WHERE id = \(bind: userID)
            """)
    }

    public func userCount() async throws -> Int {
        try await db.raw("SELECT COUNT(*) AS n FROM users").first()?.decode(column: "n", as: Int.self) ?? 0
    }

    static func user(_ row: any SQLRow) throws -> User {
        User(
            id: try row.decode(column: "id", as: Int64.self),
            username: try row.decode(column: "username", as: String.self),
            role: Role(rawValue: try row.decode(column: "role", as: String.self)) ?? .user,
            disabled: try row.decode(column: "disabled", as: Int.self) != 0,
            createdAt: try row.decode(column: "created_at", as: Int64.self))
    }

    public func users(limit: Int, afterID: Int64?, usernameKey query: String?) async throws -> (
        users: [UserSummary], hasMore: Bool
    ) {
        var sql = SQLQueryString(
            """
            SELECT u.id, u.username, u.role, u.disabled, u.created_at, u.last_active_at, \
            (SELECT COUNT(*) FROM conversations c WHERE c.user_id = u.id) AS conversation_count \
            FROM users u WHERE u.id > \(bind: afterID ?? 0)
            """)
        if let query, !query.isEmpty {
            sql += " AND u.username_key LIKE \(bind: "%" + Self.escapeLike(query) + "%") ESCAPE '!'"
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
            try await conn.raw(
                """
                UPDATE users SET role = \(bind: user.role.rawValue), disabled = \(bind: user.disabled ? 1 : 0), \
                updated_at = \(bind: Millis.now()) WHERE id = \(bind: userID)
                """
            ).run()
            return user
        }
    }

    public func deleteUser(userID: Int64) async throws {
        let indexed = try await searchRowsToDrop(
            where: "conversation_id IN (SELECT id FROM conversations WHERE user_id = \(bind: userID))")
        try await changeUser(userID) { conn, _ in
            // Explicit, so it does not depend on the foreign keys' cascade being switched on.
            try await conn.raw(
                """
                DELETE FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE user_id = \(bind: userID))
                """
            ).run()
            try await conn.raw("DELETE FROM conversations WHERE user_id = \(bind: userID)").run()
            try await conn.raw("DELETE FROM sessions WHERE user_id = \(bind: userID)").run()
            try await conn.raw("DELETE FROM users WHERE id = \(bind: userID)").run()
        }
        await dropSearchRows(indexed)
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
}
