import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The one place where outside text (a provider's error message, the start of a body, a program's stderr) and raw
/// Swift errors become part of a `ModelError` message, which is stored with the answer and shown to its user.
///
/// - The model is named by `host:port` only: a base URL may carry credentials (`https://user:pass@host/…`) or a
///   key in its query string, and the path says nothing useful to a user.
/// - Every secret the model client knows (the API key, the URL's user and password, extra header values, the
///   values of environment variables passed to a command) is replaced by `[redacted]` wherever it appears, since
///   a provider or a program may echo what it was sent.
/// - Quoted outside text is trimmed and cut to `quoteLimit` characters.
/// - Raw errors become a short phrase (`describe`); the error itself goes to the log, never to the user.
struct ModelErrorText: Sendable {
    /// What users see for the model's address, e.g. `api.example.com:443`.
    let location: String
    private let secrets: [String]

    /// Quoted outside text is cut to this many characters: enough for any provider's message, and an answer's
    /// error stays a sentence, not a page.
    static let quoteLimit = 500

    /// Secrets shorter than this are not searched for: replacing every "ab" in a message would mangle it, and a
    /// credential that short protects nothing.
    static let shortestSecret = 4

    static let redacted = "[redacted]"

    init(url: String, secrets: [String?] = []) {
        var all = secrets.compactMap { $0 }
        let components = URLComponents(string: url)
        if let components {
            all += [
                components.user, components.password, components.percentEncodedUser,
                components.percentEncodedPassword
            ].compactMap { $0 }
            // A key in the query string (`?key=…`) is as secret as the API key.
            all += (components.queryItems ?? []).compactMap(\.value)
        }
        self.secrets = Self.searchable(all)
        self.location = Self.location(of: components)
    }

    /// A program's errors: only the secrets matter (it has no address).
    init(secrets: [String?]) {
        self.secrets = Self.searchable(secrets.compactMap { $0 })
        self.location = "the model command"
    }

    /// The secrets worth searching for, once each, longest first (so a secret that contains another is replaced
    /// whole).
    private static func searchable(_ secrets: [String]) -> [String] {
        Array(Set(secrets.filter { $0.count >= shortestSecret })).sorted { $0.count > $1.count }
    }

    /// `text` with every secret replaced by `[redacted]`.
    func redact(_ text: String) -> String {
        var text = text
        for secret in secrets where text.contains(secret) {
            text = text.replacingOccurrences(of: secret, with: Self.redacted)
        }
        return text
    }

    /// Outside text as it may appear in a message: trimmed, redacted, cut to `limit` characters (then "…").
    /// Callers pass text they already bounded (an error body of at most 16 KB, the start of a body, a tail of
    /// stderr); it is redacted whole before the cut, so no cut can leave half a secret behind.
    func quote(_ text: String, limit: Int = ModelErrorText.quoteLimit) -> String {
        let clean = redact(text.trimmingCharacters(in: .whitespacesAndNewlines))
        return clean.truncated(to: limit)
    }

    /// Logs a raw error (secrets redacted) with what it was about.
    func log(_ logger: Logger, _ what: String, _ error: any Error) {
        logger.warning("\(what)", metadata: ["model": "\(location)", "error": "\(redact(String(describing: error)))"])
    }

    private static func location(of components: URLComponents?) -> String {
        guard let components, let host = components.host, !host.isEmpty else { return "the configured address" }
        let port = components.port ?? (components.scheme?.lowercased() == "https" ? 443 : 80)
        return hostAndPort(host, port)
    }
}

/// Why a connection to the model failed or was lost, in a few words ("connection refused", "the host name could
/// not be resolved"…), never a raw error dump. The caller logs the error itself.
func describeConnectError(_ error: any Error) -> String {
    if let proxy = error as? ModelProxyError { return proxy.text }
    if let connectionError = error as? NIOConnectionError {
        for failure in connectionError.connectionErrors {
            if let io = failure.error as? IOError { return describe(errno: io.errnoCode) }
        }
        if connectionError.dnsAError != nil || connectionError.dnsAAAAError != nil
            || connectionError.connectionErrors.isEmpty
        {
            return "the host name could not be resolved"
        }
        return "the connection failed"
    }
    if let io = error as? IOError { return describe(errno: io.errnoCode) }
    if let client = error as? HTTPClientError {
        switch client {
        case .connectTimeout: return "connection timed out"
        case .remoteConnectionClosed: return "the model closed the connection"
        case .readTimeout: return "read timed out"
        case .cancelled: return "the request was cancelled"
        case .invalidURL, .emptyHost, .emptyScheme: return "the model URL is not valid"
        default: return "the HTTP exchange failed"
        }
    }
    if let stream = error as? ModelStreamError {
        switch stream {
        case .invalidURL: return "the model URL is not valid"
        case .cancelled: return "the request was cancelled"
        case .connectionClosed: return "the model closed the connection"
        }
    }
    if let parser = error as? HTTPParserError {
        return parser == .invalidEOFState ? "the model closed the connection" : "the model's HTTP response is not valid"
    }
    if let channel = error as? ChannelError {
        switch channel {
        case .ioOnClosedChannel: return "the connection was closed (I/O on closed channel)"
        case .eof, .alreadyClosed, .outputClosed, .inputClosed: return "the connection was closed"
        case .connectTimeout: return "connection timed out"
        default: return "the connection failed"
        }
    }
    let name = String(reflecting: type(of: error))
    if name.contains("SSL") || name.contains("TLS") { return "the TLS handshake or connection failed" }
    if name.contains("DNS") || name.contains("Resolver") { return "the host name could not be resolved" }
    return "the connection failed"
}

private func describe(errno code: Int32) -> String {
    switch code {
    case ECONNREFUSED: return "connection refused"
    case ENETUNREACH, EHOSTUNREACH: return "network unreachable"
    case ETIMEDOUT: return "connection timed out"
    case ECONNRESET: return "the connection was reset"
    case EPIPE: return "the connection was closed"
    default: return String(cString: strerror(code)).lowercased()
    }
}
