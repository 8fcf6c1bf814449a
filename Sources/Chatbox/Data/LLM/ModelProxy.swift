import Foundation

/// The HTTP proxy that requests to OpenAI-compatible models go through (`CHATBOX_LLM_PROXY`), and the hosts that
/// go direct (`CHATBOX_LLM_NO_PROXY`). Streamed answers and model listings alike.
///
/// - An `http://` model is asked through the proxy with the request's absolute URL (`POST http://host/…`); an
///   `https://` model through a tunnel (`CONNECT host:port`), inside which TLS runs end to end with the model.
/// - The proxy's own user and password (`http://user:pass@proxy:3128`) go as `Proxy-Authorization: Basic …`.
/// - The proxy itself is spoken to in plain HTTP: an `https://` proxy URL is refused at start-up.
/// - The standard `HTTPS_PROXY`/`NO_PROXY` variables are not read: a proxy is only used when configured here.
public struct ModelProxy: Sendable, Equatable {
    /// Where the proxy is, and what it is told: one key of the connection pool (connections through the proxy
    /// are kept apart from direct ones).
    struct Server: Sendable, Hashable {
        let host: String
        let port: Int
        /// The user and password in base64 (`user:password`), or nil without a user in the URL.
        let credentials: String?
        /// `Proxy-Authorization`'s value, `Basic …`.
        var authorization: String? { credentials.map { "Basic " + $0 } }

        /// What users see for the proxy's address, e.g. `proxy.example.com:3128`.
        var location: String { hostAndPort(host, port) }
    }

    let server: Server
    /// Lower-cased host names (a name also covers its subdomains), IP addresses, or `*` (every host).
    let bypass: [String]

    /// Why a proxy setting was refused, in a sentence.
    public struct Invalid: Error, Sendable {
        public let reason: String
    }

    /// `url`: `http://[user:password@]host[:port]` (port 80 when left out); `noProxy`: host names (`example.com`
    /// also covers `api.example.com`; a leading dot is allowed), IP addresses, or `*`.
    public init(url: String, noProxy: [String] = []) throws(Invalid) {
        let example = "such as http://proxy.example.com:3128"
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw Invalid(reason: "must be an http:// URL \(example), not \"\(url)\"")
        }
        guard scheme == "http" else {
            throw Invalid(reason: "must be an http:// URL \(example) (the proxy itself is spoken to in plain HTTP)")
        }
        guard var host = components.host, !host.isEmpty else {
            throw Invalid(reason: "must name the proxy's host, \(example)")
        }
        guard components.path.isEmpty || components.path == "/", components.query == nil else {
            throw Invalid(reason: "must be only the proxy's address, \(example), without a path")
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let port = components.port ?? 80
        guard (1...65535).contains(port) else { throw Invalid(reason: "has a port out of 1 to 65535") }
        var credentials: String?
        if let user = components.user {
            credentials = Data("\(user):\(components.password ?? "")".utf8).base64EncodedString()
        }
        server = Server(host: host.lowercased(), port: port, credentials: credentials)
        bypass = noProxy.compactMap { entry in
            var name = entry.trimmingCharacters(in: .whitespaces).lowercased()
            while name.hasPrefix(".") { name.removeFirst() }
            if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
            return name.isEmpty ? nil : name
        }
    }

    /// The proxy for a request to `host`, or nil when `host` goes direct.
    func server(for host: String) -> Server? {
        let host = host.lowercased()
        for entry in bypass where entry == "*" || host == entry || host.hasSuffix("." + entry) { return nil }
        return server
    }
}
