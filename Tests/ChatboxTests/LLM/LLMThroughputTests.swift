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
            let model = OpenAICompatibleModel(baseURL: upstream.baseURL, apiKey: nil, model: "m", httpClients: client)
            let result = await LLMTest.drain(model.streamAnswer(to: [ChatMessage(role: .user, content: "go")]))
            #expect(result.error == nil)
            #expect(result.pieces.count == 20_000)
        }
    }

    @Test("10,000 reasoning tokens then 10,000 answer tokens stream through in order, none lost")
    func manyReasoningTokens() async throws {
        let script = FakeStream(
            tokens: FakeReply.numberedTokens(10_000), reasoning: FakeStream.reasoningTokens(10_000))
        try await LLMTest.withFakeUpstream({ _ in .scripted(script) }) { upstream, client in
            let model = OpenAICompatibleModel(baseURL: upstream.baseURL, apiKey: nil, model: "m", httpClients: client)
            let result = await LLMOutputs.drain(
                model.stream(ModelRequest(messages: [ChatMessage(role: .user, content: "go")])))
            #expect(result.error == nil)
            #expect(result.reasoningPieces == 10_000)
            #expect(result.reasoning == script.reasoning.joined())
            #expect(result.answer == script.tokens.joined())
            #expect(result.reasoningFirst)
            #expect(result.usages == [TokenUsage(promptTokens: 1, completionTokens: 20_000)])
        }
    }
}
