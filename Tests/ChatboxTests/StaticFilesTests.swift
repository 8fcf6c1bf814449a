import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import Chatbox

/// The static files of `web/`: pre-compressed siblings by Accept-Encoding, ETag/304, cache headers by kind, the
/// plain file when a sibling is missing or stale, HEAD, page paths, and no way out of the root.
@Suite("Static files")
struct StaticFilesTests {
    /// A web root of its own: index.html, app.css with .br and .gz siblings (marker contents: the server never
    /// decodes them), main.js with only a .gz, a vendor file under a lock, a file with no siblings.
    final class Site: Sendable {
        let root: URL
        let lock = Data("abc123  lib.js\n".utf8)
        var version: String { StaticFiles.vendorVersion(lock: lock) }

        init() throws {
            root = TestConfig.temporaryDirectory()
            try write("index.html", "<!doctype html><title>app</title>")
            try write("app.css", String(repeating: "body { color: red }\n", count: 50))
            try write("app.css.br", "BROTLI-BODY")
            try write("app.css.gz", "GZIP-BODY")
            try write("js/main.js", "export const x = 1\n")
            try write("js/main.js.gz", "GZIP-MAIN")
            try write("favicon.svg", "<svg/>")
            try write("vendor.lock", String(decoding: lock, as: UTF8.self))
            try write("vendor/lib.js", "export default 42\n")
            try write("vendor/lib.js.br", "BROTLI-LIB")
            try write("font.woff2", "WOFF2")
        }

        deinit { try? FileManager.default.removeItem(at: root) }

        func write(_ path: String, _ text: String, modified: Date? = nil) throws {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
            if let modified {
                try FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: url.path)
            }
        }

        func touch(_ path: String, _ date: Date) throws {
            try FileManager.default.setAttributes(
                [.modificationDate: date], ofItemAtPath: root.appendingPathComponent(path).path)
        }
    }

    /// A router with the web app middleware and one API route, as the app has it.
    static func withSite(_ site: Site, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void)
        async throws
    {
        let router = Router()
        router.add(middleware: WebAppMiddleware(root: site.root.path))
        router.get("api/thing") { _, _ in "thing" }
        router.get("route.js") { _, _ in "a route wins over a file" }
        try await Application(router: router).test(.router) { client in try await body(client) }
    }

    static func get(
        _ client: any TestClientProtocol, _ path: String, method: HTTPRequest.Method = .get, _ headers: HTTPFields = [:]
    ) async throws -> (status: HTTPResponse.Status, headers: HTTPFields, body: String) {
        try await client.execute(uri: path, method: method, headers: headers) {
            ($0.status, $0.headers, String(buffer: $0.body))
        }
    }

    static func accepting(_ value: String) -> HTTPFields { [.acceptEncoding: value] }

    @Test func theBestSiblingTheRequestAcceptsIsSent() async throws {
        let site = try Site()
        try await Self.withSite(site) { client in
            let br = try await Self.get(client, "/app.css", Self.accepting("gzip, deflate, br"))
            #expect(br.status == .ok && br.body == "BROTLI-BODY")
            #expect(br.headers[.contentEncoding] == "br" && br.headers[.contentLength] == "11")
            #expect(br.headers[.contentType]?.hasPrefix("text/css") == true)
            #expect(br.headers[.vary] == "Accept-Encoding")
            let gzip = try await Self.get(client, "/app.css", Self.accepting("gzip"))
            #expect(gzip.body == "GZIP-BODY" && gzip.headers[.contentEncoding] == "gzip")
            #expect(gzip.headers[.contentLength] == "9")
            // q-values: gzip preferred over br; br refused; only a wildcard
            #expect(try await Self.get(client, "/app.css", Self.accepting("br;q=0.5, gzip;q=0.9")).body == "GZIP-BODY")
            #expect(try await Self.get(client, "/app.css", Self.accepting("br;q=0, gzip")).body == "GZIP-BODY")
            #expect(try await Self.get(client, "/app.css", Self.accepting("*")).body == "BROTLI-BODY")
            #expect(try await Self.get(client, "/app.css", Self.accepting("*;q=0.1, br;q=0")).body == "GZIP-BODY")
            // a file with only a .gz sibling
            let js = try await Self.get(client, "/js/main.js", Self.accepting("gzip, deflate, br"))
            #expect(js.body == "GZIP-MAIN" && js.headers[.contentEncoding] == "gzip")
            #expect(js.headers[.contentType]?.contains("javascript") == true)
        }
    }

    @Test func identityOrNoHeaderGetsThePlainFile() async throws {
        let site = try Site()
        let plain = String(repeating: "body { color: red }\n", count: 50)
        try await Self.withSite(site) { client in
            for headers in [
                HTTPFields(), Self.accepting("identity"), Self.accepting("deflate"), Self.accepting("br;q=0, gzip;q=0"),
                Self.accepting("gzip;q=0.5, identity"), Self.accepting("")
            ] {
                let reply = try await Self.get(client, "/app.css", headers)
                #expect(reply.status == .ok && reply.body == plain, "\(headers)")
                #expect(
                    reply.headers[.contentEncoding] == nil && reply.headers[.contentLength] == "\(plain.utf8.count)")
                #expect(reply.headers[.vary] == "Accept-Encoding")
            }
        }
    }

    @Test func theNegotiationFollowsTheQValues() {
        #expect(StaticFiles.acceptedEncodings("gzip, deflate, br") == [.br, .gzip])
        #expect(StaticFiles.acceptedEncodings("gzip, deflate, br, zstd") == [.br, .gzip])
        #expect(StaticFiles.acceptedEncodings("br;q=0.2, gzip;q=0.8") == [.gzip, .br])
        #expect(StaticFiles.acceptedEncodings("GZIP;Q=1.0") == [.gzip])
        #expect(StaticFiles.acceptedEncodings("x-gzip") == [.gzip])
        #expect(StaticFiles.acceptedEncodings("*;q=0.5, gzip;q=0") == [.br])
        #expect(StaticFiles.acceptedEncodings("identity;q=1, br;q=0.5").isEmpty)
        #expect(StaticFiles.acceptedEncodings("br;q=nonsense").isEmpty)
        #expect(StaticFiles.acceptedEncodings("").isEmpty)
    }

    @Test func aStaleOrMissingSiblingFallsBackToThePlainFile() async throws {
        let site = try Site()
        // The source changed after the siblings were made: the plain (new) file goes out.
        try site.touch("app.css.br", Date(timeIntervalSinceNow: -120))
        try site.touch("app.css.gz", Date(timeIntervalSinceNow: -120))
        try site.touch("app.css", Date(timeIntervalSinceNow: -60))
        try await Self.withSite(site) { client in
            let stale = try await Self.get(client, "/app.css", Self.accepting("gzip, br"))
            #expect(stale.headers[.contentEncoding] == nil && stale.body.hasPrefix("body {"))
            // only the .gz is regenerated: it is used, the stale .br is not
            try site.touch("app.css.gz", Date())
            let fresh = try await Self.get(client, "/app.css", Self.accepting("gzip, br"))
            #expect(fresh.headers[.contentEncoding] == "gzip" && fresh.body == "GZIP-BODY")
            // no sibling at all
            let svg = try await Self.get(client, "/favicon.svg", Self.accepting("gzip, br"))
            #expect(svg.body == "<svg/>" && svg.headers[.contentEncoding] == nil)
            #expect(svg.headers[.contentType]?.hasPrefix("image/svg+xml") == true)
            // not a text type: never a sibling, no Vary
            let font = try await Self.get(client, "/font.woff2", Self.accepting("gzip, br"))
            #expect(font.body == "WOFF2" && font.headers[.vary] == nil && font.headers[.contentEncoding] == nil)
        }
    }

    @Test func eTagsAreStrongPerRepresentationAndAnswer304() async throws {
        let site = try Site()
        try await Self.withSite(site) { client in
            let br = try await Self.get(client, "/app.css", Self.accepting("br"))
            let gzip = try await Self.get(client, "/app.css", Self.accepting("gzip"))
            let plain = try await Self.get(client, "/app.css")
            let tags = [br, gzip, plain].compactMap { $0.headers[.eTag] }
            #expect(tags.count == 3 && Set(tags).count == 3, "\(tags)")
            #expect(tags.allSatisfy { $0.hasPrefix("\"") && $0.hasSuffix("\"") })  // strong, not W/
            var headers = Self.accepting("br")
            headers[.ifNoneMatch] = try #require(br.headers[.eTag])
            let notModified = try await Self.get(client, "/app.css", headers)
            #expect(notModified.status == .notModified && notModified.body.isEmpty)
            #expect(notModified.headers[.eTag] == br.headers[.eTag])
            #expect(notModified.headers[.cacheControl] == "no-cache")
            // a list, a weak form of the same tag, and *
            headers[.ifNoneMatch] = "\"other\", W/\(br.headers[.eTag]!)"
            #expect(try await Self.get(client, "/app.css", headers).status == .notModified)
            headers[.ifNoneMatch] = "*"
            #expect(try await Self.get(client, "/app.css", headers).status == .notModified)
            // the gzip tag does not match the brotli representation
            headers[.ifNoneMatch] = try #require(gzip.headers[.eTag])
            #expect(try await Self.get(client, "/app.css", headers).status == .ok)
            // after a change the old tag no longer matches
            var plainHeaders = HTTPFields()
            plainHeaders[.ifNoneMatch] = try #require(plain.headers[.eTag])
            #expect(try await Self.get(client, "/app.css", plainHeaders).status == .notModified)
            try site.write("app.css", "body { color: blue }\n", modified: Date(timeIntervalSinceNow: 5))
            let changed = try await Self.get(client, "/app.css", plainHeaders)
            #expect(changed.status == .ok && changed.body == "body { color: blue }\n")
            #expect(changed.headers[.eTag] != plain.headers[.eTag])
        }
    }

    @Test func versionedVendorFilesAreImmutableAndTheRestRevalidates() async throws {
        let site = try Site()
        try await Self.withSite(site) { client in
            let versioned = try await Self.get(
                client, "/vendor/\(site.version)/lib.js", Self.accepting("gzip, deflate, br"))
            #expect(versioned.status == .ok && versioned.body == "BROTLI-LIB")
            #expect(versioned.headers[.cacheControl] == "public, max-age=31536000, immutable")
            #expect(versioned.headers[.eTag] != nil)
            // the same file without the version: served, but revalidated
            let bare = try await Self.get(client, "/vendor/lib.js")
            #expect(bare.status == .ok && bare.body == "export default 42\n")
            #expect(bare.headers[.cacheControl] == "no-cache")
            // another version is not there
            #expect(try await Self.get(client, "/vendor/0123456789ab/lib.js").status == .notFound)
            for path in ["/", "/index.html", "/app.css", "/js/main.js", "/c/12"] {
                let reply = try await Self.get(client, path)
                #expect(reply.status == .ok && reply.headers[.cacheControl] == "no-cache", "\(path)")
            }
        }
    }

    @Test func pagePathsGetIndexHtmlAndRoutesComeFirst() async throws {
        let site = try Site()
        try await Self.withSite(site) { client in
            for path in ["/", "/login", "/c/12", "/js/", "/vendor"] {
                let reply = try await Self.get(client, path, Self.accepting("gzip, br"))
                #expect(reply.status == .ok && reply.body.contains("<title>app</title>"), "\(path)")
                #expect(reply.headers[.contentType]?.hasPrefix("text/html") == true)
            }
            #expect(try await Self.get(client, "/missing.js").status == .notFound)
            #expect(try await Self.get(client, "/api/missing").status == .notFound)
            #expect(try await Self.get(client, "/api/thing").body == "thing")
            #expect(try await Self.get(client, "/route.js").body == "a route wins over a file")
            #expect(try await Self.get(client, "/app.css", method: .post).status != .ok)
        }
    }

    @Test func headHasTheHeadersAndNoBody() async throws {
        let site = try Site()
        try await Self.withSite(site) { client in
            let get = try await Self.get(client, "/app.css", Self.accepting("br"))
            let head = try await Self.get(client, "/app.css", method: .head, Self.accepting("br"))
            #expect(head.status == .ok && head.body.isEmpty)
            #expect(head.headers[.contentLength] == "11" && head.headers[.contentEncoding] == "br")
            #expect(head.headers[.eTag] == get.headers[.eTag])
            let page = try await Self.get(client, "/c/3", method: .head)
            #expect(
                page.status == .ok && page.body.isEmpty && page.headers[.contentType]?.hasPrefix("text/html") == true)
        }
    }

    @Test func nothingOutsideTheRootIsServed() async throws {
        let site = try Site()
        let outside = site.root.deletingLastPathComponent().appendingPathComponent("secret-\(UUID().uuidString).txt")
        try Data("TOP SECRET".utf8).write(to: outside)
        defer { try? FileManager.default.removeItem(at: outside) }
        try site.write(".hidden/config", "HIDDEN")
        let name = outside.lastPathComponent
        try await Self.withSite(site) { client in
            for path in [
                "/../\(name)", "/%2e%2e/\(name)", "/..%2f\(name)", "/js/../../\(name)",
                "/vendor/\(site.version)/../../\(name)",
                "/%2E%2E/%2E%2E/etc/passwd", "/..\\\(name)", "/.hidden/config", "/%2ehidden/config",
                "/index.html%00.png",
                "/%c0%ae%c0%ae/\(name)", "/%zz"
            ] {
                let reply = try await Self.get(client, path)
                #expect(reply.status == .badRequest || reply.status == .notFound, "\(path): \(reply.status)")
                #expect(!reply.body.contains("TOP SECRET") && !reply.body.contains("HIDDEN"), "\(path)")
            }
        }
    }

    /// The page asks for the vendor files under the version of the committed lock, so the year-long cache ends
    /// whenever the lock changes (scripts/fetch-web-vendor.sh --update-lock rewrites index.html).
    @Test func thePageLoadsTheVendorFilesUnderTheLocksVersion() throws {
        let web = URL(fileURLWithPath: TestConfig.webRoot)
        let lock = try Data(contentsOf: web.appendingPathComponent("vendor.lock"))
        let html = try String(contentsOf: web.appendingPathComponent("index.html"), encoding: .utf8)
        let version = StaticFiles.vendorVersion(lock: lock)
        let references = html.matches(of: /\/vendor\/[^"]+/).map { String($0.output) }
        #expect(references.count >= 5)
        for reference in references {
            #expect(reference.hasPrefix("/vendor/\(version)/"), "\(reference)")
        }
    }

    /// Through the whole app: the security headers stay on static files, 304s included.
    @Test func theAppServesTheRealPageWithItsSecurityHeaders() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let page = try await api.call(.get, "/", headers: Self.accepting("gzip, deflate, br"))
            #expect(page.status == .ok && page.headers[.cacheControl] == "no-cache")
            #expect(page.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
            var headers = Self.accepting("gzip, deflate, br")
            headers[.ifNoneMatch] = try #require(page.headers[.eTag])
            let again = try await api.call(.get, "/", headers: headers)
            #expect(again.status == .notModified && again.body.readableBytes == 0)
            #expect(again.headers[.contentSecurityPolicy] != nil)
            #expect(again.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
        }
    }
}
