import Logging
import MariaDBKit
import NIOCore
import NIOPosix
import SQLKit
import SQLiteKit

/// An SQLite file behind one writer connection and a few reader connections (WAL lets readers run beside the
/// writer). Statements that begin with SELECT go to a reader; everything else, and every session (transactions),
/// goes to the writer, one caller at a time, so writers queue in order instead of spinning on SQLITE_BUSY.
///
/// Each connection lives on a thread of its own (`SQLiteHandle`). A session or a transaction moves the caller's
/// task onto the writer's thread (a task executor preference) for its whole length, so its statements run there
/// one after another without a hop each.
///
/// The WAL is copied back into the database (checkpointed) by a reader every second, not by the commit that
/// happens to fill it: that commit took 2–5 ms instead of ~0.15, on a turn's first-token path (bench/README).
final class SQLitePool: AsyncSQLDatabase, TransactionalDatabase, Sendable {
    let logger: Logger
    var eventLoop: any EventLoop { MultiThreadedEventLoopGroup.singleton.any() }
    var dialect: any SQLDialect { SQLiteDialect() }
    var queryLogLevel: Logger.Level? { .trace }

    private let writer: AsyncPool<SQLiteHandle>
    private let readers: AsyncPool<SQLiteHandle>
    private let readerCount: Int
    /// One thread per connection.
    private let threads: MultiThreadedEventLoopGroup
    /// The background checkpoints (`checkpointEvery`), until `close`.
    private let checkpoints: Task<Void, Never>
    static let checkpointEvery = Duration.seconds(1)
    /// The writer checkpoints by itself only past this many WAL pages (~40 MB), should the background checkpoints
    /// fall behind.
    static let writerCheckpointPages = 10_000

    /// Opens (creating if needed) the file at `path` with WAL, foreign keys and a busy timeout on every connection.
    static func open(path: String, readers readerCount: Int = 3, logger: Logger) async throws -> SQLitePool {
        let threads = MultiThreadedEventLoopGroup(numberOfThreads: readerCount + 1)
        var handles: [SQLiteHandle] = []
        do {
            for loop in threads.makeIterator() {
                let handle = try await SQLiteHandle.open(path: path, on: loop)
                handles.append(handle)
                // WAL first, on the writer, before the readers set their pragmas.
                if handles.count == 1 {
                    try await handle.run("PRAGMA journal_mode = WAL", []) { _ in }
                    try await handle.run("PRAGMA wal_autocheckpoint = \(writerCheckpointPages)", []) { _ in }
                }
                // NORMAL is durable across application crashes in WAL mode (only an OS crash can lose the last
                // commits).
                for pragma in ["PRAGMA foreign_keys = ON", "PRAGMA synchronous = NORMAL"] {
                    try await handle.run(pragma, []) { _ in }
                }
            }
        } catch {
            for handle in handles { try? await handle.close() }
            try? await threads.shutdownGracefully()
            throw error
        }
        return SQLitePool(
            writer: handles[0], readers: Array(handles.dropFirst()), threads: threads, logger: logger)
    }

    private init(writer: SQLiteHandle, readers: [SQLiteHandle], threads: MultiThreadedEventLoopGroup, logger: Logger) {
        self.writer = AsyncPool([writer])
        self.readers = AsyncPool(readers)
        self.readerCount = readers.count
        self.threads = threads
        self.logger = logger
        // Detached: the pool's own task, not the opener's (no executor preference or task-local values of theirs).
        checkpoints = Task.detached { [readers = self.readers] in
            var failures = 0
            while (try? await Task.sleep(for: Self.checkpointEvery)) != nil {
                do {
                    // PASSIVE: copies what no reader still needs, without waiting for anyone or holding up the writer.
                    try await readers.with { try await $0.run("PRAGMA wal_checkpoint(PASSIVE)", []) { _ in } }
                    if failures > 0 {
                        logger.notice("background WAL checkpoints work again after \(failures) failures")
                    }
                    failures = 0
                } catch is AsyncPoolClosed {
                    return
                } catch {
                    // Said once, then once a minute while it lasts (a read-only or full disk fails every second).
                    if failures % 60 == 0 {
                        logger.warning(
                            "a background WAL checkpoint failed (the writer checkpoints past its limit): \(error)")
                    }
                    failures += 1
                }
            }
        }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        let (sql, binds) = try SQLiteHandleDatabase.prepare(query, on: self)
        let isRead = sql.prefix(6).uppercased() == "SELECT"
        try await (isRead ? readers : writer).with { try await $0.run(sql, binds, onRow) }
    }

    func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await onWriter { try await closure($0) }
    }

    /// `BEGIN IMMEDIATE` (takes the write lock at once, so the transaction never fails halfway on SQLITE_BUSY)
    /// … `COMMIT`, or `ROLLBACK` and rethrow when `body` throws; on the writer, like every session.
    func transaction<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await onWriter { conn in
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

    /// Runs `body` with one reader, on the reader's thread: its reads run there one after another, without a hop
    /// each, and beside the writer.
    func reading<T>(_ body: (SQLiteHandleDatabase) async throws -> T) async throws -> T {
        try await on(readers, body)
    }

    /// Runs `body` with the writer, on the writer's thread.
    private func onWriter<T>(_ body: (SQLiteHandleDatabase) async throws -> T) async throws -> T {
        try await on(writer, body)
    }

    /// Runs `body` with a connection of `pool`, on the connection's thread.
    private func on<T>(_ pool: AsyncPool<SQLiteHandle>, _ body: (SQLiteHandleDatabase) async throws -> T)
        async throws -> T
    {
        try await pool.with { handle in
            try await withTaskExecutorPreference(EventLoopExecutor(handle.loop)) {
                try await body(SQLiteHandleDatabase(handle: handle, logger: logger))
            }
        }
    }

    /// Closes every connection once its current user is done; queries waiting for a connection, and queries
    /// after this, fail with `AsyncPoolClosed` (a cancelled server may still be answering requests). The closing
    /// runs in a task of its own: a cancelled caller (a service group torn down) must not leave a connection open.
    func close() async {
        checkpoints.cancel()
        await checkpoints.value
        var handles = await readers.close(count: readerCount)
        handles += await writer.close(count: 1)
        let (logger, threads) = (self.logger, self.threads)
        await Task {
            for handle in handles {
                do { try await handle.close() } catch { logger.error("closing SQLite failed: \(error)") }
            }
            do { try await threads.shutdownGracefully() } catch {
                logger.error("stopping SQLite threads: \(error)")
            }
        }.value
    }
}
