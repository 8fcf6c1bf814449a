import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

@testable import Chatbox
@testable import FakeUpstream

@Suite("LLM: FakeUpstream directives and framing")
struct LLMFakeUpstreamTests {
    private func request(_ text: String, system: String? = nil) -> FakeRequest {
        var messages = [FakeRequest.Message]()
        if let system { messages.append(.init(role: "system", content: system)) }
        messages.append(.init(role: "user", content: text))
        return FakeRequest(model: "m", messages: messages, stream: true)
    }

    private func tokens(of reply: FakeReply) -> [String]? {
        if case .stream(let tokens, _, _, _, _) = reply { return tokens }
        return nil
    }

    @Test("directives parse numbers, flags, quoted values with escapes, and several blocks")
    func directiveParsing() {
        let d = FakeUpstream.directives(
            in: #"hi [[fake tokens=5 hang]] and [[fake message="a \"b\" ]] c\nd" delay_ms=7]]"#)
        #expect(d["tokens"] == "5")
        #expect(d["hang"] == "")
        #expect(d["message"] == "a \"b\" ]] c\nd")
        #expect(d["delay_ms"] == "7")
        #expect(FakeUpstream.strippingDirectives("[[fake tokens=2]] Hello there") == "Hello there")
    }

    @Test("directives pick the reply: tokens, status, drop, stall, hang, malformed, reply, json, huge")
    func directiveReplies() throws {
        let behaviour = FakeUpstream.directiveBehaviour
        #expect(tokens(of: behaviour(request("[[fake tokens=3]]"))) == ["word1 ", "word2 ", "word3"])
        #expect(tokens(of: behaviour(request(#"[[fake reply="Hi there you"]]"#))) == ["Hi ", "there ", "you"])
        if case .status(let code, let body) = behaviour(request(#"[[fake status=429 message="slow down"]]"#)) {
            #expect(code == 429)
            #expect(body.contains(#""message":"slow down""#))
        } else {
            Issue.record("expected a status reply")
        }
        if case .stream(_, let delay, let first, let drop, let stall) =
            behaviour(request("[[fake tokens=9 delay_ms=5 first_delay_ms=50 drop_after=4 stall_after=6]]"))
        {
            #expect(delay == .milliseconds(5) && first == .milliseconds(50) && drop == 4 && stall == 6)
        } else {
            Issue.record("expected a stream reply")
        }
        if case .hang = behaviour(request("[[fake hang]]")) {} else { Issue.record("expected hang") }
        if case .malformed(let n) = behaviour(request("[[fake malformed]]")) {
            #expect(n == 3)
        } else {
            Issue.record("malformed")
        }
        if case .json(let content) = behaviour(request("[[fake tokens=2 json]]")) {
            #expect(content == "word1 word2")
        } else {
            Issue.record("json")
        }
        #expect(tokens(of: behaviour(request("[[fake huge_kb=1024]]")))?.first?.utf8.count == 1 << 20)
    }

    @Test("without directives the default reply has a table, a code block and a formula")
    func defaultReply() {
        let text = tokens(of: FakeUpstream.directiveBehaviour(request("hello")))?.joined() ?? ""
        #expect(text.hasPrefix("Fake upstream reply to: hello"))
        #expect(text.contains("|------|-------|"))
        #expect(text.contains("```python"))
        #expect(text.contains("$x^2$"))
        #expect(text.split(whereSeparator: \.isWhitespace).count >= 30)
    }

    @Test("title requests get the user's first words, or title_reply, and ignore other directives")
    func titleRequests() {
        let behaviour = FakeUpstream.directiveBehaviour
        let plain = behaviour(request("[[fake status=500]] Plan a trip to Lisbon in May", system: "Give a title"))
        #expect(tokens(of: plain)?.joined() == "Plan a trip to")
        let scripted = behaviour(request(#"[[fake title_reply="<think>hm</think>\"My Title\""]] hi"#, system: "Title?"))
        #expect(tokens(of: scripted)?.joined() == "<think>hm</think>\"My Title\"")
    }

    @Test("token framing is valid JSON for every kind of character")
    func framingIsValidJSON() throws {
        struct Chunk: Decodable {
            struct Choice: Decodable {
                struct Delta: Decodable {
                    var content: String?
                    var role: String?
                }
                var delta: Delta
            }
            var choices: [Choice]
        }
        let framer = ChunkFramer(model: "model \"x\"")
        for text in ["plain", "\"q\" \\ /", "\n\r\t\u{08}\u{0C}\u{00}\u{1F}", "中文 🎉 é", ""] {
            var buffer = framer.token(text, first: true)
            let line = buffer.readString(length: buffer.readableBytes)!
            #expect(line.hasPrefix("data: ") && line.hasSuffix("\n\n"))
            let json = line.dropFirst(6).dropLast(2)
            let chunk = try JSONDecoder().decode(Chunk.self, from: Data(json.utf8))
            #expect(chunk.choices[0].delta.content == text)
            #expect(chunk.choices[0].delta.role == "assistant")
        }
    }

    @Test("requests are recorded in order with their headers; non-streamed requests get JSON")
    func recordsRequests() async throws {
        try await LLMTest.withFakeUpstream(FakeUpstream.directiveBehaviour) { upstream, client in
            var request = HTTPClientRequest(url: upstream.baseURL + "/chat/completions")
            request.method = .POST
            request.headers.add(name: "X-Test", value: "yes")
            request.body = .bytes(
                ByteBuffer(
                    string:
                        #"{"model":"m","stream":false,"messages":[{"role":"user","content":[{"type":"text","text":"[[fake tokens=2]]"}]}]}"#
                ))
            let response = try await client.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 1 << 20)
            #expect(response.status == .ok)
            #expect(String(buffer: body).contains(#""content":"word1 word2""#))
            let recorded = try #require(upstream.requests().first)
            #expect(recorded.stream == false)
            #expect(recorded.lastUserMessage == "[[fake tokens=2]]")
            #expect(recorded.header("x-test") == "yes")
            #expect(upstream.openStreams == 0)
        }
    }

    @Test("stop() ends open streams and frees the port")
    func stopEndsStreams() async throws {
        let upstream = try await FakeUpstream.start { _ in .hang }
        let client = OpenAICompatibleModel.makeHTTPClient()
        let model = OpenAICompatibleModel(baseURL: upstream.baseURL, apiKey: nil, model: "m", httpClient: client)
        let consumer = Task { await LLMTest.drain(model.streamAnswer(to: [ChatMessage(role: .user, content: "x")])) }
        #expect(await LLMTest.eventually { upstream.openStreams == 1 })
        let start = ContinuousClock.now
        await upstream.stop()
        #expect(
            ContinuousClock.now - start < .seconds(10), "stop() does not wait for the hanging stream to end by itself")
        let result = await consumer.value
        #expect(result.modelError?.kind == .malformed)
        #expect(upstream.openStreams == 0)
        try await client.shutdown()
    }
}
