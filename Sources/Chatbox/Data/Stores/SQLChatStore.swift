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
    /// The full-text index searches use (`SQLChatStore+SearchIndex.swift`), known once `migrate()` has run.
    let searchIndex: SearchIndexState

    /// `searchIndex` forces one MySQL search index instead of the best the server offers (tests, benchmarks).
    public init(
        db: any TransactionalDatabase, flavor: SQLFlavor, logger: Logger, searchIndex: SearchIndexKind? = nil
    ) {
        self.db = db
        self.flavor = flavor
        self.logger = logger
        self.searchIndex = SearchIndexState(flavor: flavor, forced: searchIndex)
    }

    public func migrate() async throws {
        try await Migrations.run(on: db, flavor: flavor, now: .now())
        try await prepareSearchIndex()
    }

    public func ping() async throws {
        try await db.raw("SELECT 1 AS ok").run()
    }

    // MARK: helpers shared by the extensions

    /// Runs an INSERT and returns the new row's id (on the same connection).
    func insert(_ query: SQLQueryString) async throws -> Int64 {
        try await db.withSession { conn in try await insert(query, on: conn) }
    }

    /// SQLite returns the id with the INSERT (RETURNING); MySQL returns it in the INSERT's OK packet, which
    /// MariaDBKit's session keeps (`insertID`): no `SELECT LAST_INSERT_ID()` round trip, nothing assumed of the
    /// server's session state (a proxy or a Galera node in between sees one statement).
    func insert(_ query: SQLQueryString, on conn: any SQLDatabase) async throws -> Int64 {
        if flavor == .sqlite {
            var returning = query
            returning.appendLiteral(" RETURNING id")
            guard let row = try await conn.raw(returning).first() else { throw StoreError.notFound }
            return try row.decode(column: "id", as: Int64.self)
        }
        try await conn.raw(query).run()
        return try Self.insertedID(conn)
    }

    /// The id the last INSERT on this MariaDB session generated (for a multi-row INSERT, its first row's).
    static func insertedID(_ conn: any SQLDatabase) throws -> Int64 {
        guard let session = conn as? MariaDBSession, session.insertID != 0, session.insertID <= UInt64(Int64.max)
        else { throw StoreError.notFound }
        return Int64(session.insertID)
    }

    /// Runs `body` (idempotent steps, such as the start-up's migration and recovery) again when it loses to a
    /// concurrent write: instances starting together on a Galera cluster conflict at COMMIT (1213), or with
    /// another node's schema change. Up to 10 runs, a growing random pause between them; then the error.
    public func retryingWriteConflicts<T>(_ body: () async throws -> T) async throws -> T {
        try await retrying(runs: 10, pause: { 50 * $0...200 * $0 }, body)
    }

    /// Runs `body` in a transaction; one that lost to a concurrent write (MariaDB deadlock 1213, which is also how
    /// a Galera node reports a write certified first on another node, or lock wait timeout 1205) is rolled back
    /// and run again, up to `conflictAttempts` times in all after a short random pause, then given up as
    /// `StoreError.conflict`. `body` may therefore run more than once: it must only touch the database (through
    /// `conn`) and values it returns.
    func transaction<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        do {
            return try await retrying(runs: Self.conflictAttempts, pause: Self.conflictPause) {
                try await db.transaction(body)
            }
        } catch let error as MariaDBError where error.isWriteConflict {
            logger.warning(
                "a transaction kept losing to concurrent writes; giving up",
                metadata: ["attempts": "\(Self.conflictAttempts)", "error": "\(error)"])
            throw StoreError.conflict
        }
    }

    /// Runs `body` up to `runs` times while it fails with a write conflict (MariaDB 1213 or 1205, or a transaction
    /// given up as `StoreError.conflict`), pausing a random number of milliseconds from `pause(run)` after each;
    /// the last failure is thrown as it is.
    private func retrying<T>(runs: Int, pause: (Int) -> ClosedRange<Int>, _ body: () async throws -> T)
        async throws -> T
    {
        var run = 1
        while true {
            do {
                return try await body()
            } catch let error where run < runs && Self.isWriteConflict(error) {
                logger.debug("lost to a concurrent write; trying again", metadata: ["error": "\(error)"])
                try await Task.sleep(for: .milliseconds(Int.random(in: pause(run))))
                run += 1
            }
        }
    }

    private static func isWriteConflict(_ error: any Error) -> Bool {
        if let error = error as? MariaDBError { return error.isWriteConflict }
        return (error as? StoreError) == .conflict
    }

    /// How many times a transaction runs before a write conflict is given up as `StoreError.conflict`.
    static let conflictAttempts = 4

    /// 5–20 ms, then 10–40, 20–80: spreads the retries of writes that collided.
    private static func conflictPause(_ run: Int) -> ClosedRange<Int> { (5 << (run - 1))...(20 << (run - 1)) }

    /// Runs an UPDATE or DELETE and returns how many rows it matched: MariaDBKit's session knows
    /// (`affectedRows`, no second round trip); SQLite is asked on the same connection.
    /// The statement runs on its own (autocommit), so one that lost to a concurrent write (MariaDB 1213/1205:
    /// e.g. a title saved while the next turn inserts into the same conversation) was rolled back whole and is
    /// run again, like a transaction.
    func changedRows(_ query: SQLQueryString) async throws -> Int {
        try await retrying(runs: Self.conflictAttempts, pause: Self.conflictPause) {
            try await db.withSession { conn in try await changedRows(query, on: conn) }
        }
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
        } catch let error as SQLiteFailure where error.isConstraint {
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
        try await transaction { conn in
            try await conn.raw("DELETE FROM settings WHERE name = \(bind: name)").run()
            try await conn.raw("INSERT INTO settings (name, value) VALUES (\(bind: name), \(bind: value))").run()
        }
    }
}
