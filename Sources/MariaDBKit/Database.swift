import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLKit

/// A MySQL/MariaDB server as a SQLKit `SQLDatabase`, over MariaDB Connector/C.
///
/// Each statement leases a pooled connection, runs as a prepared statement on the database's own thread pool
/// (`poolSize` threads; libmariadb calls block), and returns the connection. `withSession` and `transaction`
/// keep one connection for the whole closure. Call `shutdown()` before exit.
///
/// ```swift
/// let db = MariaDBDatabase(configuration: try MariaDBConfiguration(url: url), logger: logger)
/// try await db.createDatabaseIfNeeded()
/// let id = try await db.transaction { tx in
///     try await tx.raw("INSERT INTO chats (title) VALUES (\(bind: title))").run()
///     return try await tx.raw("SELECT LAST_INSERT_ID() AS id").first(decoding: Int64.self, column: "id")
/// }
/// ```
public final class MariaDBDatabase: AsyncSQLDatabase, Sendable {
    public let configuration: MariaDBConfiguration
    public let logger: Logger
    public let queryLogLevel: Logger.Level?
    let pool: ConnectionPool
    let threadPool: NIOThreadPool
    private let eventLoopGroup: any EventLoopGroup

    /// Starts its own thread pool (`poolSize` threads, not NIO's shared singleton pool); connections are
    /// opened lazily, on first use.
    /// - Parameter eventLoopGroup: where SQLKit's future-based API completes its futures (the async API does
    ///   not use it).
    public init(
        configuration: MariaDBConfiguration,
        logger: Logger = Logger(label: "mariadb"),
        queryLogLevel: Logger.Level? = .debug,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.configuration = configuration
        self.logger = logger
        self.queryLogLevel = queryLogLevel
        self.eventLoopGroup = eventLoopGroup
        let threadPool = NIOThreadPool(numberOfThreads: configuration.poolSize)
        threadPool.start()
        self.threadPool = threadPool
        self.pool = ConnectionPool(configuration: configuration, threadPool: threadPool, logger: logger)
    }

    public var eventLoop: any EventLoop { eventLoopGroup.any() }
    public var dialect: any SQLDialect { MySQLDialect() }

    /// Creates the configured database if it does not exist (utf8mb4, utf8mb4_unicode_ci): when connecting to
    /// it fails with "Unknown database" (1049), connects without a default database and runs
    /// `CREATE DATABASE IF NOT EXISTS`. An existing database needs no CREATE privilege; other connection
    /// errors (wrong password, unreachable) are thrown as they are.
    public func createDatabaseIfNeeded() async throws {
        let name = configuration.database.replacingOccurrences(of: "`", with: "``")
        let sql = "CREATE DATABASE IF NOT EXISTS `\(name)` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        let configuration = self.configuration
        let logger = self.logger
        try await onThreadPool {
            do {
                try MariaDBConnection.open(configuration, database: configuration.database).close()
                return
            } catch let error as MariaDBError where error.code == 1049 {  // ER_BAD_DB_ERROR: create it below
                _ = error
                logger.info("MySQL: creating database", metadata: ["database": "\(configuration.database)"])
            }
            let connection = try MariaDBConnection.open(configuration, database: nil)
            defer { connection.close() }
            _ = try connection.withHandle { c throws(MariaDBError) in try c.textQuery(sql) }
        }
    }

    /// The server's version string, e.g. `10.11.19-MariaDB-0+deb12u1`.
    public func serverVersion() async throws -> String {
        try await withConnection { c throws(MariaDBError) in c.serverVersion }
    }

    /// Closes all connections and stops the thread pool. Queries after this fail with `isShutdown`.
    public func shutdown() async {
        await pool.shutdown()
        try? await threadPool.shutdownGracefully()
    }

    // MARK: SQLDatabase

    /// Runs one statement on its own (autocommit) on a pooled connection. A statement that lost to a concurrent
    /// write (deadlock 1213, which is also a Galera certification failure, or lock wait timeout 1205) was rolled
    /// back whole, so it is run again, up to `autocommitConflictRuns` times after a short random pause; then the
    /// error is thrown. (Inside `withSession`/`transaction` nothing is retried: the caller owns the unit.)
    public func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        let (sql, binds) = serialize(query)
        var run = 1
        while true {
            let connection = try await pool.lease()
            let result: QueryResult
            do {
                result = try await self.run(sql, binds, on: connection)
            } catch let error as MariaDBError where error.isWriteConflict && run < Self.autocommitConflictRuns {
                await finish(connection)
                logger.debug(
                    "MySQL: a statement lost to a concurrent write; running it again", metadata: ["error": "\(error)"])
                try await Task.sleep(for: .milliseconds(Int.random(in: (5 << (run - 1))...(20 << (run - 1)))))
                run += 1
                continue
            } catch {
                await finish(connection)
                throw error
            }
            await finish(connection)
            for row in result.rows { onRow(MariaDBRow(columns: result.columns, values: row)) }
            return
        }
    }

    /// How many times a statement run on its own is tried while it loses to concurrent writes.
    public static let autocommitConflictRuns = 4

    /// Runs `closure` with one connection to itself (for `START TRANSACTION` … `COMMIT`, `LAST_INSERT_ID()`,
    /// session variables). A transaction left open when the closure ends is rolled back (and logged).
    public func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await withLeasedSession { session in try await closure(session) }
    }

    /// Runs `body` in a transaction on one connection: `START TRANSACTION`, then `COMMIT` when `body` returns
    /// or `ROLLBACK` when it throws (the error is rethrown). A failed COMMIT throws.
    public func transaction<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await withLeasedSession { session in try await session.transaction(body) }
    }

    /// Leases a connection as a session for `body`, then ends the session and gives the connection back.
    private func withLeasedSession<T>(_ body: (MariaDBSession) async throws -> T) async throws -> T {
        let connection = try await pool.lease()
        let session = MariaDBSession(database: self, connection: connection)
        do {
            let result = try await body(session)
            session.end()
            await finish(connection)
            return result
        } catch {
            session.end()
            await finish(connection)
            throw error
        }
    }

    // MARK: internals

    /// Runs a blocking closure on this database's thread pool.
    func onThreadPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await threadPool.runIfActive(body)
        } catch is NIOThreadPoolError.ThreadPoolInactive {
            throw MariaDBError(
                code: 0, message: "the database connection pool is shut down", endpoint: configuration.endpoint,
                reason: .shutdown)
        }
    }

    /// Leases a connection for one blocking call.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (MariaDBConnection) throws(MariaDBError) -> T)
        async throws -> T
    {
        let connection = try await pool.lease()
        do {
            let value = try await onThreadPool { try connection.withHandle(body) }
            await finish(connection)
            return value
        } catch {
            await finish(connection)
            throw error
        }
    }

    /// Converts the binds, logs, and runs one statement on `connection`.
    func run(_ sql: String, _ binds: [any Encodable & Sendable], on connection: MariaDBConnection) async throws
        -> QueryResult
    {
        var params: [MariaDBValue] = []
        params.reserveCapacity(binds.count)
        for bind in binds {
            do {
                params.append(try MariaDBValue(bind: bind))
            } catch {
                throw MariaDBError.usage(error.message, endpoint: configuration.endpoint)
            }
        }
        if let level = queryLogLevel {
            logger.log(level: level, "\(sql)", metadata: ["binds": "\(params.count)"])  // values may be secrets
        }
        let values = params
        return try await onThreadPool {
            try connection.withHandle { c throws(MariaDBError) in try c.execute(sql, values) }
        }
    }

    /// Back to the pool, after rolling back a transaction someone left open.
    func finish(_ connection: MariaDBConnection) async {
        if !connection.isBroken, (try? connection.withHandle { c throws(MariaDBError) in c.isInTransaction }) == true {
            logger.warning("MySQL: a transaction was left open on a pooled connection; rolling it back")
            do {
                _ = try await onThreadPool {
                    try connection.withHandle { c throws(MariaDBError) in try c.textQuery("ROLLBACK") }
                }
            } catch {
                connection.markBroken()
            }
        }
        pool.release(connection)
    }
}
