import CMariaDB
import Foundation
import NIOConcurrencyHelpers
import Synchronization

/// `mysql_library_init` is a C macro Swift cannot see; `mysql_server_init` must run once before any thread
/// uses libmariadb (a `static let` is initialised exactly once, thread-safely).
enum MariaDBLibrary {
    static let initialized: Bool = mysql_server_init(0, nil, nil) == 0
}

/// What a statement produced: rows (if it returned a result set) and the counters of an INSERT/UPDATE/DELETE.
struct QueryResult: Sendable {
    var columns: MariaDBColumns = MariaDBColumns([])
    var rows: [[MariaDBValue]] = []
    var affectedRows: UInt64 = 0
    var lastInsertID: UInt64 = 0
}

/// One libmariadb connection (a `MYSQL*` and its cached prepared statements).
///
/// libmariadb connections are not thread-safe. Ownership rules that make the `@unchecked Sendable` sound:
/// the pool leases a connection to one task at a time, and every call into libmariadb goes through
/// `withHandle`, which holds `useLock` for the whole call, so even concurrent queries inside one session
/// run one after the other. All mutable state below is only touched while `useLock` is held.
final class MariaDBConnection: @unchecked Sendable {
    let handle: UnsafeMutablePointer<MYSQL>
    let endpoint: String
    let serialNumber: Int
    private let useLock = NIOLock()
    private let brokenFlag = Atomic<Bool>(false)
    private var closed = false
    /// Prepared statements by SQL text, oldest first in `statementOrder`.
    var statements: [String: UnsafeMutablePointer<MYSQL_STMT>] = [:]
    var statementOrder: [String] = []
    static let maxCachedStatements = 128

    private static let serials = Atomic<Int>(0)

    /// Connects (blocking). `database == nil` connects without a default database.
    static func open(_ config: MariaDBConfiguration, database: String?) throws(MariaDBError) -> MariaDBConnection {
        let endpoint = config.endpoint
        guard MariaDBLibrary.initialized else {
            throw MariaDBError(code: 2000, message: "mysql_library_init failed", endpoint: endpoint)
        }
        guard let h = mysql_init(nil) else {
            throw MariaDBError(code: 2008, message: "out of memory (mysql_init)", endpoint: endpoint)
        }
        _ = mysql_options(h, MYSQL_SET_CHARSET_NAME, "utf8mb4")
        var connectTimeout = UInt32(clamping: config.connectTimeoutSeconds)
        var ioTimeout = UInt32(clamping: config.readWriteTimeoutSeconds)
        _ = mysql_options(h, MYSQL_OPT_CONNECT_TIMEOUT, &connectTimeout)
        _ = mysql_options(h, MYSQL_OPT_READ_TIMEOUT, &ioTimeout)
        _ = mysql_options(h, MYSQL_OPT_WRITE_TIMEOUT, &ioTimeout)
        var off: my_bool = 0  // never reconnect silently: it would drop transaction state
        _ = mysql_options(h, MYSQL_OPT_RECONNECT, &off)
        var noLocalInfile: UInt32 = 0
        _ = mysql_options(h, MYSQL_OPT_LOCAL_INFILE, &noLocalInfile)

        // CLIENT_FOUND_ROWS: UPDATE reports matched rows (as SQLite does), not only changed ones.
        let flags = UInt(CLIENT_FOUND_ROWS)
        let ok = mysql_real_connect(
            h, config.host, config.user, config.password, database, UInt32(config.port), config.socket, flags)
        if ok == nil {
            let error = MariaDBError(
                code: mysql_errno(h), sqlState: String(cString: mysql_sqlstate(h)),
                message: String(cString: mysql_error(h)), endpoint: endpoint)
            mysql_close(h)
            throw error
        }
        // Galera: reads wait until this node has applied what other nodes committed before them (causal reads),
        // so a session or a row written through one node is there when the next request reads it through
        // another. Harmless without Galera; a server that does not know the variable (MySQL) is left as it is.
        // A lock wait gives up before the read timeout would cut the connection: a statement stuck behind another
        // writer then fails as a lock wait timeout (1205), which is retried, not as a lost connection.
        let settings = [
            "SET SESSION wsrep_sync_wait = 1",
            "SET SESSION innodb_lock_wait_timeout = \(config.lockWaitTimeoutSeconds)"
        ]
        for setting in settings where mysql_query(h, setting) != 0 {
            let code = mysql_errno(h)
            guard code == 1193 else {  // 1193: unknown system variable
                let error = MariaDBError(
                    code: code, sqlState: String(cString: mysql_sqlstate(h)),
                    message: String(cString: mysql_error(h)), endpoint: endpoint)
                mysql_close(h)
                throw error
            }
        }
        return MariaDBConnection(handle: h, endpoint: endpoint)
    }

    private init(handle: UnsafeMutablePointer<MYSQL>, endpoint: String) {
        self.handle = handle
        self.endpoint = endpoint
        self.serialNumber = Self.serials.add(1, ordering: .relaxed).newValue
    }

    deinit {
        if !closed { closeNow() }
    }

    /// Runs `body` with exclusive use of the connection. Blocking: call it on the database's thread pool.
    func withHandle<T>(_ body: (MariaDBConnection) throws(MariaDBError) -> T) throws(MariaDBError) -> T {
        useLock.lock()
        defer { useLock.unlock() }
        guard !closed else {
            throw MariaDBError(code: 2006, message: "connection already closed", endpoint: endpoint)
        }
        do throws(MariaDBError) {
            return try body(self)
        } catch {
            if error.isConnectionError { brokenFlag.store(true, ordering: .relaxed) }
            throw error
        }
    }

    /// The connection failed with a connection error and must not be reused.
    var isBroken: Bool { brokenFlag.load(ordering: .relaxed) }

    func markBroken() { brokenFlag.store(true, ordering: .relaxed) }

    /// Closes the statements and the connection (sends COM_QUIT: a short write, no reply awaited).
    func close() {
        useLock.withLock { if !closed { closeNow() } }
    }

    private func closeNow() {
        closed = true
        for stmt in statements.values { mysql_stmt_close(stmt) }
        statements.removeAll()
        statementOrder.removeAll()
        mysql_close(handle)
    }

    /// Cheap liveness check for an idle connection, without a round trip: an idle socket must have nothing
    /// to read. If it is readable, the server closed it (restart, `wait_timeout`, kill) or sent an error.
    var looksAlive: Bool {
        useLock.withLock {
            if closed || isBroken { return false }
            let fd = mysql_get_socket(handle)
            if fd < 0 { return false }
            var pfd = pollfd(fd: Int32(fd), events: Int16(POLLIN), revents: 0)
            let n = poll(&pfd, 1, 0)
            return n == 0
        }
    }

    /// `SERVER_STATUS_IN_TRANS` from the last reply: a transaction is open on this connection.
    /// Call inside `withHandle`.
    var isInTransaction: Bool {
        handle.pointee.server_status & UInt32(SERVER_STATUS_IN_TRANS) != 0
    }

    var serverVersion: String { String(cString: mysql_get_server_info(handle)) }

    func lastError() -> MariaDBError {
        MariaDBError(
            code: mysql_errno(handle), sqlState: String(cString: mysql_sqlstate(handle)),
            message: String(cString: mysql_error(handle)), endpoint: endpoint)
    }

    /// Text protocol, for statements without binds that cannot be prepared, and for transaction control.
    /// Call inside `withHandle`.
    func textQuery(_ sql: String) throws(MariaDBError) -> QueryResult {
        if mysql_real_query(handle, sql, UInt(sql.utf8.count)) != 0 { throw lastError() }
        var result = QueryResult()
        if let res = mysql_store_result(handle) {
            defer { mysql_free_result(res) }
            try readTextRows(res, into: &result)
        } else {
            if mysql_field_count(handle) != 0 { throw lastError() }  // a result set was expected
            result.affectedRows = mysql_affected_rows(handle)
            result.lastInsertID = mysql_insert_id(handle)
        }
        while mysql_more_results(handle) != 0 {  // CALL: drop later results
            let rc = mysql_next_result(handle)
            if rc > 0 { throw lastError() }
            if rc < 0 { break }
            if let more = mysql_store_result(handle) { mysql_free_result(more) }
        }
        return result
    }

    private func readTextRows(_ res: UnsafeMutablePointer<MYSQL_RES>, into result: inout QueryResult)
        throws(MariaDBError)
    {
        let n = Int(mysql_num_fields(res))
        guard let fields = mysql_fetch_fields(res) else { return }
        let kinds = (0..<n).map { ColumnKind(field: fields[$0]) }
        result.columns = MariaDBColumns((0..<n).map { String(cString: fields[$0].name) })
        while let row = mysql_fetch_row(res) {
            guard let lengths = mysql_fetch_lengths(res) else { throw lastError() }
            var values: [MariaDBValue] = []
            values.reserveCapacity(n)
            for i in 0..<n {
                guard let cell = row[i] else {
                    values.append(.null)
                    continue
                }
                let bytes = UnsafeRawBufferPointer(start: cell, count: Int(lengths[i]))
                values.append(kinds[i].fromText(bytes))
            }
            result.rows.append(values)
        }
        if mysql_errno(handle) != 0 { throw lastError() }
    }
}

/// How a result column is read.
enum ColumnKind: Sendable {
    case signed, unsigned, double, text, binary

    init(field: MYSQL_FIELD) {
        switch field.type {
        case MYSQL_TYPE_TINY, MYSQL_TYPE_SHORT, MYSQL_TYPE_LONG, MYSQL_TYPE_LONGLONG, MYSQL_TYPE_INT24, MYSQL_TYPE_YEAR:
            self = field.flags & UInt32(UNSIGNED_FLAG) != 0 ? .unsigned : .signed
        case MYSQL_TYPE_FLOAT, MYSQL_TYPE_DOUBLE:
            self = .double
        case MYSQL_TYPE_BLOB, MYSQL_TYPE_TINY_BLOB, MYSQL_TYPE_MEDIUM_BLOB, MYSQL_TYPE_LONG_BLOB,
            MYSQL_TYPE_STRING, MYSQL_TYPE_VAR_STRING, MYSQL_TYPE_VARCHAR, MYSQL_TYPE_BIT, MYSQL_TYPE_GEOMETRY:
            self = field.charsetnr == 63 ? .binary : .text  // 63 = binary charset (BLOB, VARBINARY)
        default:
            self = .text  // DECIMAL, DATE/TIME, JSON, ... as text
        }
    }

    /// A value of this column as sent by the text protocol.
    func fromText(_ bytes: UnsafeRawBufferPointer) -> MariaDBValue {
        let string = String(decoding: bytes, as: UTF8.self)
        switch self {
        case .signed: return Int64(string).map(MariaDBValue.int) ?? .text(string)
        case .unsigned: return UInt64(string).map(MariaDBValue.uint) ?? .text(string)
        case .double: return Double(string).map(MariaDBValue.double) ?? .text(string)
        case .text: return .text(string)
        case .binary: return .blob([UInt8](bytes))
        }
    }
}
