import Foundation
import Testing

@testable import Chatbox

/// Our client against an OpenAI-compatible server nobody here wrote: the LiteLLM proxy with mock responses.
/// Runs only when `CHATBOX_TEST_LITELLM_URL` is set (scripts/litellm-peer-check.sh starts the proxy and sets it,
/// with `CHATBOX_TEST_LITELLM_KEY` as the master key).
@Suite("LLM: LiteLLM peer", .enabled(if: ProcessInfo.processInfo.environment["CHATBOX_TEST_LITELLM_URL"] != nil))
struct LLMLiteLLMPeerTests {
    private let baseURL = ProcessInfo.processInfo.environment["CHATBOX_TEST_LITELLM_URL"] ?? ""
    private let key = ProcessInfo.processInfo.environment["CHATBOX_TEST_LITELLM_KEY"]
    private let question = [
        ChatMessage(role: .system, content: "Be brief."), ChatMessage(role: .user, content: "Hello?")
    ]

    private func ask(_ model: String, key: String?? = nil) async throws -> LLMStreamResult {
        let client = ModelHTTPClients()
        let model = OpenAICompatibleModel(baseURL: baseURL, apiKey: key ?? self.key, model: model, httpClients: client)
        let result = await LLMTest.drain(model.streamAnswer(to: question))
        try await client.shutdown()
        return result
    }

    @Test("the streamed text equals the mock reply, in several pieces")
    func streamsMockReply() async throws {
        let result = try await ask("fake")
        #expect(result.error == nil)
        #expect(result.text == "Hello from the mock server, this is a streamed reply.")
        #expect(result.pieces.count > 3)
    }

    @Test("a 429 from the provider carries its status and message")
    func rateLimit() async throws {
        let error = try #require(try await ask("fake-429").modelError)
        #expect(error.kind == .http)
        #expect(error.message.hasPrefix("The model provider answered 429: "))
        #expect(error.message.contains("RateLimitError"))
    }

    @Test("a 500 from the provider carries its status and message")
    func serverError() async throws {
        let error = try #require(try await ask("fake-500").modelError)
        #expect(error.kind == .http)
        #expect(error.message.hasPrefix("The model provider answered 500: "))
        #expect(error.message.contains("InternalServerError"))
    }

    @Test("an unknown model and a wrong key are errors with the provider's own words")
    func badModelAndKey() async throws {
        let unknown = try #require(try await ask("no-such-model").modelError)
        #expect(unknown.kind == .http)
        #expect(unknown.message.hasPrefix("The model provider answered 400: "))
        #expect(unknown.message.contains("no-such-model"))
        let wrongKey = try #require(try await ask("fake", key: "sk-wrong-key").modelError)
        #expect(wrongKey.kind == .http)
        #expect(wrongKey.message.contains("answered 40"))
    }
}
