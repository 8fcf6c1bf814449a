import Foundation
import Hummingbird
import Logging
import Synchronization

/// A scriptable OpenAI-compatible server on loopback: the one stand-in for a real model in tests, the browser
/// suite and benchmarks. `POST /v1/chat/completions` (also `/chat/completions`) answers what `behaviour` says;
/// `GET /v1/models` (also `/models`) lists `models` (nil: 404, a provider that does not list); `GET /health` says ok.
///
/// ```swift
/// let upstream = try await FakeUpstream.start { _ in .tokens(20, delay: .milliseconds(20)) }
/// // … point the client at upstream.baseURL …
/// #expect(upstream.requests().last?.messages.count == 3)
/// await upstream.stop()
/// ```
public final class FakeUpstream: Sendable {
    public let port: Int
    public let host: String
    private let recorder: Recorder
    private let runTask: Task<Void, Never>

    /// `http://HOST:PORT/v1`, what a client takes as its base URL.
    public var baseURL: String { "http://\(host):\(port)/v1" }

    /// Every chat request received so far, in order.
    public func requests() -> [FakeRequest] { recorder.requests() }

    /// Streaming responses currently open (a cancelled client should bring this back to 0 within ~0.2 s).
    public var openStreams: Int { recorder.openStreams }

    /// Streaming responses opened since start.
    public var streamsOpened: Int { recorder.streamsOpened }

    /// The most streaming responses that were open at the same time.
    public var peakOpenStreams: Int { recorder.peakOpenStreams }

    private init(host: String, port: Int, recorder: Recorder, runTask: Task<Void, Never>) {
        self.host = host
        self.port = port
        self.recorder = recorder
        self.runTask = runTask
    }

    /// Starts the server in the background and returns once it listens. `port: 0` picks a free port.
    public static func start(
        host: String = "127.0.0.1", port: Int = 0, models: [String]? = ["fake"],
        behaviour: @escaping @Sendable (FakeRequest) -> FakeReply = FakeUpstream.directiveBehaviour
    ) async throws -> FakeUpstream {
        let recorder = Recorder()
        let router = Router()
        let handler = Handler(recorder: recorder, behaviour: behaviour)
        router.post("/v1/chat/completions") { request, _ in try await handler.chat(request) }
        router.post("/chat/completions") { request, _ in try await handler.chat(request) }
        let list = models.map(Self.modelList)
        for path in ["/v1/models", "/models"] {
            router.get(RouterPath(path)) { _, _ in
                guard let list else {
                    return Response(
                        status: .notFound, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(string: #"{"error":{"message":"no model list here"}}"#)))
                }
                return Response(
                    status: .ok, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: list)))
            }
        }
        router.get("/health") { _, _ in "ok" }

        var logger = Logger(label: "fake-upstream")
        logger.logLevel =
            ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port)),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger)
        let failure = Mutex<(any Error)?>(nil)
        let runTask = Task {
            do {
                try await app.run()
            } catch {
                failure.withLock { $0 = error }
            }
            portContinuation.finish()
        }
        var iterator = ports.makeAsyncIterator()
        guard let boundPort = await iterator.next() else {
            let error = failure.withLock { $0 }
            throw error ?? FakeUpstreamError.didNotStart
        }
        return FakeUpstream(host: host, port: boundPort, recorder: recorder, runTask: runTask)
    }

    /// Stops listening and ends every open response.
    public func stop() async {
        runTask.cancel()
        await runTask.value
    }
}

extension FakeUpstream {
    /// `{"object":"list","data":[{"id":…,"object":"model",…}]}`.
    static func modelList(_ ids: [String]) -> String {
        struct Entry: Encodable {
            let id: String
            let object = "model"
            let created = 0
            let owned_by = "fake"
        }
        struct List: Encodable {
            let object = "list"
            let data: [Entry]
        }
        let data = (try? JSONEncoder().encode(List(data: ids.map { Entry(id: $0) }))) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

public enum FakeUpstreamError: Error {
    case didNotStart
}

/// Thread-safe request log and open-stream counter.
final class Recorder: Sendable {
    private struct State {
        var requests: [FakeRequest] = []
        var open = 0
        var opened = 0
        var peak = 0
    }
    private let state = Mutex(State())

    func record(_ request: FakeRequest) { state.withLock { $0.requests.append(request) } }
    func requests() -> [FakeRequest] { state.withLock { $0.requests } }
    var openStreams: Int { state.withLock { $0.open } }
    var streamsOpened: Int { state.withLock { $0.opened } }
    var peakOpenStreams: Int { state.withLock { $0.peak } }
    func streamOpened() {
        state.withLock {
            $0.open += 1
            $0.opened += 1
            $0.peak = max($0.peak, $0.open)
        }
    }
    func streamClosed() { state.withLock { $0.open -= 1 } }
}

/// Thrown inside a response body to close the connection abruptly.
struct DropConnection: Error {}

struct Handler: Sendable {
    let recorder: Recorder
    let behaviour: @Sendable (FakeRequest) -> FakeReply

    private static let sseHeaders: HTTPFields = [
        .contentType: "text/event-stream", .cacheControl: "no-cache"
    ]

    func chat(_ original: Request) async throws -> Response {
        var request = original
        let body = try await request.collectBody(upTo: 64 * 1024 * 1024)
        guard let fake = FakeRequest(json: body, headers: request.headers) else {
            return Self.plain(FakeReply.error(400, message: "The request body is not a chat completion request."))
        }
        recorder.record(fake)
        var reply = behaviour(fake)
        if !fake.stream, case .stream(let tokens, _, _, _, _) = reply { reply = .json(content: tokens.joined()) }
        if !fake.stream, case .scripted(let script) = reply {
            let completion = ChunkFramer.completion(
                model: fake.model, content: script.tokens.joined(),
                reasoning: script.reasoning.isEmpty ? nil : script.reasoning.joined(), form: script.reasoningForm,
                usage: (fake.promptTokens, script.tokens.count + script.reasoning.count))
            return Response(
                status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: completion))
        }
        let framer = ChunkFramer(model: fake.model)

        switch reply {
        case .status, .json:
            return Self.plain(reply, request: fake)
        case .raw(let text, let contentType, let chunkSize, let delay):
            return streaming(request, contentType: contentType) { writer in
                let bytes = Array(text.utf8)
                let size = max(chunkSize ?? bytes.count, 1)
                var offset = 0
                while offset < bytes.count {
                    if offset > 0, delay > .zero { try await Task.sleep(for: delay) }
                    try await writer.write(ByteBuffer(bytes: bytes[offset..<min(offset + size, bytes.count)]))
                    offset += size
                }
            }
        case .hang:
            return streaming(request) { _ in try await Task.sleep(for: .seconds(24 * 3600)) }
        case .hostile(let kind, let afterTokens):
            return hostile(kind, afterTokens: afterTokens, request: request, framer: framer)
        case .malformed(let afterTokens):
            return streaming(request) { writer in
                try await Self.writeTokens(FakeReply.numberedTokens(afterTokens), framer: framer, writer: &writer)
                try await writer.write(ByteBuffer(string: "data: {\"choices\":[{\"delta\":{\"content\":\"oops\n\n"))
            }
        case .streamError(let afterTokens, let message):
            return streaming(request) { writer in
                try await Self.writeTokens(FakeReply.numberedTokens(afterTokens), framer: framer, writer: &writer)
                try await writer.write(ChunkFramer.streamError(message))
            }
        case .stream(let tokens, let delay, let firstDelay, let dropAfter, let hangAfter):
            let script = FakeStream(
                tokens: tokens, delay: delay, firstDelay: firstDelay, dropAfter: dropAfter, hangAfter: hangAfter)
            return streaming(request) { writer in
                try await Self.write(script, for: fake, framer: framer, writer: &writer)
            }
        case .scripted(let script):
            return streaming(request) { writer in
                try await Self.write(script, for: fake, framer: framer, writer: &writer)
            }
        }
    }

    /// Streams `script`: events whose wait is zero go out together in ~16 KB writes (the fake must never be a
    /// benchmark's bottleneck); before each wait, what is pending is written.
    private static func write(
        _ script: FakeStream, for request: FakeRequest, framer: ChunkFramer, writer: inout any ResponseBodyWriter
    ) async throws {
        var batch = ByteBuffer()
        var first = true
        func send(_ frame: ByteBuffer, after wait: Duration, writer: inout any ResponseBodyWriter) async throws {
            var frame = frame
            if wait > .zero {
                if batch.readableBytes > 0 {
                    try await writer.write(batch)
                    batch = ByteBuffer()
                }
                try await Task.sleep(for: wait)
            }
            batch.writeBuffer(&frame)
            if batch.readableBytes >= 16 * 1024 {
                try await writer.write(batch)
                batch = ByteBuffer()
            }
        }
        func flush(_ writer: inout any ResponseBodyWriter) async throws {
            if batch.readableBytes > 0 {
                try await writer.write(batch)
                batch = ByteBuffer()
            }
        }

        if !script.reasoning.isEmpty {
            var thinkTags = false
            if case .think(let openTag) = script.reasoningForm {
                thinkTags = true
                if openTag {
                    try await send(framer.token("<think>\n", first: true), after: script.firstDelay, writer: &writer)
                    first = false
                }
            }
            for (index, token) in script.reasoning.enumerated() {
                let wait = index == 0 ? (first ? script.firstDelay : .zero) : script.reasoningDelay
                let frame =
                    thinkTags
                    ? framer.token(token, first: first)
                    : framer.reasoning(token, field: script.reasoningForm, first: first)
                try await send(frame, after: wait, writer: &writer)
                first = false
            }
            if thinkTags { try await send(framer.token("\n</think>\n\n", first: false), after: .zero, writer: &writer) }
        }
        let tokens = script.tokens
        let stopAt = min(tokens.count, script.dropAfter ?? .max, script.hangAfter ?? .max)
        for (index, token) in tokens.prefix(stopAt).enumerated() {
            let wait = index == 0 ? (first ? script.firstDelay : script.delay) : script.delay
            try await send(framer.token(token, first: first), after: wait, writer: &writer)
            first = false
        }
        try await flush(&writer)
        if let dropAfter = script.dropAfter, dropAfter <= tokens.count {
            // Let the tokens written reach the client first: a reset that overtakes them would make the client
            // lose them, and a busy test machine would see fewer tokens than the test sent.
            try await Task.sleep(for: .milliseconds(100))
            throw DropConnection()
        }
        if let hangAfter = script.hangAfter, hangAfter <= tokens.count {
            try await Task.sleep(for: .seconds(24 * 3600))
        }
        if first { try await writer.write(framer.token("", first: true)) }
        let usage =
            script.usage && request.includeUsage
            ? (prompt: request.promptTokens, completion: tokens.count + script.reasoning.count) : nil
        try await writer.write(framer.finish(usage: usage))
    }

    private static func writeTokens(
        _ tokens: [String], framer: ChunkFramer, writer: inout any ResponseBodyWriter,
        delay: Duration = .zero, firstDelay: Duration = .zero
    ) async throws {
        // Nothing to pace: send the events in ~16 KB writes (the fake must never be the bottleneck).
        if delay == .zero {
            if firstDelay > .zero { try await Task.sleep(for: firstDelay) }
            var batch = ByteBuffer()
            for (index, token) in tokens.enumerated() {
                var frame = framer.token(token, first: index == 0)
                batch.writeBuffer(&frame)
                if batch.readableBytes >= 16 * 1024 {
                    try await writer.write(batch)
                    batch = ByteBuffer()
                }
            }
            if batch.readableBytes > 0 { try await writer.write(batch) }
            return
        }
        for (index, token) in tokens.enumerated() {
            let wait = index == 0 ? firstDelay : delay
            if wait > .zero { try await Task.sleep(for: wait) }
            try await writer.write(framer.token(token, first: index == 0))
        }
    }

    private func hostile(_ kind: FakeReply.Hostile, afterTokens: Int, request: Request, framer: ChunkFramer) -> Response
    {
        let filler = ByteBuffer(repeating: UInt8(ascii: "x"), count: 64 * 1024)
        switch kind {
        case .deepNesting(let depth):
            return streaming(request) { writer in
                try await Self.writeTokens(FakeReply.numberedTokens(afterTokens), framer: framer, writer: &writer)
                var chunk = ByteBuffer(string: #"data: {"choices":[{"delta":{"content":"x"},"extra":"#)
                chunk.writeRepeatingByte(UInt8(ascii: "["), count: depth)
                chunk.writeRepeatingByte(UInt8(ascii: "]"), count: depth)
                chunk.writeString("}]}\n\n")
                try await writer.write(chunk)
                try await writer.write(framer.finish())
            }
        case .endlessLine:
            return streaming(request) { writer in
                try await Self.writeTokens(FakeReply.numberedTokens(afterTokens), framer: framer, writer: &writer)
                try await writer.write(ByteBuffer(string: #"data: {"choices":[{"delta":{"content":""#))
                while true { try await writer.write(filler) }
            }
        case .endlessEvent:
            return streaming(request) { writer in
                try await Self.writeTokens(FakeReply.numberedTokens(afterTokens), framer: framer, writer: &writer)
                var lines = ByteBuffer()
                for _ in 0..<4096 { lines.writeStaticString("data: xxxxxxxxxx\n") }
                while true { try await writer.write(lines) }
            }
        case .endlessErrorBody(let status):
            return streaming(request, status: .init(code: status), contentType: "application/json") { writer in
                try await writer.write(ByteBuffer(string: #"{"error":{"message":"The fake model is broken: "#))
                while true { try await writer.write(filler) }
            }
        }
    }

    /// A streamed response that counts as open while `produce` runs and stops when the client goes away.
    private func streaming(
        _ request: Request, status: HTTPResponse.Status = .ok, contentType: String = "text/event-stream",
        _ produce: @escaping @Sendable (inout any ResponseBodyWriter) async throws -> Void
    ) -> Response {
        var headers = Self.sseHeaders
        headers[.contentType] = contentType
        let recorder = self.recorder
        return Response(
            status: status, headers: headers,
            body: ResponseBody { writer in
                recorder.streamOpened()
                defer { recorder.streamClosed() }
                try await request.body.consumeWithCancellationOnInboundClose { _ in
                    try await produce(&writer)
                }
                try await writer.finish(nil)
            })
    }

    private static func plain(_ reply: FakeReply, request: FakeRequest? = nil) -> Response {
        switch reply {
        case .status(let code, let body):
            let type = body.hasPrefix("{") ? "application/json" : "text/plain; charset=utf-8"
            return Response(
                status: .init(code: code), headers: [.contentType: type],
                body: .init(byteBuffer: ByteBuffer(string: body)))
        case .json(let content):
            let completion = ChunkFramer.completion(
                model: request?.model ?? "fake", content: content,
                usage: (request?.promptTokens ?? 1, FakeReply.wordPieces(content).count))
            return Response(
                status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: completion))
        default:
            return Response(status: .internalServerError)
        }
    }
}

extension FakeRequest {
    init?(json body: ByteBuffer, headers: HTTPFields) {
        struct Wire: Decodable {
            struct Part: Decodable { var text: String? }
            struct Message: Decodable {
                var role: String
                var content: String
                private enum Keys: String, CodingKey { case role, content }
                init(from decoder: any Decoder) throws {
                    let object = try decoder.container(keyedBy: Keys.self)
                    role = try object.decode(String.self, forKey: .role)
                    if let text = try? object.decodeIfPresent(String.self, forKey: .content) {
                        content = text
                    } else if let parts = try? object.decodeIfPresent([Part].self, forKey: .content) {
                        content = parts.compactMap(\.text).joined()
                    } else {
                        content = ""
                    }
                }
            }
            struct StreamOptions: Decodable { var include_usage: Bool? }
            var model: String?
            var messages: [Message]
            var stream: Bool?
            var temperature: Double?
            var stream_options: StreamOptions?
        }
        guard let wire = try? JSONDecoder().decode(Wire.self, from: Data(body.readableBytesView)) else { return nil }
        self.init(
            model: wire.model ?? "",
            messages: wire.messages.map { Message(role: $0.role, content: $0.content) },
            stream: wire.stream ?? false,
            headers: headers.map { ($0.name.canonicalName, $0.value) },
            temperature: wire.temperature,
            hasStreamOptions: wire.stream_options != nil,
            includeUsage: wire.stream_options?.include_usage == true)
    }
}
