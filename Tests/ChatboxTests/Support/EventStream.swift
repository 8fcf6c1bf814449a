import AsyncHTTPClient
import Chatbox
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// One Server-Sent Event as the client received it, with when it arrived.
struct ReceivedEvent: Sendable {
    let name: String
    let data: String
    let arrived: ContinuousClock.Instant
    var json: [String: any Sendable] {
        ((try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: any Sendable]) ?? [:]
    }
    /// `message` / `assistant_message` objects of start and done events.
    func object(_ key: String) -> [String: Any] { (json[key] as? [String: Any]) ?? [:] }
}

/// Reads our own server's SSE responses chunk by chunk over a real HTTP connection, so tests see events as
/// they arrive over time rather than a collected body.
struct EventStreamClient: Sendable {
    let port: Int
    let token: String

    struct Opened: Sendable {
        let status: Int
        let headers: HTTPHeaders
        let events: AsyncThrowingStream<ReceivedEvent, any Error>
        let cancel: @Sendable () -> Void
        /// Every event until the server closes the stream.
        func all() async throws -> [ReceivedEvent] {
            var all: [ReceivedEvent] = []
            for try await event in events { all.append(event) }
            return all
        }
        var bodyText: String = ""
    }

    func post(_ path: String, json: String = "{}") async throws -> Opened {
        try await open(.POST, path, body: json)
    }

    func get(_ path: String) async throws -> Opened {
        try await open(.GET, path, body: nil)
    }

    /// Posts a message and returns the stream of its events.
    func send(_ conversationID: Int64, _ content: String) async throws -> Opened {
        let body = String(decoding: try JSONSerialization.data(withJSONObject: ["content": content]), as: UTF8.self)
        return try await post("/api/conversations/\(conversationID)/messages", json: body)
    }

    private func open(_ method: HTTPMethod, _ path: String, body: String?) async throws -> Opened {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let status = Int(response.status.code)
        guard status == 200, response.headers["Content-Type"].first?.hasPrefix("text/event-stream") == true else {
            var collected = try await response.body.collect(upTo: 1 << 20)
            var opened = Opened(
                status: status, headers: response.headers, events: AsyncThrowingStream { $0.finish() }, cancel: {})
            opened.bodyText = collected.readString(length: collected.readableBytes) ?? ""
            return opened
        }
        let (events, continuation) = AsyncThrowingStream.makeStream(of: ReceivedEvent.self)
        let reader = Task {
            var parser = SSEParser()
            do {
                for try await chunk in response.body {
                    let now = ContinuousClock.now
                    for event in parser.feed(chunk) {
                        continuation.yield(
                            ReceivedEvent(name: event.event ?? "message", data: event.data, arrived: now))
                    }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        // The request's timeout ends with the response head: a stream the server never ends would hang the test
        // (and the whole run) instead of failing it. No test streams for this long.
        let limit = Task {
            try await Task.sleep(for: Self.streamLimit)
            continuation.finish(throwing: StreamNeverEnded(path: path, limit: Self.streamLimit))
            reader.cancel()
        }
        continuation.onTermination = { _ in
            reader.cancel()
            limit.cancel()
        }
        return Opened(status: status, headers: response.headers, events: events, cancel: { reader.cancel() })
    }
}

extension EventStreamClient {
    /// How long a test may read one event stream.
    static let streamLimit: Duration = .seconds(300)

    struct StreamNeverEnded: Error, CustomStringConvertible {
        let path: String
        let limit: Duration
        var description: String { "the event stream of \(path) was still open after \(limit)" }
    }
}

extension Array where Element == ReceivedEvent {
    var names: [String] { map(\.name) }
    /// The answer text as the deltas carried it.
    var streamedText: String { filter { $0.name == "delta" }.map { $0.json["text"] as? String ?? "" }.joined() }
    func first(_ name: String) -> ReceivedEvent? { first { $0.name == name } }
}

/// Polls until `condition` holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
