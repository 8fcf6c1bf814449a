import Crypto
import Foundation
import Hummingbird

/// Serves the browser app from `web/`: files as they are (pre-compressed and cached as ``StaticFiles`` says), and
/// `index.html` for any other page path (`/`, `/login`, `/c/12`) so reloads and shared links land in the app.
/// Routes come first: a file answers only what no route does.
struct WebAppMiddleware<Context: RequestContext>: RouterMiddleware {
    let files: StaticFiles

    init(root: String) {
        files = StaticFiles(root: root)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let path = request.uri.path
        guard request.method == .get || request.method == .head, !path.hasPrefix("/api/"), path != "/healthz" else {
            return try await next(request, context)
        }
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError where error.status == .notFound {
            if let response = try await files.response(to: request, path: path) {
                return response
            }
            if Self.isPage(path), let response = try await files.response(to: request, path: "/index.html") {
                return response
            }
            throw error
        }
    }

    /// A path that names a page of the app rather than a file (no extension in its last part).
    static func isPage(_ path: String) -> Bool {
        !(path.split(separator: "/").last?.contains(".") ?? false)
    }
}

enum WebPage {
    /// The Content-Security-Policy for the app: scripts only from this origin plus the page's inline import
    /// map by hash; Vue's template compiler needs 'unsafe-eval'. No inline scripts or handlers can run.
    static func contentSecurityPolicy(webRoot: String) -> String {
        var scriptSources = ["'self'", "'unsafe-eval'"]
        if let html = try? String(contentsOfFile: webRoot + "/index.html", encoding: .utf8) {
            scriptSources += inlineScriptHashes(html).map { "'sha256-\($0)'" }
        }
        return [
            "default-src 'self'", "script-src \(scriptSources.joined(separator: " "))",
            "style-src 'self' 'unsafe-inline'", "img-src 'self' data:", "font-src 'self' data:",
            "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'",
            "form-action 'self'"
        ].joined(separator: "; ")
    }

    /// Base64 SHA-256 of each inline `<script>…</script>` body in the page.
    static func inlineScriptHashes(_ html: String) -> [String] {
        html.matches(of: /<script(?![^>]*\ssrc=)[^>]*>(?<body>[\s\S]*?)<\/script>/).map { match in
            Data(SHA256.hash(data: Data(match.output.body.utf8))).base64EncodedString()
        }
    }
}
