import Foundation

/// Where and how to reach a MySQL/MariaDB server.
///
/// Parsed from `mysql://user:password@host:port/database?option=value` (`mariadb://` is accepted too):
/// - user and password are percent-decoded (write `@` as `%40`, `:` as `%3A`, `/` as `%2F`);
/// - the port defaults to 3306;
/// - the host `localhost` makes libmariadb use the **unix socket** (its compiled-in default path, or
///   `?socket=/path/to/mysqld.sock`), not TCP: write `127.0.0.1` for TCP on loopback;
/// - options (all optional): `socket`, `poolSize`, `connectTimeout`, `readWriteTimeout`, `poolTimeout`
///   (seconds, whole numbers).
///
/// The password never appears in `description`, in errors or in logs.
public struct MariaDBConfiguration: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var database: String
    /// Unix socket path; used when set (the host is then ignored by libmariadb unless it is a TCP address).
    public var socket: String?
    /// Maximum number of open connections (and threads running blocking libmariadb calls).
    public var poolSize: Int
    /// TCP connect (and handshake) timeout, in seconds.
    public var connectTimeoutSeconds: Int
    /// Timeout of each network read/write once connected, in seconds: a server that stops answering
    /// fails the query after this long instead of hanging.
    public var readWriteTimeoutSeconds: Int
    /// How long a query waits for a free connection when all `poolSize` are busy, in seconds.
    public var poolTimeoutSeconds: Int

    /// How long a statement waits for a row lock before it fails with 1205 (set on each connection): two thirds of
    /// the read timeout, so that a long lock wait is reported as such (and retried) rather than cut off as a lost
    /// connection when the read timeout runs out first. InnoDB's own default is 50 s.
    public var lockWaitTimeoutSeconds: Int { max(1, readWriteTimeoutSeconds * 2 / 3) }

    public init(
        host: String,
        port: Int = 3306,
        user: String,
        password: String,
        database: String,
        socket: String? = nil,
        poolSize: Int = 8,
        connectTimeoutSeconds: Int = 5,
        readWriteTimeoutSeconds: Int = 30,
        poolTimeoutSeconds: Int = 10
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.socket = socket
        self.poolSize = max(1, poolSize)
        self.connectTimeoutSeconds = max(1, connectTimeoutSeconds)
        self.readWriteTimeoutSeconds = max(1, readWriteTimeoutSeconds)
        self.poolTimeoutSeconds = max(1, poolTimeoutSeconds)
    }

    /// Parses `mysql://user:pass@host:port/dbname[?socket=/path&poolSize=8&...]`.
    /// - Parameter source: when given, names the setting in error messages (e.g. the environment variable the
    ///   URL came from): `SOURCE: problem, e.g. …`.
    public init(url: String, source: String? = nil) throws {
        func fail(_ problem: String) -> MariaDBConfigurationError {
            MariaDBConfigurationError(
                message: "\(source.map { $0 + ": " } ?? "")\(problem), e.g. mysql://root:pw@127.0.0.1:3306/chatbox_db")
        }
        let text = url.trimmingCharacters(in: .whitespacesAndNewlines)
        var rest: Substring
        if let r = Self.dropPrefix(text, "mysql://") ?? Self.dropPrefix(text, "mariadb://") {
            rest = r
        } else {
            throw fail("expected a mysql:// URL")
        }
        var query: Substring = ""
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        if let f = rest.firstIndex(of: "#") { rest = rest[..<f] }
        let slash = rest.firstIndex(of: "/")
        let authority = slash.map { rest[..<$0] } ?? rest
        let path = slash.map { rest[rest.index(after: $0)...] } ?? ""

        guard let at = authority.lastIndex(of: "@") else { throw fail("mysql URL needs a user name") }
        let userInfo = authority[..<at]
        let hostPort = authority[authority.index(after: at)...]
        let colon = userInfo.firstIndex(of: ":")
        guard let user = Self.percentDecoded(colon.map { userInfo[..<$0] } ?? userInfo),
            let password = Self.percentDecoded(colon.map { userInfo[userInfo.index(after: $0)...] } ?? "")
        else { throw fail("mysql URL has a badly percent-encoded user or password") }
        guard !user.isEmpty else { throw fail("mysql URL needs a user name") }

        var host: Substring
        var portText: Substring? = nil
        if hostPort.hasPrefix("[") {  // [::1]:3306
            guard let close = hostPort.firstIndex(of: "]") else { throw fail("mysql URL has a bad IPv6 host") }
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else if !after.isEmpty {
                throw fail("mysql URL has a bad IPv6 host")
            }
        } else if let c = hostPort.lastIndex(of: ":") {
            host = hostPort[..<c]
            portText = hostPort[hostPort.index(after: c)...]
        } else {
            host = hostPort
        }
        guard !host.isEmpty else { throw fail("mysql URL needs a host") }
        var port = 3306
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else {
                throw fail("mysql URL has a bad port '\(portText)'")
            }
            port = p
        }
        var databasePath = path
        while databasePath.hasSuffix("/") { databasePath = databasePath.dropLast() }
        guard let database = Self.percentDecoded(databasePath), !database.isEmpty else {
            throw fail("mysql URL needs a database name")
        }
        guard !database.contains("/"), !database.contains("\0"), database.utf8.count <= 64 else {
            throw fail("mysql URL has a bad database name '\(database)'")
        }

        self.init(host: String(host), port: port, user: user, password: password, database: database)
        for item in query.split(separator: "&") where !item.isEmpty {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0])
            let value = parts.count > 1 ? (Self.percentDecoded(parts[1]) ?? "") : ""
            func seconds() throws -> Int {
                guard let n = Int(value), n > 0 else { throw fail("mysql URL option \(key) needs a positive number") }
                return n
            }
            switch key {
            case "socket", "unix_socket":
                guard !value.isEmpty else { throw fail("mysql URL option socket needs a path") }
                socket = value
            case "poolSize", "pool_size": poolSize = try seconds()
            case "connectTimeout", "connect_timeout": connectTimeoutSeconds = try seconds()
            case "readWriteTimeout", "read_write_timeout", "readTimeout": readWriteTimeoutSeconds = try seconds()
            case "poolTimeout", "pool_timeout": poolTimeoutSeconds = try seconds()
            default:
                throw fail(
                    "mysql URL has an unknown option '\(key)' (known: socket, poolSize, connectTimeout, "
                        + "readWriteTimeout, poolTimeout)")
            }
        }
    }

    /// `host:port` (or the socket path), as shown in error messages.
    public var endpoint: String {
        if let socket, host == "localhost" { return socket }
        if host == "localhost" && socket == nil { return "localhost (unix socket)" }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The URL with the password replaced by `***`.
    public var description: String {
        var s = "mysql://\(user):***@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
        if let socket { s += "?socket=\(socket)" }
        return s
    }

    private static func dropPrefix(_ s: String, _ prefix: String) -> Substring? {
        guard s.lowercased().hasPrefix(prefix) else { return nil }
        return s.dropFirst(prefix.count)
    }

    /// Decodes `%XX` escapes (UTF-8); nil when an escape is malformed.
    static func percentDecoded(_ s: Substring) -> String? {
        guard s.contains("%") else { return String(s) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count)
        var it = s.utf8.makeIterator()
        while let b = it.next() {
            if b == UInt8(ascii: "%") {
                guard let h = it.next(), let l = it.next(), let hi = hexValue(h), let lo = hexValue(l) else {
                    return nil
                }
                bytes.append(hi << 4 | lo)
            } else {
                bytes.append(b)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// A malformed database URL. `description` is one line and never contains the password.
public struct MariaDBConfigurationError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { message }
}
