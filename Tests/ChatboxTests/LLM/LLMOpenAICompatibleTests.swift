import Foundation
import Synchronization
import Testing

@testable import Chatbox
import FakeUpstream

@Suite("LLM: OpenAI-compatible model against FakeUpstream")
struct LLMOpenAICompatibleTests {
    private let conversation = [
        ChatMessage(role: .system, content: "Be brief."),
        ChatMessage(role: .user, content: "Hi"),
        ChatMessage(role: .assistant, content: "Hello!"),
        ChatMessage(role: .user, content: "What is 2+2?")
    ]

    private func model(
        _ upstream: FakeUpstream, _ client: ModelHTTPClients, apiKey: String? = nil,
        extraHeaders: [(String, String)] = []
    ) -> OpenAICompatibleModel {
        OpenAICompatibleModel(
            baseURL: upstream.baseURL, apiKey: apiKey, model: "fake-model",
            extraHeaders: extraHeaders, httpClients: client)
    }

    /// Streams the conversation through a FakeUpstream that answers `reply`.
    private func run(_ reply: FakeReply) async throws -> LLMStreamResult {
        var result = LLMStreamResult()
        try await LLMTest.withFakeUpstream({ _ in reply }) { upstream, client in
            result = await LLMTest.drain(model(upstream, client).streamAnswer(to: conversation))
        }
        return result
    }

    @Test("tokens arrive one by one, spread over time, not as one lump")
    func tokensArriveOverTime() async throws {
        let result = try await run(.tokens(20, delay: .milliseconds(20)))
        #expect(result.error == nil)
        #expect(result.text == FakeReply.numberedTokens(20).joined())
        // Each token is handed on as its own piece as it is parsed (not one lump at the end). Counted in pieces, not in
        // the consumer's arrival times, which a busy machine bunches up.
        #expect(result.pieces.count == 20)
    }

    @Test("the whole conversation, model name, stream flag, API key and extra headers are sent")
    func requestContents() async throws {
        try await LLMTest.withFakeUpstream({ _ in .tokens(2) }) { upstream, client in
            let model = model(
                upstream, client, apiKey: "sk-test-123",
                extraHeaders: [("X-Title", "Chatbox"), ("HTTP-Referer", "http://localhost")])
            let result = await LLMTest.drain(model.streamAnswer(to: conversation))
            #expect(result.error == nil)
            let request = try #require(upstream.requests().last)
            #expect(request.model == "fake-model")
            #expect(request.stream)
            #expect(request.messages.map(\.role) == ["system", "user", "assistant", "user"])
            #expect(request.messages.map(\.content) == conversation.map(\.content))
            #expect(request.header("authorization") == "Bearer sk-test-123")
            #expect(request.header("x-title") == "Chatbox")
            #expect(request.header("http-referer") == "http://localhost")
            #expect(request.header("content-type") == "application/json")
        }
    }

    @Test("the request body is valid JSON with every character of the conversation, the temperature and usage option")
    func requestBodyJSON() throws {
        var awkward = String((0..<0x80).map { Character(Unicode.Scalar(UInt8($0))) })
        awkward += #"quote " backslash \ slash / "# + "é 京都 🏯 \u{2028}\u{2029}"
        let request = ModelRequest(
            messages: [ChatMessage(role: .system, content: awkward), ChatMessage(role: .user, content: "")],
            temperature: 0.7)
        func parsed(_ request: ModelRequest, includeUsage: Bool, model: String = awkward) throws -> NSDictionary {
            let body = OpenAICompatibleModel.body(model: model, request, includeUsage: includeUsage)
            return try #require(try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? NSDictionary)
        }
        let json = try parsed(request, includeUsage: true)
        #expect(json["model"] as? String == awkward && json["stream"] as? Bool == true)
        let messages = try #require(json["messages"] as? [[String: String]])
        #expect(messages == [["role": "system", "content": awkward], ["role": "user", "content": ""]])
        #expect((json["temperature"] as? NSNumber)?.doubleValue == 0.7)
        #expect((json["stream_options"] as? [String: Bool]) == ["include_usage": true])
        let plain = try parsed(
            ModelRequest(messages: [ChatMessage(role: .user, content: "hi")], temperature: nil), includeUsage: false,
            model: "m")
        #expect(Set(plain.allKeys.compactMap { $0 as? String }) == ["model", "stream", "messages"])
        for odd in [Double.nan, .infinity] {
            let json = try parsed(ModelRequest(messages: [], temperature: odd), includeUsage: false)
            #expect(json["temperature"] == nil && (json["messages"] as? [Any])?.isEmpty == true)
        }
        #expect(
            (try parsed(ModelRequest(messages: [], temperature: 2), includeUsage: false)["temperature"]
                as? NSNumber)?.doubleValue == 2)
    }

    @Test("no API key means no Authorization header; a trailing slash on the base URL is fine")
    func noKeyAndTrailingSlash() async throws {
        try await LLMTest.withFakeUpstream({ _ in .tokens(3) }) { upstream, client in
            let model = OpenAICompatibleModel(
                baseURL: upstream.baseURL + "/", apiKey: nil, model: "m",
                httpClients: client)
            #expect(model.endpoint == upstream.baseURL + "/chat/completions")
            let result = await LLMTest.drain(model.streamAnswer(to: conversation))
            #expect(result.text == "word1 word2 word3")
            #expect(upstream.requests().last?.header("authorization") == nil)
        }
    }

    @Test("HTTP 500 passes the provider's message on")
    func serverError() async throws {
        let result = try await run(.error(500, message: "boom: the GPU caught fire"))
        #expect(result.modelError == ModelError(.http, "The model provider answered 500: boom: the GPU caught fire"))
    }

    @Test("HTTP 429 passes the rate-limit message on")
    func rateLimited() async throws {
        let result = try await run(.error(429, message: "Rate limit reached for requests"))
        #expect(result.modelError?.kind == .http)
        #expect(result.modelError?.message == "The model provider answered 429: Rate limit reached for requests")
    }

    @Test("error bodies as {error: string}, {message}, plain text, empty, or too long are all readable")
    func errorBodyShapes() async throws {
        #expect(
            try await run(.status(401, body: #"{"error":"invalid key"}"#)).modelError?.message
                == "The model provider answered 401: invalid key")
        #expect(
            try await run(.status(404, body: #"{"message":"model not found"}"#)).modelError?.message
                == "The model provider answered 404: model not found")
        #expect(
            try await run(.status(503, body: "upstream overloaded\n")).modelError?.message
                == "The model provider answered 503: upstream overloaded")
        #expect(
            try await run(.status(502, body: "")).modelError?.message
                == "The model provider answered 502 Bad Gateway.")
        let long = try await run(.status(500, body: String(repeating: "x", count: 5000))).modelError
        #expect(long?.kind == .http)
        #expect((long?.message.count ?? 0) < 600)
    }

    @Test("a connection dropped mid-stream is an error after the pieces that did arrive")
    func droppedMidStream() async throws {
        let result = try await run(.stream(tokens: FakeReply.numberedTokens(10), dropAfter: 3))
        #expect(result.text == "word1 word2 word3 ")
        #expect(result.modelError?.kind == .malformed)
        #expect(result.modelError?.message.contains("ended before the answer was finished") == true)
    }

    @Test("a body that ends cleanly without [DONE] or finish_reason counts as cut off")
    func endWithoutDone() async throws {
        let body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"partial\"}}]}\n\n"
        let result = try await run(.raw(body: body))
        #expect(result.text == "partial")
        #expect(result.modelError?.kind == .malformed)
    }

    @Test("a finish_reason without [DONE] is a complete answer")
    func finishReasonWithoutDone() async throws {
        let body = """
            data: {"choices":[{"index":0,"delta":{"content":"all"}}]}

            data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}


            """
        let result = try await run(.raw(body: body))
        #expect(result.error == nil)
        #expect(result.text == "all")
    }

    @Test("role-only, empty, usage chunks, comments and CRLF framing are handled; text after [DONE] is ignored")
    func realisticFraming() async throws {
        let events = [
            ": OPENROUTER PROCESSING",
            #"data: {"id":"1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            #"data: {"id":"1","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null}]}"#,
            #"data: {"id":"1","choices":[{"index":0,"delta":{"content":null}}]}"#,
            #"data: {"id":"1","choices":[{"index":0,"delta":{"content":"lo \"wörld\" 🎉\n"}}]}"#,
            #"data: {"id":"1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            #"data: {"id":"1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
            "data: [DONE]",
            #"data: {"choices":[{"delta":{"content":"after done"}}]}"#
        ]
        let body = events.joined(separator: "\r\n\r\n") + "\r\n\r\n"
        let result = try await run(.raw(body: body, chunkSize: 7))
        #expect(result.error == nil)
        #expect(result.text == "Hello \"wörld\" 🎉\n")
    }

    @Test("a chunk that is not JSON is a malformed-stream error")
    func malformedChunk() async throws {
        let result = try await run(.malformed(afterTokens: 2))
        #expect(result.text == "word1 word2")
        #expect(result.modelError?.kind == .malformed)
        #expect(result.modelError?.message.contains("not valid JSON") == true)
    }

    @Test("an error object inside the stream passes its message on")
    func errorInsideStream() async throws {
        let result = try await run(.streamError(afterTokens: 1, message: "context length exceeded"))
        #expect(result.text == "word1")
        #expect(result.modelError == ModelError(.http, "The model provider reported an error: context length exceeded"))
    }

    @Test("a non-streamed chat.completion answer is accepted; other JSON is malformed")
    func nonStreamedAnswer() async throws {
        let ok = try await run(.json(content: "Whole answer at once."))
        #expect(ok.error == nil)
        #expect(ok.text == "Whole answer at once.")
        let odd = try await run(.raw(body: #"{"result":"something else"}"#, contentType: "application/json"))
        #expect(odd.modelError?.kind == .malformed)
        let text = try await run(.raw(body: "Hello, plain text.", contentType: "text/plain"))
        #expect(
            text.modelError == ModelError(.malformed, "The model's answer is not an event stream: Hello, plain text."))
    }

    @Test("one 1 MB token arrives intact")
    func hugeToken() async throws {
        let token = String(repeating: "0123456789abcdef", count: 65_536)  // 1 MiB
        let result = try await run(.stream(tokens: [token]))
        #expect(result.error == nil)
        #expect(result.text == token)
    }

    @Test("quotes, backslashes, control characters and non-ASCII survive the round trip")
    func escaping() async throws {
        let tokens = ["\"quoted\" ", "back\\slash ", "new\nline\ttab ", "\u{01}\u{1F} ", "中文 ", "🎉", "\r\n"]
        let result = try await run(.stream(tokens: tokens))
        #expect(result.error == nil)
        #expect(result.text == tokens.joined())
    }

    @Test("connection refused is .unreachable, naming the URL")
    func connectionRefused() async throws {
        let port = try await LLMTest.closedPort()
        let client = ModelHTTPClients()
        let model = OpenAICompatibleModel(
            baseURL: "http://127.0.0.1:\(port)/v1", apiKey: nil, model: "m",
            httpClients: client)
        let result = await LLMTest.drain(model.streamAnswer(to: conversation))
        try await client.shutdown()
        // The refusal itself, not a connect timeout after retrying (that error says so): no wall-clock bound,
        // which a busy machine broke.
        #expect(
            result.modelError
                == ModelError(
                    .unreachable,
                    "Cannot reach the model at 127.0.0.1:\(port): connection refused"))
    }

    @Test("the connect timeout covers the TLS handshake: a server that accepts and never answers")
    func connectTimeoutCoversTLSHandshake() async throws {
        try await LLMPoolTest.withSilentServer { port in
            let client = ModelHTTPClients()
            let model = OpenAICompatibleModel(
                baseURL: "https://127.0.0.1:\(port)/v1", apiKey: nil, model: "m",
                httpClients: client, connectTimeout: .milliseconds(400))
            let start = ContinuousClock.now
            let result = await LLMTest.drain(model.streamAnswer(to: conversation))
            let elapsed = ContinuousClock.now - start
            try await client.shutdown()
            #expect(result.modelError?.kind == .unreachable)
            #expect(result.modelError?.message.contains("no connection after 0.4 s") == true)
            #expect(elapsed < .seconds(8), "our 0.4 s timeout fired")
        }
    }

    @Test("an unknown host is .unreachable")
    func unknownHost() async throws {
        let client = ModelHTTPClients()
        let model = OpenAICompatibleModel(
            baseURL: "http://no-such-host.invalid/v1", apiKey: nil, model: "m",
            httpClients: client, connectTimeout: .seconds(3))
        let result = await LLMTest.drain(model.streamAnswer(to: conversation))
        try await client.shutdown()
        #expect(result.modelError?.kind == .unreachable)
        #expect(result.modelError?.message.hasPrefix("Cannot reach the model at no-such-host.invalid:80: ") == true)
    }

    @Test("cancelling the consuming task closes the upstream stream promptly")
    func cancellationClosesUpstream() async throws {
        try await LLMTest.withFakeUpstream({ _ in .tokens(1000, delay: .milliseconds(30)) }) { upstream, client in
            let stream = model(upstream, client).streamAnswer(to: conversation)
            let consumer = Task {
                var count = 0
                for try await _ in stream { count += 1 }
                return count
            }
            #expect(await LLMTest.eventually { upstream.openStreams == 1 })
            try await Task.sleep(for: .milliseconds(150))
            consumer.cancel()
            _ = try? await consumer.value
            #expect(await LLMTest.eventually(within: .seconds(60)) { upstream.openStreams == 0 })
            #expect(upstream.streamsOpened == 1)
        }
    }

    @Test("leaving the loop early (dropping the stream) closes the upstream stream")
    func droppingStreamClosesUpstream() async throws {
        try await LLMTest.withFakeUpstream({ _ in .tokens(1000, delay: .milliseconds(10)) }) { upstream, client in
            var seen = 0
            for try await _ in model(upstream, client).streamAnswer(to: conversation) {
                seen += 1
                if seen == 3 { break }
            }
            #expect(await LLMTest.eventually(within: .seconds(60)) { upstream.openStreams == 0 })
        }
    }

    @Test("a model that never starts can be abandoned by the caller and leaves nothing open")
    func hangThenCancel() async throws {
        try await LLMTest.withFakeUpstream({ _ in .hang }) { upstream, client in
            let consumer = Task { await LLMTest.drain(model(upstream, client).streamAnswer(to: conversation)) }
            #expect(await LLMTest.eventually { upstream.openStreams == 1 })
            consumer.cancel()
            let result = await consumer.value
            #expect(result.pieces.isEmpty)
            #expect(await LLMTest.eventually(within: .seconds(60)) { upstream.openStreams == 0 })
        }
    }

    @Test("many answers can stream at once from one host (none waits for a free connection)")
    func concurrentStreams() async throws {
        // Each answer sends one token and then stalls, so all 24 must be open at once to be seen.
        let reply = FakeReply.stream(tokens: ["first", "never"], hangAfter: 1)
        try await LLMTest.withFakeUpstream({ _ in reply }) { upstream, client in
            let model = model(upstream, client)
            let consumers = (0..<24).map { _ in
                Task { await LLMTest.drain(model.streamAnswer(to: conversation)) }
            }
            // Generous bounds (each check ends as soon as it holds): every suite runs at once on a 2-core CI machine.
            let allOpen = await LLMTest.eventually(within: .seconds(60)) { upstream.openStreams == 24 }
            #expect(allOpen, "only \(upstream.openStreams) open; a per-host connection cap would queue the rest")
            consumers.forEach { $0.cancel() }
            for consumer in consumers { _ = await consumer.value }
            #expect(await LLMTest.eventually(within: .seconds(60)) { upstream.openStreams == 0 })
        }
    }

    @Test("a piece that stops the answer ends it there, though the stop comes straight back on the event loop")
    func aPieceThatStopsTheAnswerEndsItThere() async throws {
        // Several pieces in one body part, and more to come: the first piece's handler cancels the request on the
        // event loop, which fails it at once, re-entering the delegate while it is still handing out that body part.
        let pieces = ["a", "b", "c"].map { #"data: {"choices":[{"delta":{"content":"\#($0)"}}]}"# + "\n\n" }.joined()
        let reply = FakeReply.raw(
            body: pieces + pieces + "data: [DONE]\n\n", chunkSize: pieces.utf8.count, delay: .milliseconds(300))
        try await LLMTest.withFakeUpstream({ _ in reply }) { upstream, client in
            let model = model(upstream, client)
            let received = Mutex<[String]>([])
            let handle = Mutex<Task<Void, any Error>?>(nil)
            let (gate, open) = AsyncStream<Void>.makeStream()
            let answering = Task {
                for await _ in gate { break }  // until `handle` is set
                try await model.answer(to: conversation) { piece in
                    received.withLock { $0.append(piece) }
                    handle.withLock { $0 }?.cancel()
                }
            }
            handle.withLock { $0 = answering }
            open.yield()
            try await answering.value
            // What the test holds is that this does not crash. Whether "b" and "c" of the same body part still get out
            // depends on when the cancel reaches the delegate; the next body part (300 ms later) never does.
            let got = received.withLock { $0 }
            #expect(got.first == "a" && got.count <= 3, "no piece of the next body part after the stop: \(got)")
        }
    }
}
