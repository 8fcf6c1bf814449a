import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

@testable import Chatbox
import FakeUpstream

/// Nothing a model sends may crash the server or make it hold unbounded memory: each hostile behaviour ends the
/// answer as failed with a clear message, and the connection to the model is dropped.
@Suite("LLM: hostile models")
struct LLMHostileModelTests {
    private let question = [ChatMessage(role: .user, content: "Hi")]

    /// Limits as small as the real ones are large: the same code paths with 1/64 of the work (on 2 shared cores,
    /// parsing megabytes in a debug build slows every suite running alongside). One test keeps the real limits.
    private static let small = SSEParser.Limits(lineBytes: 64 << 10, eventBytes: 64 << 10)

    /// Streams the question through a FakeUpstream answering `reply`; also returns whether the fake saw its
    /// response closed afterwards (the server dropped the connection instead of reading on).
    private func run(_ reply: FakeReply, apiKey: String? = nil, limits: SSEParser.Limits = small)
        async throws -> (LLMStreamResult, closed: Bool)
    {
        var result = LLMStreamResult()
        var closed = false
        try await LLMTest.withFakeUpstream({ _ in reply }) { upstream, client in
            let model = OpenAICompatibleModel(
                baseURL: upstream.baseURL, apiKey: apiKey, model: "m", httpClients: client, limits: limits)
            result = await LLMTest.drain(model.streamAnswer(to: question))
            closed = await LLMTest.eventually(within: .seconds(20)) { upstream.openStreams == 0 }
        }
        return (result, closed)
    }

    // MARK: Nesting

    @Test("the chunk scan gives up past 64 levels instead of recursing a million times")
    func scannerDepthIsBounded() {
        let inside = #"{"choices":[{"delta":{"content":"x"}}],"extra":"#
        let shallow = inside + String(repeating: "[", count: 60) + String(repeating: "]", count: 60) + "}"
        #expect(LLMChunkScannerTests.scan(shallow)?.content == "x")
        let deep = inside + String(repeating: "[", count: 1_000_000) + String(repeating: "]", count: 1_000_000) + "}"
        #expect(LLMChunkScannerTests.scan(deep) == nil)
        let deepObjects = String(repeating: #"{"a":"#, count: 200_000) + "1" + String(repeating: "}", count: 200_000)
        #expect(LLMChunkScannerTests.scan(deepObjects) == nil)
    }

    @Test("the nesting check counts without recursion and skips brackets inside strings")
    func nestingCheck() {
        func exceeds(_ text: String, _ limit: Int) -> Bool {
            Data(text.utf8).withUnsafeBytes { ChunkScanner.nestingExceeds($0, limit: limit) }
        }
        #expect(!exceeds(#"{"a":[{"b":"[[[[[[[[\"[["}]}"#, 3))
        #expect(exceeds(#"{"a":[{"b":[]}]}"#, 3))
        #expect(exceeds(String(repeating: "[", count: 5_000_000), 64))
    }

    @Test("Foundation's decoder throws on deep nesting (it has its own bound) rather than crashing")
    func foundationDecoderIsBounded() {
        let deep = Data((String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)).utf8)
        #expect(throws: (any Error).self) { try JSONDecoder().decode(ChatChunk.self, from: deep) }
        #expect(throws: (any Error).self) { try JSONSerialization.jsonObject(with: deep) }
    }

    /// (A million levels: the scan test above, and the reliability suite against the real server.)
    @Test("a chunk nested too deeply fails the answer; the pieces before it are kept", arguments: [100, 30_000])
    func deepChunk(depth: Int) async throws {
        let (result, closed) = try await run(.hostile(.deepNesting(depth: depth)))
        #expect(result.text == "word1 word2 word3")
        #expect(
            result.modelError
                == ModelError(
                    .malformed,
                    "The model sent a chunk nested more than 64 levels deep; it was not read."))
        #expect(closed)
    }

    // MARK: Sizes

    @Test("the parser stops at a line past its limit, holding no more than the limit")
    func parserLineLimit() {
        var parser = SSEParser(limits: .init(lineBytes: 1_000, eventBytes: 10_000))
        #expect(parser.feed(Array("data: a\n\n".utf8)).map(\.data) == ["a"])
        for _ in 0..<100 { _ = parser.feed(Array(repeating: UInt8(ascii: "x"), count: 300)) }
        #expect(parser.overflow == .line(limit: 1_000))
        #expect(parser.feed(Array("\n\ndata: b\n\n".utf8)).isEmpty, "a stopped parser reads nothing more")
        #expect(parser.finish() == nil)
    }

    @Test("the parser stops at an event past its limit, also when every line is short")
    func parserEventLimit() {
        var parser = SSEParser(limits: .init(lineBytes: 100, eventBytes: 1_000))
        let exact = "data: " + String(repeating: "y", count: 1_000) + "\n\n"
        #expect(
            SSEParser(limits: .init(lineBytes: 2_000, eventBytes: 1_000)).feedCopy(exact) == [
                String(repeating: "y", count: 1_000)
            ])
        for _ in 0..<200 { _ = parser.feed(Array("data: 0123456789\n".utf8)) }
        #expect(parser.overflow == .event(limit: 1_000))
        var unlimited = SSEParser()
        #expect(unlimited.feed(Array(("data: " + String(repeating: "z", count: 100_000) + "\n\n").utf8)).count == 1)
    }

    @Test("a line never ended fails the answer with a clear message and drops the connection")
    func endlessLine() async throws {
        let (result, closed) = try await run(.hostile(.endlessLine))
        #expect(result.text == "word1 word2 word3")
        #expect(
            result.modelError
                == ModelError(
                    .malformed,
                    "The model sent a line longer than 64 KB without ending it; the answer was stopped there."))
        #expect(closed)
    }

    @Test("a single 10 MB SSE line, sent whole, fails the answer too")
    func tenMegabyteLine() async throws {
        let line =
            "data: {\"choices\":[{\"delta\":{\"content\":\"" + String(repeating: "a", count: 10 << 20) + "\"}}]}\n\n"
        let (result, _) = try await run(.raw(body: line + "data: [DONE]\n\n"), limits: .model)
        #expect(result.text == "")
        #expect(result.modelError?.message.hasPrefix("The model sent a line longer than 4 MB") == true)
    }

    @Test("an event of endless short data lines fails the answer and drops the connection")
    func endlessEvent() async throws {
        let (result, closed) = try await run(.hostile(.endlessEvent))
        #expect(
            result.modelError
                == ModelError(
                    .malformed,
                    "The model sent an event larger than 64 KB; the answer was stopped there."))
        #expect(closed)
    }

    @Test("a 1 MB token still goes through (the limits leave room for it)")
    func oneMegabyteToken() async throws {
        let (result, _) = try await run(.stream(tokens: [String(repeating: "b", count: 1 << 20)]), limits: .model)
        #expect(result.error == nil)
        #expect(result.text.utf8.count == 1 << 20)
    }

    @Test("an endless error body: 16 KB of it is read, its message is cut, the connection is dropped")
    func endlessErrorBody() async throws {
        let (result, closed) = try await run(.hostile(.endlessErrorBody(status: 500)))
        let error = try #require(result.modelError)
        #expect(error.kind == .http)
        #expect(
            error.message.hasPrefix(
                "The model provider answered 500: {\"error\":{\"message\":\"The fake model is broken: xxx"))
        #expect(error.message.hasSuffix("…"))
        #expect(error.message.count < 600)
        #expect(closed)
    }

    // MARK: Error text

    @Test("an API key echoed by the provider is redacted, in an HTTP error and in an in-stream error")
    func apiKeyRedacted() async throws {
        let key = "sk-live-0123456789abcdef"
        let (http, _) = try await run(.error(401, message: "Incorrect API key provided: \(key)."), apiKey: key)
        #expect(
            http.modelError
                == ModelError(.http, "The model provider answered 401: Incorrect API key provided: [redacted]."))
        let (inStream, _) = try await run(.streamError(afterTokens: 1, message: "key \(key) over quota"), apiKey: key)
        #expect(
            inStream.modelError == ModelError(.http, "The model provider reported an error: key [redacted] over quota"))
    }

    @Test("an unreachable model is named by host:port: no credentials, no path, no raw error")
    func unreachableURLHidesCredentials() async throws {
        let port = try await LLMTest.closedPort()
        let client = ModelHTTPClients()
        let model = OpenAICompatibleModel(
            baseURL: "http://ada:pa55-w0rd@127.0.0.1:\(port)/v1?key=query-secret", apiKey: "sk-x-123456", model: "m",
            httpClients: client)
        let result = await LLMTest.drain(model.streamAnswer(to: question))
        try await client.shutdown()
        let message = try #require(result.modelError?.message)
        #expect(message == "Cannot reach the model at 127.0.0.1:\(port): connection refused")
        for leak in ["pa55", "ada", "query-secret", "sk-x", "NIO", "HTTPClientError", "Error("] {
            #expect(!message.contains(leak), "\(message)")
        }
    }

    @Test("the location and redaction helper")
    func errorText() {
        let text = ModelErrorText(
            url: "https://user%40corp:p%2Fss@api.example.com/v1?api-key=abcd1234", secrets: ["sk-123456", nil, "ab"])
        #expect(text.location == "api.example.com:443")
        #expect(ModelErrorText(url: "http://[::1]:8000/v1").location == "[::1]:8000")
        #expect(ModelErrorText(url: "not a url").location == "the configured address")
        #expect(text.redact("sk-123456 user@corp p/ss abcd1234 ab") == "[redacted] [redacted] [redacted] [redacted] ab")
        #expect(
            text.quote("  " + String(repeating: "é", count: 600) + "  ") == String(repeating: "é", count: 500) + "…")
        #expect(describeConnectError(ChannelError.ioOnClosedChannel).contains("I/O on closed channel"))
        #expect(describeConnectError(HTTPClientError.remoteConnectionClosed) == "the model closed the connection")
        struct Weird: Error { var secret = "x" }
        #expect(describeConnectError(Weird()) == "the connection failed")
    }
}

extension SSEParser {
    /// The data of the events `text` completes, on a copy of this parser.
    func feedCopy(_ text: String) -> [String] {
        var copy = self
        return copy.feed(Array(text.utf8)).map(\.data)
    }
}
