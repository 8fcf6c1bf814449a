import Foundation
import Synchronization
import Testing

@testable import Chatbox
import FakeUpstream

/// Everything a model stream produced, as the page would show it.
struct LLMOutputs {
    var outputs: [ModelOutput] = []
    var error: (any Error)?

    /// The reasoning (an `.answerWasReasoning` moves the answer so far into it).
    var reasoning: String { shown.reasoning }
    var answer: String { shown.answer }
    var usages: [TokenUsage] { outputs.compactMap { if case .usage(let usage) = $0 { usage } else { nil } } }
    var moves: Int { outputs.filter { $0 == .answerWasReasoning }.count }
    var reasoningPieces: Int { outputs.filter { if case .reasoning = $0 { true } else { false } }.count }

    private var shown: (reasoning: String, answer: String) {
        var reasoning = "", answer = ""
        for output in outputs {
            switch output {
            case .reasoning(let text): reasoning += text
            case .answer(let text): answer += text
            case .answerWasReasoning:
                reasoning += answer
                answer = ""
            case .usage: break
            }
        }
        return (reasoning, answer)
    }

    /// Whether every reasoning output comes before the first answer output.
    var reasoningFirst: Bool {
        let firstAnswer = outputs.firstIndex { if case .answer = $0 { true } else { false } } ?? outputs.count
        let lastReasoning = outputs.lastIndex { if case .reasoning = $0 { true } else { false } } ?? -1
        return lastReasoning < firstAnswer
    }

    static func drain(_ stream: AsyncThrowingStream<ModelOutput, any Error>) async -> LLMOutputs {
        var result = LLMOutputs()
        do {
            for try await output in stream { result.outputs.append(output) }
        } catch {
            result.error = error
        }
        return result
    }
}

@Suite("LLM: reasoning, usage and temperature with an OpenAI-compatible model")
struct LLMReasoningTests {
    private func model(_ upstream: FakeUpstream, _ client: ModelHTTPClients) -> OpenAICompatibleModel {
        OpenAICompatibleModel(baseURL: upstream.baseURL, apiKey: nil, model: "fake-model", httpClients: client)
    }

    private func ask(_ text: String, temperature: Double? = nil) -> ModelRequest {
        ModelRequest(
            messages: [ChatMessage(role: .system, content: "Be brief."), ChatMessage(role: .user, content: text)],
            temperature: temperature)
    }

    /// Asks the directive-driven FakeUpstream `text`; the outputs and what it received.
    private func run(_ text: String, temperature: Double? = nil) async throws -> (LLMOutputs, [FakeRequest]) {
        var result = LLMOutputs()
        var requests: [FakeRequest] = []
        try await LLMTest.withFakeUpstream(FakeUpstream.directiveBehaviour) { upstream, client in
            result = await LLMOutputs.drain(model(upstream, client).stream(ask(text, temperature: temperature)))
            requests = upstream.requests()
        }
        return (result, requests)
    }

    private let thoughts = FakeStream.reasoningTokens(4).joined()
    private let answer = FakeReply.numberedTokens(3).joined()

    @Test("reasoning in delta.reasoning_content (DeepSeek) comes as .reasoning before the answer")
    func reasoningContent() async throws {
        let (result, _) = try await run("[[fake tokens=3 reasoning_content=4 delay_ms=0]]")
        #expect(result.error == nil)
        #expect(result.reasoning == thoughts)
        #expect(result.answer == answer)
        #expect(result.reasoningPieces == 4)
        #expect(result.reasoningFirst)
        #expect(result.moves == 0)
    }

    @Test("reasoning in delta.reasoning (OpenRouter) comes as .reasoning before the answer")
    func reasoningField() async throws {
        let (result, _) = try await run("[[fake tokens=3 reasoning=4 delay_ms=0]]")
        #expect(result.error == nil)
        #expect(result.reasoning == thoughts)
        #expect(result.answer == answer)
        #expect(result.reasoningFirst)
    }

    @Test("a leading <think>…</think> in the content (Ollama) is reasoning; the answer has no tags")
    func thinkTags() async throws {
        let (result, _) = try await run("[[fake tokens=3 think=4 delay_ms=0]]")
        #expect(result.error == nil)
        #expect(result.reasoning.trimmingCharacters(in: .whitespacesAndNewlines) == thoughts)
        #expect(result.answer == answer)
        #expect(result.reasoningFirst)
        #expect(result.moves == 0)
    }

    @Test("a missing opening <think>: at </think> the answer so far is recast as reasoning, once")
    func missingOpeningTag() async throws {
        let (result, _) = try await run("[[fake tokens=3 think=4 think_open=0 delay_ms=0]]")
        #expect(result.error == nil)
        #expect(result.moves == 1)
        #expect(result.reasoning.trimmingCharacters(in: .whitespacesAndNewlines) == thoughts)
        #expect(result.answer == answer)
    }

    @Test("think tags cut across chunks at odd places are still found")
    func tagsSplitAcrossChunks() async throws {
        let pieces = ["  <thi", "nk>", "\nplan ", "a<", "b</", "thi", "nk", ">\n", "\n", "The ", "answer <think>"]
        var result = LLMOutputs()
        try await LLMTest.withFakeUpstream({ _ in .stream(tokens: pieces) }) { upstream, client in
            result = await LLMOutputs.drain(model(upstream, client).stream(ask("hi")))
        }
        #expect(result.error == nil)
        #expect(result.reasoning == "plan a<b")
        #expect(result.answer == "The answer <think>")
        #expect(result.reasoningFirst)
    }

    @Test("a non-streamed answer's message.reasoning_content and usage are read")
    func nonStreamedReasoning() async throws {
        let (result, requests) = try await run("[[fake json tokens=3 reasoning_content=4]]")
        #expect(result.error == nil)
        #expect(result.reasoning == thoughts)
        #expect(result.answer == answer)
        let request = try #require(requests.last)
        #expect(result.usages == [TokenUsage(promptTokens: request.promptTokens, completionTokens: 7)])
        #expect(result.outputs.last == result.usages.last.map { .usage($0) })

        let (think, _) = try await run("[[fake json tokens=3 think=4]]")
        #expect(think.reasoning.trimmingCharacters(in: .whitespacesAndNewlines) == thoughts)
        #expect(think.answer == answer)
    }

    @Test("usage is asked for with stream_options and comes once, as the last output")
    func usageReported() async throws {
        let (result, requests) = try await run("[[fake tokens=3 reasoning_content=4 delay_ms=0]]")
        #expect(result.error == nil)
        let request = try #require(requests.last)
        #expect(request.hasStreamOptions && request.includeUsage)
        #expect(requests.count == 1)
        #expect(result.usages == [TokenUsage(promptTokens: request.promptTokens, completionTokens: 7)])
        #expect(result.outputs.last == .usage(TokenUsage(promptTokens: request.promptTokens, completionTokens: 7)))
    }

    @Test("a provider that reports no usage gives no .usage")
    func noUsage() async throws {
        let (result, _) = try await run("[[fake tokens=3 no_usage delay_ms=0]]")
        #expect(result.error == nil)
        #expect(result.answer == answer)
        #expect(result.usages.isEmpty)
    }

    @Test("a provider that refuses stream_options gets the request again without them, and no longer later")
    func streamOptionsRefused() async throws {
        try await LLMTest.withFakeUpstream(FakeUpstream.directiveBehaviour) { upstream, client in
            let model = model(upstream, client)
            let first = await LLMOutputs.drain(model.stream(ask("[[fake tokens=3 refuse_stream_options]]")))
            #expect(first.error == nil)
            #expect(first.answer == answer)
            #expect(first.usages.isEmpty)
            var requests = upstream.requests()
            #expect(requests.count == 2)
            #expect(requests.map(\.hasStreamOptions) == [true, false])

            let second = await LLMOutputs.drain(model.stream(ask("[[fake tokens=3 refuse_stream_options]]")))
            #expect(second.error == nil)
            #expect(second.answer == answer)
            requests = upstream.requests()
            #expect(requests.count == 3, "the endpoint is remembered: one request, without stream_options")
            #expect(requests.last?.hasStreamOptions == false)
        }
    }

    @Test("another 400 is retried once without stream_options, fails with the provider's message, is not remembered")
    func unrelated400() async throws {
        try await LLMTest.withFakeUpstream(FakeUpstream.directiveBehaviour) { upstream, client in
            let model = model(upstream, client)
            let failed = await LLMOutputs.drain(
                model.stream(ask(#"[[fake status=400 message="context length exceeded"]]"#)))
            let error = try #require(failed.error as? ModelError)
            #expect(error.kind == .http)
            #expect(error.message.contains("context length exceeded"))
            #expect(upstream.requests().map(\.hasStreamOptions) == [true, false])

            let next = await LLMOutputs.drain(model.stream(ask("[[fake tokens=2]]")))
            #expect(next.error == nil)
            #expect(upstream.requests().last?.hasStreamOptions == true)
            #expect(next.usages.count == 1)

            _ = await LLMOutputs.drain(model.stream(ask("[[fake status=500]]")))
            #expect(upstream.requests().count == 4, "a 500 is not retried")
        }
    }

    @Test("temperature is sent when set and left out otherwise; the reply names the model")
    func temperature() async throws {
        let (warm, requests) = try await run("[[fake echo]] hi", temperature: 0.3)
        #expect(requests.last?.temperature == 0.3)
        #expect(requests.last?.model == "fake-model")
        #expect(warm.answer.hasPrefix("model=fake-model temperature=0.3 2 messages: system: Be brief. | user: hi"))

        let (plain, plainRequests) = try await run("[[fake echo]] hi")
        #expect(plainRequests.last?.temperature == nil)
        #expect(plain.answer.hasPrefix("model=fake-model temperature=none 2 messages:"))
    }

    @Test("a slow think streams its reasoning in pieces as they come, then the answer")
    func slowThink() async throws {
        let (result, _) = try await run("[[fake tokens=2 reasoning_content=5 think_delay_ms=30 delay_ms=0]]")
        #expect(result.error == nil)
        #expect(result.reasoningPieces == 5)
        #expect(result.reasoning == FakeStream.reasoningTokens(5).joined())
        #expect(result.answer == FakeReply.numberedTokens(2).joined())
    }

    @Test("the answer(_:onOutput:) path delivers the same outputs in the same order")
    func callbackPath() async throws {
        try await LLMTest.withFakeUpstream(FakeUpstream.directiveBehaviour) { upstream, client in
            let model = model(upstream, client)
            let request = ask("[[fake tokens=3 think=4 think_open=0 delay_ms=0]]")
            let streamed = await LLMOutputs.drain(model.stream(request))
            let collected = LLMTestBox()
            try await model.answer(request) { collected.append($0) }
            #expect(collected.outputs == streamed.outputs)
        }
    }
}

/// Outputs collected from a callback on any thread.
final class LLMTestBox: Sendable {
    private let storage = Mutex<[ModelOutput]>([])
    func append(_ output: ModelOutput) { storage.withLock { $0.append(output) } }
    var outputs: [ModelOutput] { storage.withLock { $0 } }
}
