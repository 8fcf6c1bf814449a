import Foundation
import NIOCore

/// Server-Sent Events framing: `event: NAME` and one `data:` line of JSON, then a blank line.
enum SSE {
    struct ReasoningReplaced: Encodable {
        let text: String
        let replace = true
    }
    struct Title: Encodable {
        let conversationId: Int64
        let title: String
    }

    /// The events in one buffer, for one write. Consecutive `delta`s (or `reasoning`s) become one event with their
    /// texts joined.
    static func frames(_ events: [ChatEvent]) -> ByteBuffer {
        var buffer = ByteBuffer()
        var index = events.startIndex
        while index < events.endIndex {
            switch events[index] {
            case .delta:
                buffer.writeStaticString("event: delta\ndata: {\"text\":\"")
                while index < events.endIndex, case .delta(let text) = events[index] {
                    buffer.writeJSONEscaped(text)
                    index += 1
                }
                buffer.writeStaticString("\"}\n\n")
            case .reasoning:
                buffer.writeStaticString("event: reasoning\ndata: {\"text\":\"")
                while index < events.endIndex, case .reasoning(let text) = events[index] {
                    buffer.writeJSONEscaped(text)
                    index += 1
                }
                buffer.writeStaticString("\"}\n\n")
            default:
                var frame = frame(events[index])
                buffer.writeBuffer(&frame)
                index += 1
            }
        }
        return buffer
    }

    static func frame(_ event: ChatEvent) -> ByteBuffer {
        switch event {
        case .delta(let text): return textEvent("delta", text)
        case .reasoning(let text): return textEvent("reasoning", text)
        case .reasoningReplaced(let text): return frame("reasoning", ReasoningReplaced(text: text))
        case .start(let user, let assistant):
            return messagesEvent("start", [("user_message", user), ("assistant_message", assistant)])
        case .done(let message): return messagesEvent("done", [("message", message)])
        case .title(let id, let title): return frame("title", Title(conversationId: id, title: title))
        }
    }

    static func frame(_ name: String, _ payload: some Encodable) -> ByteBuffer {
        // Compact JSON has no raw line breaks (they are escaped), so one data line holds it.
        let json = (try? APICoding.encoder.encode(payload)) ?? Data("{}".utf8)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(json.count + name.utf8.count + 16)
        buffer.writeString("event: \(name)\ndata: ")
        buffer.writeBytes(json)
        buffer.writeString("\n\n")
        return buffer
    }

    /// `event: NAME` with an object of messages (`null` for nil), written by hand as `MessageDTO.writeJSON` writes
    /// them: `start` comes before every answer's first piece (the encoder took ~0.05 ms), `done` after its last.
    /// The same JSON as the encoder writes for these `MessageDTO`s (`WireFormatTests`).
    static func messagesEvent(_ name: StaticString, _ messages: [(key: StaticString, message: Message?)]) -> ByteBuffer
    {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(512 + messages.reduce(0) { $0 + ($1.message?.content.utf8.count ?? 0) })
        buffer.writeStaticString("event: ")
        buffer.writeStaticString(name)
        buffer.writeStaticString("\ndata: {")
        for (index, (key, message)) in messages.enumerated() {
            if index > 0 { buffer.writeStaticString(",") }
            buffer.writeStaticString("\"")
            buffer.writeStaticString(key)
            buffer.writeStaticString("\":")
            if let message { MessageDTO(message).writeJSON(to: &buffer) } else { buffer.writeStaticString("null") }
        }
        buffer.writeStaticString("}\n\n")
        return buffer
    }

    /// `event: NAME` with `{"text":"…"}`, escaped by hand: this runs once per token.
    static func textEvent(_ name: StaticString, _ text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(text.utf8.count + 44)
        buffer.writeStaticString("event: ")
        buffer.writeStaticString(name)
        buffer.writeStaticString("\ndata: {\"text\":\"")
        buffer.writeJSONEscaped(text)
        buffer.writeStaticString("\"}\n\n")
        return buffer
    }
}

extension SSE {
    /// Writes a listener's events until it ends: each write takes everything that queued up meanwhile, and pieces
    /// of the answer (or its reasoning) are written at most once per slot of `grid` (`interval` apart, the same
    /// ticks for every stream). Pieces that come in the slot of the last write of pieces wait for the next tick
    /// (`sleep`) and go out together with what arrives meanwhile; pieces that come in a later slot (the first piece,
    /// the pieces of a slow model, those a paced model connection reads at a tick) go at once, without a timer.
    /// Other events (start, done, title) never wait on their own. A zero interval: nothing waits.
    static func relay(
        _ listener: Listener, interval: Duration, now: () -> NIODeadline = { .now() },
        write: (ByteBuffer) async throws -> Void, sleep: (NIODeadline) async -> Void
    ) async throws {
        let grid = TickGrid(interval)
        var lastPieces: UInt64?
        while var events = await listener.next() {
            let pieces = events.contains(where: \.isPiece)
            if pieces, let grid, let last = lastPieces, grid.slot(now()) == last {
                await sleep(grid.tick(after: last))
                events += listener.takePending()
            }
            try await write(frames(events))
            if pieces, let grid { lastPieces = grid.slot(now()) }
        }
    }
}

extension ChatEvent {
    /// A piece of the answer or of its reasoning: what the stream batches.
    var isPiece: Bool {
        switch self {
        case .delta, .reasoning: true
        default: false
        }
    }
}
