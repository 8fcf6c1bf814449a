import Foundation
import Hummingbird

/// One chat request as the fake upstream received it.
public struct FakeRequest: Sendable {
    public struct Message: Sendable, Equatable, CustomStringConvertible {
        public var role: String
        public var content: String
        public init(role: String, content: String) {
            self.role = role
            self.content = content
        }
        public var description: String { "\(role): \(content)" }
    }

    public var model: String
    public var messages: [Message]
    public var stream: Bool
    /// Request headers in the order received, names lower-cased.
    public var headers: [(String, String)]
    /// `temperature`, when the request had one.
    public var temperature: Double?
    /// The request had a `stream_options` member (whatever its value).
    public var hasStreamOptions: Bool
    /// `stream_options.include_usage` was true: a streamed answer ends with a usage chunk.
    public var includeUsage: Bool

    public init(
        model: String, messages: [Message], stream: Bool, headers: [(String, String)] = [],
        temperature: Double? = nil, hasStreamOptions: Bool = false, includeUsage: Bool = false
    ) {
        self.model = model
        self.messages = messages
        self.stream = stream
        self.headers = headers
        self.temperature = temperature
        self.hasStreamOptions = hasStreamOptions
        self.includeUsage = includeUsage
    }

    /// What the fake reports as `prompt_tokens`: the characters of all messages / 4, at least 1.
    public var promptTokens: Int {
        max(messages.reduce(0) { $0 + $1.content.count } / 4, 1)
    }

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.0 == lower }?.1
    }

    /// The content of the last `user` message ("" if none).
    public var lastUserMessage: String {
        messages.last { $0.role == "user" }?.content ?? ""
    }

    /// A request for a conversation title: some system message mentions "title".
    public var isTitleRequest: Bool {
        messages.contains { $0.role == "system" && $0.content.lowercased().contains("title") }
    }
}

/// What the fake upstream answers to one request.
public enum FakeReply: Sendable {
    /// Streams `tokens` as `chat.completion.chunk` events: `firstDelay` before the first token, `delay` before each
    /// later one, then a `finish_reason: "stop"` chunk and `data: [DONE]`. With `delay: .zero` the events still
    /// come one per token but are sent in ~16 KB writes, so that the fake is never a benchmark's bottleneck.
    /// - `dropAfter: n`: after n tokens the connection is closed abruptly (no finish chunk, no [DONE]).
    /// - `hangAfter: n`: after n tokens nothing more is sent; the response stays open until the client leaves.
    case stream(
        tokens: [String], delay: Duration = .zero, firstDelay: Duration = .zero,
        dropAfter: Int? = nil, hangAfter: Int? = nil)
    /// Answers `status` with this body as it is (`application/json` when it starts with `{`, else `text/plain`).
    case status(Int, body: String)
    /// Sends the 200 SSE head, then nothing until the client leaves (a model that never produces a first token).
    case hang
    /// `afterTokens` good tokens, then a `data:` line that is not JSON, then the body ends.
    case malformed(afterTokens: Int)
    /// `afterTokens` good tokens, then an in-stream `{"error":{"message":…}}` event, then the body ends.
    case streamError(afterTokens: Int, message: String)
    /// A non-streamed `chat.completion` JSON document whose message content is `content`.
    case json(content: String)
    /// This exact body with this content type, cut into `chunkSize`-byte writes with `delay` between them.
    case raw(body: String, contentType: String = "text/event-stream", chunkSize: Int? = nil, delay: Duration = .zero)
    /// `afterTokens` good tokens, then something a hostile or broken model might send (see `Hostile`).
    case hostile(Hostile, afterTokens: Int = 3)

    /// A stream with reasoning before the answer, and/or without a usage report (see `FakeStream`).
    case scripted(FakeStream)

    /// Model behaviours that must not crash the server or make it hold unbounded memory.
    public enum Hostile: Sendable, Equatable {
        /// One chunk `{"choices":[{"delta":{"content":"x"},"extra":[[[[…]]]]}]}` nested `depth` levels deep.
        case deepNesting(depth: Int)
        /// A `data:` line that never ends: 64 KiB writes of letters, until the client leaves.
        case endlessLine
        /// An event that never ends: short `data:` lines and no blank line, until the client leaves.
        case endlessEvent
        /// HTTP `status` with a JSON error body that never ends (64 KiB writes), until the client leaves.
        case endlessErrorBody(status: Int)
    }

    /// An OpenAI-style error: `{"error":{"message":…,"type":…,"code":…}}` with the given status.
    public static func error(_ status: Int, message: String, type: String? = nil) -> FakeReply {
        let kind =
            type ?? (status == 429 ? "rate_limit_exceeded" : status >= 500 ? "server_error" : "invalid_request_error")
        var body = ByteBuffer()
        body.writeStaticString("{\"error\":{\"message\":\"")
        ChunkFramer.writeJSONEscaped(message, into: &body)
        body.writeString("\",\"type\":\"\(kind)\",\"param\":null,\"code\":\"\(kind)\"}}")
        return .status(status, body: String(buffer: body))
    }

    /// `count` tokens `word1 `, `word2 `, … (the last without its space), `delay` apart.
    public static func tokens(_ count: Int, delay: Duration = .zero) -> FakeReply {
        .stream(tokens: numberedTokens(count), delay: delay)
    }

    /// `text` cut into word pieces (each keeps its following whitespace), `delay` apart.
    public static func text(_ text: String, delay: Duration = .zero) -> FakeReply {
        .stream(tokens: wordPieces(text), delay: delay)
    }

    public static func numberedTokens(_ count: Int) -> [String] {
        (1...max(count, 1)).prefix(count).map { $0 == count ? "word\($0)" : "word\($0) " }
    }

    /// Splits text into pieces at word starts; joining the pieces gives `text` back exactly.
    public static func wordPieces(_ text: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        for character in text {
            if !character.isWhitespace, let last = current.last, last.isWhitespace {
                pieces.append(current)
                current = ""
            }
            current.append(character)
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces
    }
}

/// A streamed answer in full: reasoning tokens (in one of the three forms providers use), then the answer's tokens,
/// then a `finish_reason` chunk, the usage chunk when the request asked for it (and `usage` is true), `[DONE]`.
/// `.stream` is the same without reasoning.
public struct FakeStream: Sendable {
    /// Where the reasoning goes.
    public enum ReasoningForm: Sendable, Equatable {
        /// In `delta.content`, inside `<think>…</think>` before the answer (Ollama, llama.cpp); `openTag: false`
        /// leaves out `<think>` (an R1 distill whose template put it in the prompt).
        case think(openTag: Bool)
        /// In `delta.reasoning_content` (DeepSeek, vLLM, SiliconFlow, DashScope), with `content: null`.
        case reasoningContent
        /// In `delta.reasoning` (OpenRouter), with `content: ""`.
        case reasoning
    }

    public var tokens: [String]
    public var delay: Duration
    public var firstDelay: Duration
    public var reasoning: [String]
    public var reasoningForm: ReasoningForm
    /// Before each reasoning token after the first (a slow think).
    public var reasoningDelay: Duration
    /// Report usage when the request asks for it (`no_usage`: false).
    public var usage: Bool
    /// After n answer tokens the connection is closed abruptly.
    public var dropAfter: Int?
    /// After n answer tokens nothing more is sent.
    public var hangAfter: Int?

    public init(
        tokens: [String], delay: Duration = .zero, firstDelay: Duration = .zero, reasoning: [String] = [],
        reasoningForm: ReasoningForm = .reasoningContent, reasoningDelay: Duration = .zero, usage: Bool = true,
        dropAfter: Int? = nil, hangAfter: Int? = nil
    ) {
        self.tokens = tokens
        self.delay = delay
        self.firstDelay = firstDelay
        self.reasoning = reasoning
        self.reasoningForm = reasoningForm
        self.reasoningDelay = reasoningDelay
        self.usage = usage
        self.dropAfter = dropAfter
        self.hangAfter = hangAfter
    }

    /// `count` reasoning tokens `thought1 `, `thought2 `, … (the last ends with a full stop).
    public static func reasoningTokens(_ count: Int) -> [String] {
        (1...max(count, 1)).prefix(count).map { $0 == count ? "thought\($0)." : "thought\($0) " }
    }
}

/// Builds the SSE bytes of an OpenAI stream with string templates: no JSON encoder on the per-token path.
struct ChunkFramer {
    private let head: ByteBuffer  // `data: {"id":…,"model":"…","choices":[{"index":0,"delta":{`

    init(model: String) {
        var head = ByteBuffer()
        head.writeStaticString(
            "data: {\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"")
        Self.writeJSONEscaped(model, into: &head)
        head.writeStaticString("\",\"choices\":[{\"index\":0,\"delta\":{")
        self.head = head
    }

    /// A reasoning token in `field` (`reasoning_content` with `content: null`, or `reasoning` with `content: ""`).
    func reasoning(_ text: String, field: FakeStream.ReasoningForm, first: Bool) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(head.readableBytes + text.utf8.count + 80)
        var head = self.head
        buffer.writeBuffer(&head)
        if first { buffer.writeStaticString("\"role\":\"assistant\",") }
        if field == .reasoning {
            buffer.writeStaticString("\"content\":\"\",\"reasoning\":\"")
        } else {
            buffer.writeStaticString("\"content\":null,\"reasoning_content\":\"")
        }
        Self.writeJSONEscaped(text, into: &buffer)
        buffer.writeStaticString("\"},\"finish_reason\":null}]}\n\n")
        return buffer
    }

    /// The `finish_reason: "stop"` chunk, the usage chunk when given, and `[DONE]`.
    func finish(usage: (prompt: Int, completion: Int)?) -> ByteBuffer {
        var buffer = head
        buffer.writeStaticString("},\"finish_reason\":\"stop\"}]}\n\n")
        if let usage {
            buffer.writeStaticString(
                "data: {\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"choices\":[],"
            )
            buffer.writeString(
                "\"usage\":{\"prompt_tokens\":\(usage.prompt),\"completion_tokens\":\(usage.completion),"
                    + "\"total_tokens\":\(usage.prompt + usage.completion)}}\n\n")
        }
        buffer.writeStaticString("data: [DONE]\n\n")
        return buffer
    }

    func token(_ text: String, first: Bool) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(head.readableBytes + text.utf8.count + 64)
        var head = self.head
        buffer.writeBuffer(&head)
        if first { buffer.writeStaticString("\"role\":\"assistant\",") }
        buffer.writeStaticString("\"content\":\"")
        Self.writeJSONEscaped(text, into: &buffer)
        buffer.writeStaticString("\"},\"finish_reason\":null}]}\n\n")
        return buffer
    }

    func finish() -> ByteBuffer {
        var buffer = head
        buffer.writeStaticString("},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
        return buffer
    }

    static func streamError(_ message: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeStaticString("data: {\"error\":{\"message\":\"")
        writeJSONEscaped(message, into: &buffer)
        buffer.writeStaticString("\",\"type\":\"server_error\"}}\n\n")
        return buffer
    }

    /// A non-streamed `chat.completion`; `reasoning` goes into `message.reasoning_content` or `message.reasoning`
    /// (a `.think` form puts it into the content, inside `<think>…</think>`).
    static func completion(
        model: String, content: String, reasoning: String? = nil, form: FakeStream.ReasoningForm = .reasoningContent,
        usage: (prompt: Int, completion: Int) = (1, 1)
    ) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeStaticString(
            "{\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"")
        writeJSONEscaped(model, into: &buffer)
        buffer.writeStaticString("\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",")
        var content = content
        if let reasoning {
            switch form {
            case .think(let openTag):
                content = (openTag ? "<think>\n" : "") + reasoning + "\n</think>\n\n" + content
            case .reasoningContent, .reasoning:
                buffer.writeString(form == .reasoning ? "\"reasoning\":\"" : "\"reasoning_content\":\"")
                writeJSONEscaped(reasoning, into: &buffer)
                buffer.writeStaticString("\",")
            }
        }
        buffer.writeStaticString("\"content\":\"")
        writeJSONEscaped(content, into: &buffer)
        buffer.writeString(
            "\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":\(usage.prompt),"
                + "\"completion_tokens\":\(usage.completion),\"total_tokens\":\(usage.prompt + usage.completion)}}")
        return buffer
    }

    /// Writes `text` as the inside of a JSON string: `"` `\` and control characters escaped, the rest as UTF-8.
    static func writeJSONEscaped(_ text: String, into buffer: inout ByteBuffer) {
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            for i in 0..<bytes.count {
                let byte = bytes[i]
                guard byte < 0x20 || byte == 0x22 || byte == 0x5C else { continue }
                if start < i {
                    buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start..<i])))
                }
                switch byte {
                case 0x22: buffer.writeStaticString("\\\"")
                case 0x5C: buffer.writeStaticString("\\\\")
                case 0x0A: buffer.writeStaticString("\\n")
                case 0x0D: buffer.writeStaticString("\\r")
                case 0x09: buffer.writeStaticString("\\t")
                case 0x08: buffer.writeStaticString("\\b")
                case 0x0C: buffer.writeStaticString("\\f")
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    buffer.writeBytes([0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
                }
                start = i + 1
            }
            if start < bytes.count {
                buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start...])))
            }
        }
    }
}
