import Logging
import MariaDBKit
import NIOCore
import NIOPosix
import SQLKit
import SQLiteKit

/// An SQLite file behind one writer connection and a few reader connections (WAL lets readers run beside the
/// writer). Statements that begin with SELECT go to a reader; everything else, and every session (transactions),
/// goes to the writer, one caller at a time, so writers queue in order instead of spinning on SQLITE_BUSY.
final class SQLitePool: AsyncSQLDatabase, TransactionalDatabase, Sendable {
    let logger: Logger
    var eventLoop: any EventLoop { MultiThreadedEventLoopGroup.singleton.any() }
    var dialect: any SQLDialect { SQLiteDialect() }
    var queryLogLevel: Logger.Level? { .trace }

    private let writer: AsyncPool<SQLiteConnection>
    private let readers: AsyncPool<SQLiteConnection>
    private let readerCount: Int
    private let threadPool: NIOThreadPool

    /// Opens (creating if needed) the file at `path` with WAL, foreign keys and a busy timeout on every connection.
    static func open(path: String, readers readerCount: Int = 3, logger: Logger) async throws -> SQLitePool {
        let threadPool = NIOThreadPool(numberOfThreads: readerCount + 1)
        threadPool.start()
        do {
            var connections: [SQLiteConnection] = []
            do {
                let writer = try await openConnection(path: path, threadPool: threadPool, logger: logger)
                connections.append(writer)
                try await writer.sql().raw("PRAGMA journal_mode = WAL").run()
                for _ in 0..<readerCount {
                    connections.append(try await openConnection(path: path, threadPool: threadPool, logger: logger))
                }
            } catch {
                for connection in connections { try? await connection.close() }
                throw error
            }
            return SQLitePool(
                writer: connections[0], readers: Array(connections.dropFirst()), threadPool: threadPool, logger: logger)
        } catch {
            try? await threadPool.shutdownGracefully()
            throw error
        }
    }

    private static func openConnection(path: String, threadPool: NIOThreadPool, logger: Logger) async throws
        -> SQLiteConnection
    {
        // SQLiteKit logs every statement with its values at debug level: API keys, password hashes and message
        // text must not reach the log, whatever level the server runs at.
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .info)
        let connection = try await SQLiteConnection.open(
            storage: .file(path: path), threadPool: threadPool, logger: quiet,
            on: MultiThreadedEventLoopGroup.singleton.any())
        let sql = connection.sql()
        do {
            // NORMAL is durable across application crashes in WAL mode (only an OS crash can lose the last commits).
            for pragma in ["PRAGMA foreign_keys = ON", "PRAGMA busy_timeout = 5000", "PRAGMA synchronous = NORMAL"] {
                try await sql.raw(SQLQueryString(pragma)).run()
            }
        } catch {
            try? await connection.close()
            throw error
        }
        return connection
    }

    private init(writer: SQLiteConnection, readers: [SQLiteConnection], threadPool: NIOThreadPool, logger: Logger) {
        self.writer = AsyncPool([writer])
        self.readers = AsyncPool(readers)
        self.readerCount = readers.count
        self.threadPool = threadPool
        self.logger = logger
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        let (text, _) = serialize(query)
        let isRead = text.prefix(6).uppercased() == "SELECT"
        try await (isRead ? readers : writer).with { connection in
            try await connection.sql().execute(sql: query, onRow)
        }
    }

    func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await writer.with { connection in try await closure(connection.sql()) }
    }

    /// `BEGIN IMMEDIATE` (takes the write lock at once, so the transaction never fails halfway on SQLITE_BUSY)
    /// … `COMMIT`, or `ROLLBACK` and rethrow when `body` throws; on the writer, like every session.
    func transaction<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await writer.with { connection in
            let conn = connection.sql()
            try await conn.raw("BEGIN IMMEDIATE").run()
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

    /// Closes every connection once its current user is done; queries waiting for a connection, and queries
    /// after this, fail with `AsyncPoolClosed` (a cancelled server may still be answering requests). The closing
    /// runs in a task of its own: a cancelled caller (a service group torn down) must not leave a connection open
    /// (SQLiteNIO traps on that in debug).
    func close() async {
        var connections = await readers.close(count: readerCount)
        connections += await writer.close(count: 1)
        let (logger, threadPool) = (self.logger, self.threadPool)
        await Task {
            for connection in connections {
                do { try await connection.close() } catch { logger.error("closing SQLite failed: \(error)") }
            }
            do { try await threadPool.shutdownGracefully() } catch {
                logger.error("stopping SQLite threads: \(error)")
            }
        }.value
    }
}
