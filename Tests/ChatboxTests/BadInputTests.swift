import Chatbox
import Foundation
import HTTPTypes
import NIOCore
import Testing

@Suite("Bad input gets a clear 4xx and changes nothing")
struct BadInputTests {
    @Test(arguments: [
        ("{not json", HTTPResponse.Status.badRequest, Optional("The request body is not valid JSON.")),
        ("[]", .unprocessableContent, nil),
        (
            "{\"username\": 5, \"password\": \"correct horse\"}", .unprocessableContent,
            "Field 'username' must be a string."
        ),
        ("{\"password\": \"correct horse\"}", .unprocessableContent, "Field 'username' is required."),
        ("{\"username\": null, \"password\": \"correct horse\"}", .unprocessableContent, nil),
        ("", .badRequest, "The request body is empty; it must be a JSON object.")
    ])
    func malformedRegisterBodies(body: String, status: HTTPResponse.Status, message: String?) async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let reply = try await api.call(.post, "/api/auth/register", json: body)
            #expect(reply.status == status, "\(body): \(reply.text)")
            if let message { #expect(reply.errorMessage == message) } else { #expect(reply.errorMessage != nil) }
        }
    }

    @Test func invalidUTF8IsRefused() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let reply = try await api.client.execute(
                uri: "/api/auth/register", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(
                    bytes: Array("{\"username\":\"a".utf8) + [0xff, 0xfe] + Array("\",\"password\":\"xxxxxxxxx\"}".utf8)
                )
            ) { $0 }
            #expect(reply.status == .badRequest)
        }
    }

    @Test func aBodyThatIsNotJSONIs415() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let reply = try await api.call(
                .post, "/api/auth/login", json: "username=a&password=b",
                headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(reply.status == .unsupportedMediaType)
        }
    }

    @Test func anOversizedBodyIs413AndStoresNothing() async throws {
        try await withLiveApp(TestConfig.make { $0.maxBodyBytes = 4096 }) { api in
            let token = try await api.signUp("big")
            let huge = "{\"title\": \"" + String(repeating: "x", count: 10_000) + "\"}"
            let reply = try await api.call(.post, "/api/conversations", json: huge, token: token)
            #expect(reply.status == .contentTooLarge)
            let list = try await api.listConversations(token: token)
            #expect((list.json["conversations"] as? [Any])?.isEmpty == true)
        }
    }

    @Test func deeplyNestedJSONIsRefusedNot500() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let nested = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
            let reply = try await api.call(.post, "/api/auth/login", json: nested)
            #expect(reply.status.code >= 400 && reply.status.code < 500)
        }
    }

    @Test(arguments: ["", "   ", "\n\t", String(repeating: "t", count: 201)])
    func badTitlesAreRefusedAndTheOldTitleStays(title: String) async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let token = try await api.signUp("titles")
            let id = try await api.newConversation(token: token, title: "keep me")
            let reply = try await api.renameConversation(id, title: title, token: token)
            #expect(reply.status == .unprocessableContent)
            let fetched = try await api.getConversation(id, token: token)
            #expect((fetched.json["conversation"] as? [String: Any])?["title"] as? String == "keep me")
        }
    }

    @Test func crossSiteStateChangesAreRefused() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let token = try await api.signUp("csrf")
            let foreign = try await api.call(
                .post, "/api/conversations", json: "{}", token: token, headers: [.origin: "https://evil.example"])
            #expect(foreign.status == .forbidden)
            let crossSite = try await api.call(
                .post, "/api/conversations", json: "{}", token: token, headers: [.init("Sec-Fetch-Site")!: "cross-site"]
            )
            #expect(crossSite.status == .forbidden)
            // The live test client sends `Host: localhost`; a page served from there has that origin.
            let own = try await api.call(
                .post, "/api/conversations", json: "{}", token: token,
                headers: [.origin: "http://localhost", .init("Sec-Fetch-Site")!: "same-origin"])
            #expect(own.status == .created)
            let list = try await api.listConversations(token: token)
            #expect((list.json["conversations"] as? [Any])?.count == 1)
        }
    }

    @Test func securityHeadersAreOnEveryResponse() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            for path in ["/", "/api/auth/me", "/healthz", "/no/such/page"] {
                let reply = try await api.call(.get, path)
                let csp = try #require(reply.headers[.contentSecurityPolicy], "\(path)")
                #expect(csp.contains("script-src 'self'"))
                #expect(!csp.contains("'unsafe-inline' 'self'") && !csp.contains("script-src 'self' 'unsafe-inline'"))
                #expect(reply.headers[.init("X-Content-Type-Options")!] == "nosniff")
                #expect(reply.headers[.init("X-Frame-Options")!] == "DENY")
                #expect(reply.headers[.init("Referrer-Policy")!] == "no-referrer")
            }
        }
    }

    @Test func healthIs200WhenTheDatabaseAnswers() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let reply = try await api.health()
            #expect(reply.status == .ok)
            #expect(reply.json["status"] as? String == "ok")
        }
    }

    @Test func unknownAPIPathsAreJSON404s() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let reply = try await api.call(.get, "/api/nope")
            #expect(reply.status == .notFound)
        }
    }

    @Test func staticFilesCannotEscapeTheWebRoot() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            for path in [
                "/../Package.swift", "/%2e%2e/Package.swift", "/..%2fPackage.swift", "/vendor/../../Package.swift"
            ] {
                let reply = try await api.call(.get, path)
                #expect(!reply.text.contains("PackageDescription"), "\(path)")
            }
        }
    }
}
