import Foundation
import Hummingbird

/// Guards a server on a loopback address against DNS rebinding: a web page on `evil.example` whose name is made to
/// point at 127.0.0.1 reaches the server with `Host: evil.example`. While the server listens on a loopback address,
/// only requests for a loopback name (localhost, 127.x.x.x, [::1]) or a configured one are served; others get 421.
/// Configured names are enforced on any address. Requests without a `Host` (HTTP/1.0 tools) are not browsers' and
/// pass.
struct HostCheckMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Lower-cased extra names, without ports.
    let allowedHosts: Set<String>
    /// Whether loopback names are the only ones allowed by default (the server listens on a loopback address).
    let loopbackOnly: Bool

    init(listeningOn address: String, allowedHosts: [String]) {
        self.allowedHosts = Set(allowedHosts.map { Self.name(ofHost: $0) })
        loopbackOnly = Self.isLoopback(Self.name(ofHost: address))
    }

    /// Whether requests are checked at all.
    var isActive: Bool { loopbackOnly || !allowedHosts.isEmpty }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard isActive, let authority = request.head.authority else { return try await next(request, context) }
        let host = Self.name(ofHost: authority)
        guard Self.isLoopback(host) || allowedHosts.contains(host) else {
            throw HTTPError(
                .misdirectedRequest,
                message: "This server does not answer for the host name \"\(host.prefix(100))\". "
                    + "Add it to CHATBOX_HTTP_ALLOWED_HOSTS if it is yours.")
        }
        return try await next(request, context)
    }

    /// `Example.COM:8080` → `example.com`; `[::1]:80` → `[::1]`; a bare `::1` → `[::1]`.
    static func name(ofHost text: String) -> String {
        let lower = text.trimmingSpaces.lowercased()
        if lower.hasPrefix("[") {
            return lower.firstIndex(of: "]").map { String(lower[...$0]) } ?? lower
        }
        if lower.filter({ $0 == ":" }).count > 1 { return "[\(lower)]" }  // a bare IPv6 address
        let name = lower.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return name.hasSuffix(".") ? String(name.dropLast()) : String(name)
    }

    /// localhost (and `*.localhost`), any 127.0.0.0/8 address, [::1].
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host.hasSuffix(".localhost") || host == "[::1]" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127"
            && parts.allSatisfy { part in
                !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCIIDigit) && (Int(part) ?? 256) <= 255
            }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
