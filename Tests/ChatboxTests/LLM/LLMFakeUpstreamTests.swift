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

    private func script(of reply: FakeReply) -> FakeStream? {
        if case .scripted(let script) = reply { return script }
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

    @Test("reasoning directives: think, think_open=0, reasoning_content, reasoning, think_delay_ms, no_usage")
    func reasoningDirectives() throws {
        let behaviour = FakeUpstream.directiveBehaviour
        let think = try #require(script(of: behaviour(request("[[fake tokens=2 think=3]]"))))
        #expect(think.reasoning == ["thought1 ", "thought2 ", "thought3."])
        #expect(think.reasoningForm == .think(openTag: true))
        #expect(think.tokens == ["word1 ", "word2"])
        #expect(think.usage)
        #expect(
            script(of: behaviour(request("[[fake think=3 think_open=0]]")))?.reasoningForm == .think(openTag: false))
        let deepSeek = try #require(
            script(of: behaviour(request("[[fake reasoning_content=50 think_delay_ms=200 delay_ms=7]]"))))
        #expect(deepSeek.reasoningForm == .reasoningContent && deepSeek.reasoning.count == 50)
        #expect(deepSeek.reasoningDelay == .milliseconds(200) && deepSeek.delay == .milliseconds(7))
        #expect(script(of: behaviour(request("[[fake reasoning=2]]")))?.reasoningForm == .reasoning)
        let quiet = try #require(script(of: behaviour(request("[[fake tokens=2 no_usage]]"))))
        #expect(!quiet.usage && quiet.reasoning.isEmpty)
    }

    @Test("refuse_stream_options refuses only a request that has them; title_delay_ms delays the title")
    func refusalAndTitleDelay() {
        let behaviour = FakeUpstream.directiveBehaviour
        var asking = request("[[fake refuse_stream_options tokens=2]]")
        asking.hasStreamOptions = true
        if case .status(let code, let body) = behaviour(asking) {
            #expect(code == 400)
            #expect(body.contains("Unrecognized request argument supplied: stream_options"))
        } else {
            Issue.record("expected a 400")
        }
        #expect(tokens(of: behaviour(request("[[fake refuse_stream_options tokens=2]]"))) == ["word1 ", "word2"])
        let title = behaviour(request("[[fake title_delay_ms=300]] Plan a trip", system: "Write a title"))
        if case .stream(let tokens, _, let first, _, _) = title {
            #expect(tokens.joined() == "Plan a trip")
            #expect(first == .milliseconds(300))
        } else {
            Issue.record("expected a stream")
        }
    }

    @Test("echo names the model and the temperature first")
    func echo() {
        var asked = request("[[fake echo]] hello", system: "Be brief.")
        asked.temperature = 0.7
        #expect(
            tokens(of: FakeUpstream.directiveBehaviour(asked))?.joined()
                == "model=m temperature=0.7 2 messages: system: Be brief. | user: hello")
        #expect(
            tokens(of: FakeUpstream.directiveBehaviour(request("[[fake echo]] x")))?.joined()
                == "model=m temperature=none 1 messages: user: x")
    }

    @Test("over the wire: chunks carry the requested model, reasoning fields, and usage when asked for")
    func wireFormat() async throws {
        try await LLMTest.withFakeUpstream(FakeUpstream.directiveBehaviour) { upstream, client in
            func post(_ json: String) async throws -> String {
                var request = HTTPClientRequest(url: upstream.baseURL + "/chat/completions")
                request.method = .POST
                // A connection each: the fake may close a kept-alive one just as it is reused (a known race of
                // the test server, not what this test is about).
                request.headers.add(name: "Connection", value: "close")
                request.body = .bytes(ByteBuffer(string: json))
                let response = try await client.listing(for: request.url).execute(request, timeout: .seconds(30))
                return String(buffer: try await response.body.collect(upTo: 1 << 20))
            }
            let content = "[[fake tokens=2 reasoning_content=3 delay_ms=0]]"  // 48 characters: 12 prompt tokens
            let body = try await post(
                #"{"model":"deepseek-reasoner","stream":true,"temperature":0.5,"stream_options":{"include_usage":true},"#
                    + #""messages":[{"role":"user","content":"\#(content)"}]}"#)
            #expect(body.contains(#""model":"deepseek-reasoner""#))
            #expect(body.contains(#""content":null,"reasoning_content":"thought1 ""#))
            #expect(body.contains(#""choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"#))
            #expect(body.hasSuffix("data: [DONE]\n\n"))
            let recorded = try #require(upstream.requests().last)
            #expect(recorded.model == "deepseek-reasoner" && recorded.temperature == 0.5)
            #expect(recorded.hasStreamOptions && recorded.includeUsage)

            let openRouter = try await post(
                #"{"model":"m","stream":true,"messages":[{"role":"user","content":"[[fake tokens=1 reasoning=1]]"}]}"#)
            #expect(openRouter.contains(#""content":"","reasoning":"thought1.""#))
            #expect(!openRouter.contains("usage"), "no usage unless asked for")
            let recordedPlain = try #require(upstream.requests().last)
            #expect(!recordedPlain.hasStreamOptions && recordedPlain.temperature == nil)

            let ollama = try await post(
                #"{"model":"m","stream":true,"stream_options":{"include_usage":true},"#
                    + #""messages":[{"role":"user","content":"[[fake tokens=1 think=1 no_usage]]"}]}"#)
            #expect(ollama.contains(#""content":"<think>\n""#) && ollama.contains(#""content":"\n</think>\n\n""#))
            #expect(!ollama.contains("usage"))
        }
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
            let response = try await client.listing(for: request.url).execute(request, timeout: .seconds(30))
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
        let client = ModelHTTPClients()
        let model = OpenAICompatibleModel(baseURL: upstream.baseURL, apiKey: nil, model: "m", httpClients: client)
        let consumer = Task { await LLMTest.drain(model.streamAnswer(to: [ChatMessage(role: .user, content: "x")])) }
        #expect(await LLMTest.eventually { upstream.openStreams == 1 })
        let start = ContinuousClock.now
        await upstream.stop()
        // The hanging stream would last a day: a minute tells "ended it" from "waited for it", however busy the
        // machine (a fresh-clone CI run once took 22 s here with every suite running at once).
        #expect(
            ContinuousClock.now - start < .seconds(60), "stop() does not wait for the hanging stream to end by itself")
        let result = await consumer.value
        #expect(result.modelError?.kind == .malformed)
        #expect(upstream.openStreams == 0)
        try await client.shutdown()
    }
}
