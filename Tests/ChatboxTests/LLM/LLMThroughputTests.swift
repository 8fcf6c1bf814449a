import Foundation
import Testing

@testable import Chatbox
import FakeUpstream

@Suite("LLM: throughput")
struct LLMThroughputTests {
    /// Speed is measured by bench/ (`bench/run.sh cpu`), not asserted here: this checks that nothing is lost.
    @Test("20,000 tokens stream through, each one a piece, none lost")
    func manyTokens() async throws {
        try await LLMTest.withFakeUpstream({ _ in .tokens(20_000) }) { upstream, client in
            let model = OpenAICompatibleModel(baseURL: upstream.baseURL, apiKey: nil, model: "m", httpClient: client)
            let result = await LLMTest.drain(model.streamAnswer(to: [ChatMessage(role: .user, content: "go")]))
            #expect(result.error == nil)
            #expect(result.pieces.count == 20_000)
        }
    }
}
