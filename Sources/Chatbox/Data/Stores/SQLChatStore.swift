import Logging
import MariaDBKit
import SQLKit
import SQLiteKit

/// The one implementation of every store protocol (`Stores.swift`): SQLKit queries with binds, the same on SQLite
/// and MySQL. Each aggregate lives in its own extension (`SQLChatStore+Users.swift`, …); this file has the
/// maintenance queries and the helpers they share.
public struct SQLChatStore: MaintenanceStore {
    let db: any TransactionalDatabase
    let flavor: SQLFlavor
    let logger: Logger

    public init(db: any TransactionalDatabase, flavor: SQLFlavor, logger: Logger) {
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

    /// Runs an UPDATE or DELETE and returns how many rows it matched: MariaDBKit's session knows
    /// (`affectedRows`, no second round trip); SQLite is asked on the same connection.
    func changedRows(_ query: SQLQueryString) async throws -> Int {
        try await db.withSession { conn in try await changedRows(query, on: conn) }
    }

    /// `changedRows` on a connection already held (in a transaction).
    func changedRows(_ query: SQLQueryString, on conn: any SQLDatabase) async throws -> Int {
        try await conn.raw(query).run()
        if let session = conn as? MariaDBSession { return Int(session.affectedRows) }
        return try await conn.raw("SELECT changes() AS n").first()?.decode(column: "n", as: Int.self) ?? 0
    }

    /// Runs an UPDATE or DELETE that must match a row (the user's own); `StoreError.notFound` when none.
    func changeOne(_ query: SQLQueryString) async throws {
        if try await changedRows(query) == 0 { throw StoreError.notFound }
    }

    /// Turns a unique-constraint violation from either database into `StoreError.duplicate`.
    func mapDuplicate<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as SQLiteError
            where error.reason == .constraint || error.reason == .constraintUniqueFailed
            || error.reason == .constraintPrimaryKeyFailed
        {
            throw StoreError.duplicate
        } catch let error as MariaDBError where error.isDuplicateKey {
            throw StoreError.duplicate
        }
    }
}

/// Runtime settings.
extension SQLChatStore: SettingsStore {
    public func setting(_ name: String) async throws -> String? {
        try await db.raw("SELECT value FROM settings WHERE name = \(bind: name)").first()?
            .decode(column: "value", as: String.self)
    }

    public func setSetting(_ name: String, value: String) async throws {
        try await db.transaction { conn in
            try await conn.raw("DELETE FROM settings WHERE name = \(bind: name)").run()
            try await conn.raw("INSERT INTO settings (name, value) VALUES (\(bind: name), \(bind: value))").run()
        }
    }
}
