import AsyncHTTPClient
import Chatbox
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// One streamed turn as the load generator saw it.
struct TurnResult: Sendable {
    var status = 0
    /// Nanoseconds from sending the request to the first `delta` (or first OpenAI content chunk).
    var ttft: UInt64?
    var total: UInt64 = 0
    var bytes = 0
    /// `delta` events (Chatbox sends the pieces that arrive together in one event) or OpenAI chunks.
    var deltas = 0
    /// The fake upstream's numbered tokens (`wordN`, and `thoughtN` in `reasoning` events) seen in those events: the
    /// tokens relayed.
    var tokens = 0
    /// Of `tokens`, those relayed as reasoning.
    var reasoningTokens = 0
    /// The streamed text, when asked to keep it.
    var text: String?
    /// From the `done` event.
    var doneStatus: String?
    var doneContent: String?
    var error: String?

    var ok: Bool { error == nil && status == 200 && doneStatus == "completed" }
    var failureReason: String {
        if let error { return error }
        if status != 200 { return "HTTP \(status)" }
        return "ended \(doneStatus ?? "without done")"
    }
}

/// Live counts of streams: open (head received) and active (first token seen, not yet finished).
struct StreamGauges: Sendable {
    let open = Gauge()
    let active = Gauge()
}

enum StreamKind: Sendable {
    case chatbox  // Chatbox's events: start, delta {text}, done {message}, title
    case openAI  // an OpenAI chat.completion.chunk stream ending with [DONE]
}

/// Reads a streamed response where it arrives (on its event loop), parsing SSE incrementally.
final class StreamDelegate: HTTPClientResponseDelegate, @unchecked Sendable {
    typealias Response = TurnResult

    private let kind: StreamKind
    private let keepText: Bool
    private let gauges: StreamGauges?
    private let started: UInt64
    private var parser = SSEParser()
    private var result = TurnResult()
    private var text = ""
    private var opened = false
    private var active = false
    private var errorBody = ""

    init(kind: StreamKind, keepText: Bool, gauges: StreamGauges?, started: UInt64) {
        self.kind = kind
        self.keepText = keepText
        self.gauges = gauges
        self.started = started
    }

    func didReceiveHead(task: HTTPClient.Task<TurnResult>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        result.status = Int(head.status.code)
        if head.status == .ok {
            opened = true
            gauges?.open.add(1)
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<TurnResult>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        result.bytes += buffer.readableBytes
        if result.status != 200 {
            if errorBody.utf8.count < 2000 { errorBody += String(buffer: buffer) }
            return task.eventLoop.makeSucceededVoidFuture()
        }
        parser.feed(buffer) { event in handle(event) }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    private func handle(_ event: SSERawEvent) {
        switch kind {
        case .chatbox:
            switch event.event {
            case "delta":
                firstToken()
                result.deltas += 1
                result.tokens += Self.count(Self.word, in: event.data)
                if keepText, let delta = try? JSONDecoder().decode(DeltaEvent.self, from: event.data) {
                    text += delta.text
                }
            case "reasoning":
                // Reasoning pieces count as relayed tokens (`thoughtN`); a `replace` event re-sends what came before.
                firstToken()
                result.deltas += 1
                if Self.count(Self.replace, in: event.data) == 0 {
                    result.tokens += Self.count(Self.thought, in: event.data)
                    result.reasoningTokens += Self.count(Self.thought, in: event.data)
                }
            case "done":
                endActive()
                let done = try? JSONDecoder().decode(DoneEvent.self, from: event.data)
                result.doneStatus = done?.message.status ?? "undecodable"
                if keepText { result.doneContent = done?.message.content }
                if let error = done?.message.error, result.doneStatus != "completed" { result.error = error }
            default:
                break
            }
        case .openAI:
            if event.dataEquals("[DONE]") {
                endActive()
                result.doneStatus = "completed"
            } else {
                firstToken()
                result.deltas += 1
                result.tokens += 1
            }
        }
    }

    private static let word = Array("word".utf8)
    private static let thought = Array("thought".utf8)
    private static let replace = Array("\"replace\":true".utf8)

    private static func count(_ needle: [UInt8], in bytes: some Collection<UInt8>) -> Int {
        var matched = 0
        var found = 0
        for byte in bytes {
            if byte == needle[matched] {
                matched += 1
                if matched == needle.count {
                    found += 1
                    matched = 0
                }
            } else {
                matched = byte == needle[0] ? 1 : 0
            }
        }
        return found
    }

    private func firstToken() {
        guard result.ttft == nil else { return }
        result.ttft = nowNanos() - started
        active = true
        gauges?.active.add(1)
    }

    private func endActive() {
        if active { gauges?.active.add(-1) }
        active = false
    }

    private func close() {
        endActive()
        if opened { gauges?.open.add(-1) }
        opened = false
    }

    func didReceiveError(task: HTTPClient.Task<TurnResult>, _ error: any Error) {
        close()
    }

    func didFinishRequest(task: HTTPClient.Task<TurnResult>) throws -> TurnResult {
        close()
        result.total = nowNanos() - started
        if keepText { result.text = text }
        if result.status != 200, result.error == nil {
            result.error = "HTTP \(result.status): \(errorBody.prefix(200))"
        }
        return result
    }

    struct DeltaEvent: Decodable { let text: String }
    struct DoneEvent: Decodable {
        struct Message: Decodable {
            let status: String
            let content: String
            let error: String?
        }
        let message: Message
    }
}

/// The load generator's view of a Chatbox server (and of the fake upstream, for the harness ceiling).
struct API: Sendable {
    let client: HTTPClient
    let base: String  // http://127.0.0.1:PORT

    static func makeClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(30))
        configuration.connectionPool = .init(
            idleTimeout: .seconds(300), concurrentHTTP1ConnectionsPerHostSoftLimit: 30_000)
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// A plain request; returns status, body and elapsed nanoseconds.
    func call(_ method: HTTPMethod, _ path: String, token: String? = nil, json: String? = nil) async throws
        -> (status: Int, body: ByteBuffer, nanos: UInt64)
    {
        var request = try HTTPClient.Request(url: base + path, method: method)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .string(json)
        }
        let started = nowNanos()
        let response = try await client.execute(request: request, deadline: .now() + .seconds(120)).get()
        return (Int(response.status.code), response.body ?? ByteBuffer(), nowNanos() - started)
    }

    func object(_ body: ByteBuffer) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
    }

    /// Registers (or, when the name is taken, logs in) and returns a Bearer token.
    func signIn(_ username: String, password: String = "bench-password") async throws -> String {
        let credentials = #"{"username":"\#(username)","password":"\#(password)"}"#
        var (status, body, _) = try await call(.POST, "/api/auth/register", json: credentials)
        if status == 409 || status == 403 {
            (status, body, _) = try await call(.POST, "/api/auth/login", json: credentials)
        }
        guard status == 200 || status == 201, let token = object(body)["token"] as? String else {
            throw Failure(
                description: "sign-in of \(username) failed: HTTP \(status) \(String(buffer: body).prefix(200))")
        }
        return token
    }

    func createConversation(token: String, title: String? = nil) async throws -> Int64 {
        let json = title.map { #"{"title":"\#($0)"}"# } ?? "{}"
        let (status, body, _) = try await call(.POST, "/api/conversations", token: token, json: json)
        guard status == 201, let conversation = object(body)["conversation"] as? [String: Any],
            let id = (conversation["id"] as? NSNumber)?.int64Value
        else { throw Failure(description: "create conversation: HTTP \(status) \(String(buffer: body).prefix(200))") }
        return id
    }

    /// Sends one question and reads the streamed answer to its end.
    func turn(
        token: String, conversation: Int64, content: String, keepText: Bool = false,
        gauges: StreamGauges? = nil, deadline: Duration = .seconds(600)
    ) async -> TurnResult {
        let body = #"{"content":"\#(jsonEscaped(content))"}"#
        return await stream(
            path: "/api/conversations/\(conversation)/messages", body: body, token: token, kind: .chatbox,
            keepText: keepText, gauges: gauges, deadline: deadline)
    }

    /// A chat completion straight to the fake upstream (the harness ceiling).
    func upstreamTurn(content: String, gauges: StreamGauges? = nil) async -> TurnResult {
        await upstreamTurn(messages: [("user", content)], gauges: gauges)
    }

    /// A chat completion of these messages (role, content), oldest first, as the server sends it to the model.
    func upstreamTurn(messages: [(role: String, content: String)], gauges: StreamGauges? = nil) async -> TurnResult {
        let list = messages.map { #"{"role":"\#($0.role)","content":"\#(jsonEscaped($0.content))"}"# }
        let body =
            #"{"model":"fake","stream":true,"stream_options":{"include_usage":true},"messages":["#
            + list.joined(separator: ",") + "]}"
        return await stream(
            path: "/v1/chat/completions", body: body, token: nil, kind: .openAI, keepText: false,
            gauges: gauges, deadline: .seconds(600))
    }

    private func stream(
        path: String, body: String, token: String?, kind: StreamKind, keepText: Bool,
        gauges: StreamGauges?, deadline: Duration
    ) async -> TurnResult {
        let started = nowNanos()
        do {
            var request = try HTTPClient.Request(url: base + path, method: .POST)
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "Accept", value: "text/event-stream")
            if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            request.body = .string(body)
            let delegate = StreamDelegate(kind: kind, keepText: keepText, gauges: gauges, started: started)
            let seconds = deadline.components.seconds
            return try await client.execute(request: request, delegate: delegate, deadline: .now() + .seconds(seconds))
                .futureResult.get()
        } catch {
            var result = TurnResult()
            result.error = "\(error)"
            result.total = nowNanos() - started
            return result
        }
    }
}

/// `text` as the inside of a JSON string.
func jsonEscaped(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count + 8)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}
