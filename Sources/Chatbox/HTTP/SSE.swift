import Foundation
import NIOCore

/// Server-Sent Events framing: `event: NAME` and one `data:` line of JSON, then a blank line.
enum SSE {
    struct Start: Encodable {
        @NullWhenAbsent var userMessage: MessageDTO?
        let assistantMessage: MessageDTO
    }
    struct Done: Encodable { let message: MessageDTO }
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
                    writeEscaped(text, to: &buffer)
                    index += 1
                }
                buffer.writeStaticString("\"}\n\n")
            case .reasoning:
                buffer.writeStaticString("event: reasoning\ndata: {\"text\":\"")
                while index < events.endIndex, case .reasoning(let text) = events[index] {
                    writeEscaped(text, to: &buffer)
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
            return frame(
                "start", Start(userMessage: user.map(MessageDTO.init), assistantMessage: MessageDTO(assistant)))
        case .done(let message): return frame("done", Done(message: MessageDTO(message)))
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

    /// `event: NAME` with `{"text":"…"}`, escaped by hand: this runs once per token.
    static func textEvent(_ name: StaticString, _ text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(text.utf8.count + 44)
        buffer.writeStaticString("event: ")
        buffer.writeStaticString(name)
        buffer.writeStaticString("\ndata: {\"text\":\"")
        writeEscaped(text, to: &buffer)
        buffer.writeStaticString("\"}\n\n")
        return buffer
    }

    /// `text` as the inside of a JSON string: `"`, `\\` and control characters escaped, everything else as is. Runs
    /// that need no escaping are copied whole (this writes every message of a conversation's JSON too).
    static func writeEscaped(_ text: String, to buffer: inout ByteBuffer) {
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[start..<index]))
                start = index + 1
                switch byte {
                case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
                case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
                case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
                case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
                case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
                default:
                    buffer.writeStaticString("\\u00")
                    buffer.writeInteger((byte >> 4) + UInt8(ascii: "0"))  // 0 or 1
                    let low = byte & 0xF
                    buffer.writeInteger(low < 10 ? UInt8(ascii: "0") + low : UInt8(ascii: "a") + low - 10)
                }
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[start...]))
        }
    }
}

extension SSE {
    /// Writes a listener's events until it ends: each write takes everything that queued up meanwhile, and pieces
    /// of the answer (or its reasoning) are written at most once per `interval`. Pieces that come sooner than
    /// `interval` after the last write of pieces wait out the rest of it (`sleep`) and go out together with what
    /// arrives meanwhile; pieces that come later (the first piece, the pieces of a slow model) go at once, without
    /// a timer. Other events (start, done, title) never wait on their own.
    static func relay(
        _ listener: Listener, interval: Duration, now: () -> ContinuousClock.Instant = { .now },
        write: (ByteBuffer) async throws -> Void, sleep: (Duration) async -> Void
    ) async throws {
        var lastPieces: ContinuousClock.Instant?
        while var events = await listener.next() {
            let pieces = events.contains(where: \.isPiece)
            if pieces, let last = lastPieces {
                let wait = interval - (now() - last)
                if wait > .zero {
                    await sleep(wait)
                    events += listener.takePending()
                }
            }
            try await write(frames(events))
            if pieces { lastPieces = now() }
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
