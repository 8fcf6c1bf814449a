import Foundation
import NIOCore

/// Server-Sent Events framing: `event: NAME` and one `data:` line of JSON, then a blank line.
enum SSE {
    struct Start: Encodable {
        let userMessage: MessageDTO?
        let assistantMessage: MessageDTO
        enum CodingKeys: String, CodingKey { case userMessage, assistantMessage }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(userMessage, forKey: .userMessage)
            try container.encode(assistantMessage, forKey: .assistantMessage)
        }
    }
    struct Done: Encodable { let message: MessageDTO }
    struct Title: Encodable {
        let conversationId: Int64
        let title: String
    }

    /// The events in one buffer, for one write. Consecutive `delta`s become one `delta` with their texts joined.
    static func frames(_ events: [ChatEvent]) -> ByteBuffer {
        var buffer = ByteBuffer()
        var index = events.startIndex
        while index < events.endIndex {
            guard case .delta = events[index] else {
                var frame = frame(events[index])
                buffer.writeBuffer(&frame)
                index += 1
                continue
            }
            buffer.writeStaticString("event: delta\ndata: {\"text\":\"")
            while index < events.endIndex, case .delta(let text) = events[index] {
                writeEscaped(text, to: &buffer)
                index += 1
            }
            buffer.writeStaticString("\"}\n\n")
        }
        return buffer
    }

    static func frame(_ event: ChatEvent) -> ByteBuffer {
        switch event {
        case .delta(let text): return delta(text)
        case .start(let user, let assistant):
            return frame("start", Start(userMessage: user.map(MessageDTO.init), assistantMessage: MessageDTO(assistant)))
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

    /// `event: delta` with `{"text":"…"}`, escaped by hand: this runs once per token.
    static func delta(_ text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(text.utf8.count + 40)
        buffer.writeStaticString("event: delta\ndata: {\"text\":\"")
        writeEscaped(text, to: &buffer)
        buffer.writeStaticString("\"}\n\n")
        return buffer
    }

    static func writeEscaped(_ text: String, to buffer: inout ByteBuffer) {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
            case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
            case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
            case 0..<0x20:
                buffer.writeStaticString("\\u00")
                buffer.writeInteger(hex[Int(byte >> 4)])
                buffer.writeInteger(hex[Int(byte & 0xF)])
            default: buffer.writeInteger(byte)
            }
        }
    }
}
