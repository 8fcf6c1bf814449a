import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Chatbox

/// How the business layer's refusals reach the client: status, `Retry-After`, and a body that is the same bytes
/// every time (a refusal must not differ between someone else's record and one that does not exist).
@Suite("Refusals as HTTP errors")
struct RefusalTests {
    static func app() -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: ErrorMiddleware())
        router.get("gone") { _, _ -> String in throw ChatError.modelUnavailable("beta") }
        router.get("missing") { _, _ -> String in throw NotFound("Conversation") }
        router.get("busy") { _, _ -> String in throw ChatError.tooManyRunning(limit: 3) }
        return Application(router: router)
    }

    @Test func aRefusalWithACodeIsTheSameBytesEveryTimeWithTheCodeBesideTheMessage() async throws {
        try await Self.app().test(.router) { client in
            var bodies = Set<String>()
            for _ in 0..<50 {
                try await client.execute(uri: "/gone", method: .get) { response in
                    #expect(response.status == .conflict)
                    #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                    bodies.insert(String(buffer: response.body))
                }
            }
            #expect(
                bodies == [
                    #"{"error":{"code":"model_unavailable","message":"The model \"beta\" is no longer available. Pick another model."}}"#
                ])
        }
    }

    @Test func aRefusalWithoutACodeHasOnlyTheMessageAndARetryAfterWhenItSaysWhen() async throws {
        try await Self.app().test(.router) { client in
            try await client.execute(uri: "/missing", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body) == #"{"error":{"message":"Conversation not found."}}"#)
            }
            try await client.execute(uri: "/busy", method: .get) { response in
                #expect(response.status == .tooManyRequests)
                #expect(response.headers[.retryAfter] == "5")
                let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect((body?["error"] as? [String: Any])?["code"] as? String == "too_many_running")
            }
        }
    }
}
