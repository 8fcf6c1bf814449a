import NIOCore
import SQLiteNIO
import VaporCSQLite

/// One `sqlite3` connection, used only on its own thread: the event loop it was opened for. Statements run there
/// synchronously, one after another, from prepared statements kept per SQL text.
///
/// Why not SQLiteNIO's connection: it sends every statement to a thread pool and every row back to an event loop
/// as a future of its own, then resumes the caller on yet another thread: three thread wake-ups per statement, about
/// 0.1 ms each on this machine. A turn's start is a dozen statements, and every write waits for the single writer,
/// so at 100 turns starting at once the last one waited for all the others' hops (bench/README, "Issue 17, third
/// round"). Here a caller moves to the connection's thread once, for a statement or a whole transaction.
final class SQLiteHandle: @unchecked Sendable {
    // @unchecked: `raw` and `statements` are touched only on `loop`'s thread (checked in debug builds).
    let loop: any EventLoop
    private var raw: OpaquePointer?
    /// Prepared statements by SQL text, reused (reset) after each run; cleared when it grows past `cacheLimit`. The
    /// columns are read at preparation: every statement names its columns, so a schema change (which SQLite
    /// answers by preparing the statement again) does not change them.
    private var statements: [String: Prepared] = [:]
    private typealias Prepared = (statement: OpaquePointer, columns: SQLiteValues.Columns)
    private static let cacheLimit = 128

    private init(raw: OpaquePointer, loop: any EventLoop) {
        self.raw = raw
        self.loop = loop
    }

    /// Opens (creating) the file at `path` on `loop`'s thread, with extended result codes and a 5 s busy timeout.
    static func open(path: String, on loop: any EventLoop) async throws -> SQLiteHandle {
        try await loop.submit {
            var raw: OpaquePointer?
            let flags = SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
            let status = sqlite_nio_sqlite3_open_v2(path, &raw, flags, nil)
            guard status == SQLITE_OK, let raw else {
                let message = raw.flatMap { sqlite_nio_sqlite3_errmsg($0) }.map { String(cString: $0) }
                if let raw { sqlite_nio_sqlite3_close(raw) }
                throw SQLiteFailure(code: status, message: message ?? "cannot open \(path)")
            }
            sqlite_nio_sqlite3_busy_timeout(raw, 5000)
            return SQLiteHandle(raw: raw, loop: loop)
        }.get()
    }

    /// Runs one statement with its binds, handing each row to `onRow`; on this connection's thread only.
    func runHere(_ sql: String, _ binds: [SQLiteData], _ onRow: (SQLiteValues) throws -> Void) throws {
        try stepHere(sql, binds) { row in
            try onRow(try row.values())
            return true
        }
    }

    /// Runs one statement with its binds, handing `onRow` each row, whose columns are read only when asked for,
    /// until it returns false (the rows after are not read); on this connection's thread only.
    func stepHere(_ sql: String, _ binds: [SQLiteData], _ onRow: (SQLiteCursor) throws -> Bool) throws {
        loop.preconditionInEventLoop()
        guard let raw else { throw SQLiteFailure(code: SQLITE_MISUSE, message: "the connection is closed") }
        let (statement, columns) = try prepared(sql, raw)
        defer {
            sqlite_nio_sqlite3_reset(statement)
            // Not `sqlite3_clear_bindings`: it expires every statement whose plan looked at a bound value (an
            // equality the planner estimates with, a LIMIT), and SQLite then parses and plans it again on its next
            // run, which was 16 % of a turn's history read (perf, bench/README "tenth round"). Every run binds all
            // of its parameters anyway; only texts and blobs are let go, so that a cached statement does not keep
            // a long message alive.
            for (index, value) in binds.enumerated() {
                switch value {
                case .text, .blob: sqlite_nio_sqlite3_bind_null(statement, Int32(index + 1))
                default: break
                }
            }
        }
        for (index, value) in binds.enumerated() {
            try check(bind(value, at: Int32(index + 1), in: statement), raw)
        }
        while true {
            let status = sqlite_nio_sqlite3_step(statement)
            if status == SQLITE_DONE { return }
            guard status == SQLITE_ROW else { throw failure(status, raw) }
            guard try onRow(SQLiteCursor(statement: statement, columns: columns)) else { return }
        }
    }

    /// How many times SQLite has prepared the cached statement of `sql` again since it was first prepared (its
    /// `SQLITE_STMTSTATUS_REPREPARE`); nil when `sql` is not cached. On this connection's thread only.
    func timesPreparedAgain(_ sql: String) -> Int32? {
        loop.preconditionInEventLoop()
        return statements[sql].map { sqlite_nio_sqlite3_stmt_status($0.statement, SQLITE_STMTSTATUS_REPREPARE, 0) }
    }

    /// Runs `body` on this connection's thread and returns its result.
    func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        if loop.inEventLoop { return try body() }
        return try await loop.submit(body).get()
    }

    /// Finalizes every statement and closes the connection (on its thread).
    func close() async throws {
        try await onThread { [self] in
            for (statement, _) in statements.values { sqlite_nio_sqlite3_finalize(statement) }
            statements = [:]
            if let raw { sqlite_nio_sqlite3_close(raw) }
            raw = nil
        }
    }

    /// The statement prepared once, with its columns (read once too: their names are a dozen strings and a
    /// dictionary per statement otherwise).
    private func prepared(_ sql: String, _ raw: OpaquePointer) throws -> Prepared {
        if let prepared = statements[sql] { return prepared }
        if statements.count >= Self.cacheLimit {
            for (statement, _) in statements.values { sqlite_nio_sqlite3_finalize(statement) }
            statements = [:]
        }
        var statement: OpaquePointer?
        let status = sqlite_nio_sqlite3_prepare_v3(raw, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK else { throw failure(status, raw) }
        // An empty statement (only a comment or whitespace) prepares to nothing.
        guard let statement else { throw SQLiteFailure(code: SQLITE_MISUSE, message: "empty SQL statement") }
        let prepared = (statement, Self.columns(of: statement))
        statements[sql] = prepared
        return prepared
    }

    private func bind(_ value: SQLiteData, at index: Int32, in statement: OpaquePointer) -> Int32 {
        switch value {
        case .integer(let value): return sqlite_nio_sqlite3_bind_int64(statement, index, Int64(value))
        case .float(let value): return sqlite_nio_sqlite3_bind_double(statement, index, value)
        case .null: return sqlite_nio_sqlite3_bind_null(statement, index)
        case .text(let value):
            return sqlite_nio_sqlite3_bind_text64(
                statement, index, value, UInt64(value.utf8.count), Self.transient, UInt8(SQLITE_UTF8))
        case .blob(let value):
            return value.withUnsafeReadableBytes { bytes in
                sqlite_nio_sqlite3_bind_blob64(statement, index, bytes.baseAddress, UInt64(bytes.count), Self.transient)
            }
        }
    }

    private static func columns(of statement: OpaquePointer) -> SQLiteValues.Columns {
        let count = Int(sqlite_nio_sqlite3_column_count(statement))
        var names: [String] = []
        names.reserveCapacity(count)
        for index in 0..<count {
            names.append(sqlite_nio_sqlite3_column_name(statement, Int32(index)).map { String(cString: $0) } ?? "")
        }
        return SQLiteValues.Columns(names)
    }

    fileprivate static func values(of statement: OpaquePointer, count: Int) throws -> [SQLiteData] {
        var values: [SQLiteData] = []
        values.reserveCapacity(count)
        for index in 0..<Int32(count) {
            switch sqlite_nio_sqlite3_column_type(statement, index) {
            case SQLITE_INTEGER: values.append(.integer(Int(sqlite_nio_sqlite3_column_int64(statement, index))))
            case SQLITE_FLOAT: values.append(.float(sqlite_nio_sqlite3_column_double(statement, index)))
            case SQLITE_TEXT:
                let bytes = sqlite_nio_sqlite3_column_text(statement, index)
                let length = Int(sqlite_nio_sqlite3_column_bytes(statement, index))
                values.append(
                    .text(
                        bytes.map { String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self) }
                            ?? ""))
            case SQLITE_BLOB:
                let length = Int(sqlite_nio_sqlite3_column_bytes(statement, index))
                var buffer = ByteBufferAllocator().buffer(capacity: length)
                if let bytes = sqlite_nio_sqlite3_column_blob(statement, index) {
                    buffer.writeBytes(UnsafeRawBufferPointer(start: bytes, count: length))
                }
                values.append(.blob(buffer))
            default: values.append(.null)
            }
        }
        return values
    }

    private func check(_ status: Int32, _ raw: OpaquePointer) throws {
        guard status == SQLITE_OK else { throw failure(status, raw) }
    }

    private func failure(_ status: Int32, _ raw: OpaquePointer) -> SQLiteFailure {
        SQLiteFailure(code: status, message: String(cString: sqlite_nio_sqlite3_errmsg(raw)))
    }

    /// SQLite copies the bound text or blob before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

/// The row a statement of `SQLiteHandle.stepHere` stands on; only good inside its `onRow`.
struct SQLiteCursor {
    fileprivate let statement: OpaquePointer
    let columns: SQLiteValues.Columns

    /// The integer in `column` (counted from 0), read alone; nil when it holds anything else.
    func integer(_ column: Int) -> Int64? {
        guard column >= 0, column < columns.count,
            sqlite_nio_sqlite3_column_type(statement, Int32(column)) == SQLITE_INTEGER
        else { return nil }
        return sqlite_nio_sqlite3_column_int64(statement, Int32(column))
    }

    /// Every column of the row.
    func values() throws -> SQLiteValues {
        SQLiteValues(columns: columns, values: try SQLiteHandle.values(of: statement, count: columns.count))
    }
}

/// One row: its values by column, the names shared by every row of the statement.
struct SQLiteValues: Sendable {
    /// Column names and where each is (the first of equal names wins, as in SQLiteNIO).
    final class Columns: Sendable {
        let names: [String]
        let index: [String: Int]
        var count: Int { names.count }
        init(_ names: [String]) {
            self.names = names
            self.index = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        }
    }
    let columns: Columns
    let values: [SQLiteData]

    func value(_ column: String) -> SQLiteData? { columns.index[column].map { values[$0] } }
}

/// A statement SQLite refused: its (extended) result code and message.
struct SQLiteFailure: Error, CustomStringConvertible {
    let code: Int32
    let message: String
    /// The primary result code (the extended code's low byte).
    var primary: Int32 { code & 0xFF }
    var description: String { "SQLite error \(code): \(message)" }

    /// A UNIQUE, PRIMARY KEY or other constraint was violated.
    var isConstraint: Bool { primary == SQLITE_CONSTRAINT }
    /// Another connection holds the lock (after the busy timeout).
    var isBusy: Bool { primary == SQLITE_BUSY || primary == SQLITE_LOCKED }
    /// The file cannot be written: read-only, full, an I/O error, or it cannot be opened.
    var isUnwritable: Bool {
        [SQLITE_READONLY, SQLITE_FULL, SQLITE_IOERR, SQLITE_CANTOPEN].contains(primary)
    }
}
