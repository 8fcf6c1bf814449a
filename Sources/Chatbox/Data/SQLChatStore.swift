import Logging
import MariaDBKit
import SQLKit
import SQLiteKit

/// The one `ChatStore`: SQLKit queries with binds, the same on SQLite and MySQL.
public struct SQLChatStore: ChatStore {
    let db: any SQLDatabase
    let flavor: SQLFlavor
    let logger: Logger

    public init(db: any SQLDatabase, flavor: SQLFlavor, logger: Logger) {
        self.db = db
        self.flavor = flavor
        self.logger = logger
    }

    public func migrate() async throws {
        try await Migrations.run(on: db, flavor: flavor, now: .now())
    }

    public func ping() async throws {
        try await db.raw("SELECT 1 AS ok").run()
    }

    // MARK: users

    static let userColumns = "id, username, role, disabled, created_at"

    public func createUser(username: String, usernameKey: String, passwordHash: String, role: Role) async throws
        -> User
    {
        let now = Millis.now()
        let id = try await mapDuplicate {
            try await insert("""
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
                let id = try await insert("""
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
        guard let row = try await db.raw("""
            SELECT \(unsafeRaw: Self.userColumns), hashed_password FROM users WHERE username_key = \(bind: usernameKey)
            """).first()
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
        try await updateOne("""
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

    // MARK: sessions

    public func createSession(userID: Int64, tokenHash: String, expiresAt: Millis) async throws -> Session {
        let now = Millis.now()
        let id = try await insert("""
            INSERT INTO sessions (user_id, token_hash, created_at, last_used_at, expires_at) \
            VALUES (\(bind: userID), \(bind: tokenHash), \(bind: now), \(bind: now), \(bind: expiresAt))
            """)
        try await db.raw("UPDATE users SET last_active_at = \(bind: now) WHERE id = \(bind: userID)").run()
        return Session(id: id, userID: userID, createdAt: now, lastUsedAt: now, expiresAt: expiresAt)
    }

    public func session(tokenHash: String, now: Millis) async throws -> (session: Session, user: User)? {
        guard let row = try await db.raw("""
            SELECT s.id AS session_id, s.created_at AS session_created_at, s.last_used_at, s.expires_at, \
            u.id, u.username, u.role, u.disabled, u.created_at \
            FROM sessions s JOIN users u ON u.id = s.user_id \
            WHERE s.token_hash = \(bind: tokenHash) AND s.expires_at > \(bind: now)
            """).first()
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
        try await db.raw("""
            UPDATE sessions SET last_used_at = \(bind: now), expires_at = \(bind: expiresAt) WHERE id = \(bind: id)
            """).run()
        try await db.raw("""
            UPDATE users SET last_active_at = \(bind: now) WHERE id = (SELECT user_id FROM sessions WHERE id = \(bind: id))
            """).run()
    }

    public func deleteSession(tokenHash: String) async throws {
        try await db.raw("DELETE FROM sessions WHERE token_hash = \(bind: tokenHash)").run()
    }

    public func deleteSessions(userID: Int64, except sessionID: Int64?) async throws {
        try await db.raw("""
            DELETE FROM sessions WHERE user_id = \(bind: userID) AND id <> \(bind: sessionID ?? -1)
            """).run()
    }

    public func deleteExpiredSessions(now: Millis) async throws -> Int {
        try await db.withSession { conn in
            try await conn.raw("DELETE FROM sessions WHERE expires_at <= \(bind: now)").run()
            return try await changedRows(conn)
        }
    }

    // MARK: helpers shared by the extensions

    /// Runs an INSERT and returns the new row's id (on the same connection).
    func insert(_ query: SQLQueryString) async throws -> Int64 {
        try await db.withSession { conn in try await insert(query, on: conn) }
    }

    /// SQLite returns the id with the INSERT (one round trip); MySQL has no RETURNING, so it is asked after.
    func insert(_ query: SQLQueryString, on conn: any SQLDatabase) async throws -> Int64 {
        let row: (any SQLRow)?
        if flavor == .sqlite {
            var returning = query
            returning.appendLiteral(" RETURNING id")
            row = try await conn.raw(returning).first()
        } else {
            try await conn.raw(query).run()
            row = try await conn.raw("SELECT LAST_INSERT_ID() AS id").first()
        }
        guard let row else { throw StoreError.notFound }
        return try row.decode(column: "id", as: Int64.self)
    }

    /// Rows changed by the last statement on this connection.
    func changedRows(_ conn: any SQLDatabase) async throws -> Int {
        let query = flavor == .sqlite ? "SELECT changes() AS n" : "SELECT ROW_COUNT() AS n"
        return try await conn.raw(SQLQueryString(query)).first()?.decode(column: "n", as: Int.self) ?? 0
    }

    /// Runs an UPDATE that must touch exactly one row; `StoreError.notFound` otherwise.
    func updateOne(_ query: SQLQueryString) async throws {
        let changed = try await db.withSession { conn in
            try await conn.raw(query).run()
            return try await changedRows(conn)
        }
        if changed == 0 { throw StoreError.notFound }
    }

    /// Runs `body` in a transaction on one connection: committed when it returns, rolled back when it throws.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let begin: SQLQueryString = flavor == .sqlite ? "BEGIN IMMEDIATE" : "START TRANSACTION"
        let logger = self.logger
        return try await db.withSession { conn in
            try await conn.raw(begin).run()
            do {
                let result = try await body(conn)
                try await conn.raw("COMMIT").run()
                return result
            } catch {
                do { try await conn.raw("ROLLBACK").run() } catch let rollback {
                    logger.error("rollback failed after \(error): \(rollback)")
                }
                throw error
            }
        }
    }

    /// Turns a unique-constraint violation from either database into `StoreError.duplicate`.
    func mapDuplicate<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as SQLiteError where error.reason == .constraint || error.reason == .constraintUniqueFailed {
            throw StoreError.duplicate
        } catch let error as MariaDBError where error.isDuplicateKey {
            throw StoreError.duplicate
        }
    }
}
