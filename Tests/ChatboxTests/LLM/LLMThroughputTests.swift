import Foundation
import Testing

@testable import Chatbox
import FakeUpstream

@Suite("LLM: throughput")
struct LLMThroughputTests {
    @Test("20,000 tokens stream through in reasonable time (no per-token blow-up)")
    func manyTokens() async throws {
        try await LLMTest.withFakeUpstream({ _ in .tokens(20_000) }) { upstream, client in
            let model = OpenAICompatibleModel(baseURL: upstream.baseURL, apiKey: nil, model: "m", httpClient: client)
            let start = ContinuousClock.now
            let result = await LLMTest.drain(model.streamAnswer(to: [ChatMessage(role: .user, content: "go")]))
            let elapsed = ContinuousClock.now - start
            print("20,000 tokens in \(elapsed)")
            #expect(result.error == nil)
            #expect(result.pieces.count == 20_000)
            #expect(elapsed < .seconds(10))
        }
    }
}
