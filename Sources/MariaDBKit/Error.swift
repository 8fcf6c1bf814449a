import Foundation

/// An error from the server, from libmariadb, or from this adapter (pool timeout, shut down, bad bind).
///
/// `description` is one line naming the server, e.g.
/// `MySQL at 127.0.0.1:3306: Access denied for user 'root'@'127.0.0.1' (using password: YES)` or
/// `MySQL at 127.0.0.1:3306 is unreachable (Can't connect to server on '127.0.0.1' (111))`.
/// It never contains the password.
public struct MariaDBError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Server or client error number (`ER_*` 1000–1999 and 3000+, `CR_*` 2000–2999); 0 for adapter errors.
    public let code: UInt32
    /// SQLSTATE, e.g. `23000` for a duplicate key; `HY000` when unknown.
    public let sqlState: String
    /// The message as given by the server or client library.
    public let message: String
    /// `host:port` (or socket path) of the server.
    public let endpoint: String
    let reason: Reason

    enum Reason: Sendable, Equatable { case database, poolTimeout, shutdown, usage }

    init(code: UInt32, sqlState: String = "HY000", message: String, endpoint: String, reason: Reason = .database) {
        self.code = code
        self.sqlState = sqlState.isEmpty ? "HY000" : sqlState
        self.message = message
        self.endpoint = endpoint
        self.reason = reason
    }

    static func usage(_ message: String, endpoint: String) -> MariaDBError {
        MariaDBError(code: 0, message: message, endpoint: endpoint, reason: .usage)
    }

    /// `ER_DUP_ENTRY` (1062) or `ER_DUP_ENTRY_WITH_KEY_NAME` (1586): a UNIQUE or PRIMARY KEY was violated.
    public var isDuplicateKey: Bool { code == 1062 || code == 1586 }

    /// `ER_LOCK_DEADLOCK` (1213): the transaction was chosen as a deadlock victim, or, on a Galera cluster, lost
    /// certification to a conflicting write committed on another node. It was rolled back; running it again is
    /// the remedy.
    public var isDeadlock: Bool { code == 1213 }

    /// `ER_LOCK_WAIT_TIMEOUT` (1205): a row lock was not granted within `innodb_lock_wait_timeout`. Only the
    /// statement was rolled back (the transaction is still open unless `innodb_rollback_on_timeout`).
    public var isLockWaitTimeout: Bool { code == 1205 }

    /// A deadlock or a lock wait timeout: a write lost to a concurrent one; worth retrying the whole transaction.
    public var isWriteConflict: Bool { isDeadlock || isLockWaitTimeout }

    /// The server could not be reached or the connection broke (2002, 2003, 2005, 2006, 2013, 2055, a server
    /// shutting down or a killed connection). The connection is discarded; the next query opens a new one.
    /// A statement that failed this way may or may not have been applied.
    public var isConnectionError: Bool { Self.connectionErrorCodes.contains(code) }

    /// No pooled connection became free within `poolTimeoutSeconds`.
    public var isPoolTimeout: Bool { reason == .poolTimeout }

    /// The database was shut down (`MariaDBDatabase.shutdown()`).
    public var isShutdown: Bool { reason == .shutdown }

    /// Can't connect at all (refused, no route, unknown host): the server is down or the address is wrong.
    var isUnreachable: Bool { code == 2002 || code == 2003 || code == 2005 }

    static let connectionErrorCodes: Set<UInt32> = [
        2001, 2002, 2003, 2004, 2005, 2006, 2011, 2012, 2013, 2026, 2055,
        1053,  // ER_SERVER_SHUTDOWN
        1927,  // ER_CONNECTION_KILLED
        4031  // client interaction timeout (MySQL 8)
    ]

    public var description: String {
        let text = Self.oneLine(message)
        if isUnreachable { return "MySQL at \(endpoint) is unreachable (\(text))" }
        return "MySQL at \(endpoint): \(text)"
    }

    static func oneLine(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        var lastWasSpace = false
        for ch in s {
            if ch.isNewline || ch == "\t" {
                if !lastWasSpace { out.append(" ") }
                lastWasSpace = true
            } else {
                out.append(ch)
                lastWasSpace = ch == " "
            }
        }
        return out.trimmingCharacters(in: .whitespaces)
    }
}
