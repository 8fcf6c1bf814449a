/// Reads what the relay needs from a `chat.completion.chunk` — `choices[0].delta.content` (or `message.content`),
/// the reasoning in `delta.reasoning_content` (DeepSeek, vLLM, SiliconFlow, DashScope) or `delta.reasoning`
/// (OpenRouter), whether `finish_reason` is set, and a top-level `usage` — in one pass over the bytes, without
/// JSONDecoder: this runs once per token. Everything else in the chunk is skipped. Returns nil for anything unusual (not an object,
/// an `error` member, bad JSON, nesting deeper than `maxDepth`), and the caller then decodes the chunk properly to say
/// what is wrong.
enum ChunkScanner {
    struct Chunk: Equatable {
        var content: String?
        var finished = false
        /// `reasoning_content`, else `reasoning` (a provider that sends both sends the same text twice).
        var reasoning: String?
        /// `usage.prompt_tokens` and `usage.completion_tokens`, when both are numbers.
        var usage: TokenUsage?

        init(content: String? = nil, finished: Bool = false, reasoning: String? = nil, usage: TokenUsage? = nil) {
            self.content = content
            self.finished = finished
            self.reasoning = reasoning
            self.usage = usage
        }
    }

    /// The scan recurses once per nested `{`/`[`: without a bound, one hostile chunk `[[[[…` a megabyte deep
    /// overflows the thread's stack and kills the server. A real chunk nests 4 levels; 64 leaves room for any
    /// provider's extras. Deeper chunks go to the caller's decoder, which has its own bound (see `JSONDepth`).
    static let maxDepth = 64

    static func scan(_ bytes: UnsafeRawBufferPointer) -> Chunk? {
        var reader = Reader(bytes: bytes)
        var chunk = Chunk()
        let ok = reader.object { reader, key in
            switch key {
            case .choices: return reader.firstChoice(into: &chunk)
            case .usage: return reader.usage(into: &chunk)
            case .error: return false
            default: return reader.skipValue()
            }
        }
        guard ok else { return nil }
        reader.skipWhitespace()
        return reader.atEnd ? chunk : nil
    }
}

private enum Key {
    case choices, error, delta, message, content, finishReason, reasoningContent, reasoning, usage
    case promptTokens, completionTokens, other
}

private struct Reader {
    let bytes: UnsafeRawBufferPointer
    var index = 0
    /// Objects and arrays open around the reader (bounded by `ChunkScanner.maxDepth`).
    var depth = 0

    var atEnd: Bool { index >= bytes.count }

    mutating func skipWhitespace() {
        while index < bytes.count,
            bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09
        {
            index += 1
        }
    }

    mutating func take(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// `{ "key": value, … }`, calling `member` for each key with the reader at its value.
    mutating func object(_ member: (inout Reader, Key) -> Bool) -> Bool {
        guard take(UInt8(ascii: "{")), enter() else { return false }
        defer { depth -= 1 }
        if take(UInt8(ascii: "}")) { return true }
        repeat {
            skipWhitespace()
            guard let key = key(), take(UInt8(ascii: ":")), member(&self, key) else { return false }
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "}"))
    }

    /// One level deeper; false past `ChunkScanner.maxDepth` (the caller then gives up on the chunk).
    private mutating func enter() -> Bool {
        guard depth < ChunkScanner.maxDepth else { return false }
        depth += 1
        return true
    }

    /// `choices`: an array whose first element is read; the rest are skipped.
    mutating func firstChoice(into chunk: inout ChunkScanner.Chunk) -> Bool {
        if take(UInt8(ascii: "n")) { return literal("ull") }
        guard take(UInt8(ascii: "[")), enter() else { return false }
        defer { depth -= 1 }
        if take(UInt8(ascii: "]")) { return true }
        var first = true
        repeat {
            if first {
                var delta = Texts(), message = Texts()
                let ok = object { reader, key in
                    switch key {
                    case .delta: return reader.contentObject(&delta)
                    case .message: return reader.contentObject(&message)
                    case .finishReason:
                        reader.skipWhitespace()
                        if reader.index < reader.bytes.count, reader.bytes[reader.index] == UInt8(ascii: "n") {
                            return reader.skipValue()
                        }
                        chunk.finished = true
                        return reader.skipValue()
                    default: return reader.skipValue()
                    }
                }
                guard ok else { return false }
                chunk.content = delta.content ?? message.content
                chunk.reasoning = delta.reasoning ?? message.reasoning
                first = false
            } else if !skipValue() {
                return false
            }
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "]"))
    }

    /// The texts of a `delta` or `message`.
    struct Texts {
        var content: String?
        var reasoningContent: String?
        var reasoningOther: String?
        /// `reasoning_content`, else `reasoning`; empty strings count as none.
        var reasoning: String? {
            if let reasoningContent, !reasoningContent.isEmpty { return reasoningContent }
            if let reasoningOther, !reasoningOther.isEmpty { return reasoningOther }
            return nil
        }
    }

    /// `{"content": "…" | null, "reasoning_content": "…" | null, "reasoning": "…" | null, …}` or null.
    mutating func contentObject(_ texts: inout Texts) -> Bool {
        if take(UInt8(ascii: "n")) { return literal("ull") }
        return object { reader, key in
            switch key {
            case .content: return reader.optionalString(&texts.content)
            case .reasoningContent: return reader.optionalString(&texts.reasoningContent)
            case .reasoning: return reader.optionalString(&texts.reasoningOther)
            default: return reader.skipValue()
            }
        }
    }

    /// A string or null.
    mutating func optionalString(_ value: inout String?) -> Bool {
        if take(UInt8(ascii: "n")) { return literal("ull") }
        guard let text = string() else { return false }
        value = text
        return true
    }

    /// `usage`: `{"prompt_tokens": N, "completion_tokens": M, …}` or null; other members are skipped.
    mutating func usage(into chunk: inout ChunkScanner.Chunk) -> Bool {
        if take(UInt8(ascii: "n")) { return literal("ull") }
        var prompt: Int?, completion: Int?
        let ok = object { reader, key in
            switch key {
            case .promptTokens: return reader.integer(&prompt)
            case .completionTokens: return reader.integer(&completion)
            default: return reader.skipValue()
            }
        }
        guard ok else { return false }
        if let prompt, let completion { chunk.usage = TokenUsage(promptTokens: prompt, completionTokens: completion) }
        return true
    }

    /// A non-negative integer into `value`; any other value (a float, a negative or huge number, null) is skipped
    /// and leaves `value` nil.
    mutating func integer(_ value: inout Int?) -> Bool {
        skipWhitespace()
        let start = index
        while index < bytes.count, Self.isNumberByte(bytes[index]) { index += 1 }
        guard index > start else { return skipValue() }
        let raw = bytes[start..<index]
        guard raw.count <= 18, raw.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            return true
        }
        value = raw.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        return true
    }

    mutating func key() -> Key? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        let start = index + 1
        guard skipString() else { return nil }
        let name = UnsafeRawBufferPointer(rebasing: bytes[start..<(index - 1)])
        switch name.count {
        case 5 where name.elementsEqual("error".utf8): return .error
        case 5 where name.elementsEqual("usage".utf8): return .usage
        case 9 where name.elementsEqual("reasoning".utf8): return .reasoning
        case 13 where name.elementsEqual("prompt_tokens".utf8): return .promptTokens
        case 17 where name.elementsEqual("reasoning_content".utf8): return .reasoningContent
        case 17 where name.elementsEqual("completion_tokens".utf8): return .completionTokens
        case 5 where name.elementsEqual("delta".utf8): return .delta
        case 7 where name.elementsEqual("choices".utf8): return .choices
        case 7 where name.elementsEqual("message".utf8): return .message
        case 7 where name.elementsEqual("content".utf8): return .content
        case 13 where name.elementsEqual("finish_reason".utf8): return .finishReason
        default: return .other
        }
    }

    /// A string value, unescaped. Invalid UTF-8 becomes U+FFFD, as it would in a String.
    mutating func string() -> String? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        let start = index + 1
        var escaped = false
        index += 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""):
                let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
                index += 1
                return escaped ? Self.unescape(raw) : String(decoding: raw, as: UTF8.self)
            case UInt8(ascii: "\\"):
                escaped = true
                index += 2
            case 0..<0x20:
                return nil
            default:
                index += 1
            }
        }
        return nil
    }

    private static func unescape(_ raw: UnsafeRawBufferPointer) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        var pendingHigh: UInt32?
        while i < raw.count {
            let byte = raw[i]
            guard byte == UInt8(ascii: "\\") else {
                if pendingHigh != nil { return nil }
                out.append(byte)
                i += 1
                continue
            }
            guard i + 1 < raw.count else { return nil }
            let kind = raw[i + 1]
            i += 2
            if kind != UInt8(ascii: "u"), pendingHigh != nil { return nil }
            switch kind {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(kind)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                guard i + 4 <= raw.count, let unit = hex4(raw, at: i) else { return nil }
                i += 4
                var scalar: UInt32
                if let high = pendingHigh {
                    guard (0xDC00...0xDFFF).contains(unit) else { return nil }
                    scalar = 0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00)
                    pendingHigh = nil
                } else if (0xD800...0xDBFF).contains(unit) {
                    pendingHigh = unit
                    continue
                } else {
                    scalar = unit
                }
                if (0xDC00...0xDFFF).contains(scalar) { scalar = 0xFFFD }  // a lone low surrogate
                out.append(contentsOf: String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8)
            default:
                return nil
            }
        }
        guard pendingHigh == nil else { return nil }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hex4(_ raw: UnsafeRawBufferPointer, at start: Int) -> UInt32? {
        var value: UInt32 = 0
        for byte in raw[start..<(start + 4)] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    mutating func skipString() -> Bool {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return false }
        index += 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""):
                index += 1
                return true
            case UInt8(ascii: "\\"): index += 2
            case 0..<0x20: return false
            default: index += 1
            }
        }
        return false
    }

    mutating func literal(_ rest: StaticString) -> Bool {
        let count = rest.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        for offset in 0..<count where bytes[index + offset] != rest.utf8Start[offset] { return false }
        index += count
        return true
    }

    /// Any JSON value, not looked at.
    mutating func skipValue() -> Bool {
        skipWhitespace()
        guard index < bytes.count else { return false }
        switch bytes[index] {
        case UInt8(ascii: "\""): return skipString()
        case UInt8(ascii: "{"): return object { reader, _ in reader.skipValue() }
        case UInt8(ascii: "["):
            index += 1
            guard enter() else { return false }
            defer { depth -= 1 }
            if take(UInt8(ascii: "]")) { return true }
            repeat { guard skipValue() else { return false } } while take(UInt8(ascii: ","))
            return take(UInt8(ascii: "]"))
        case UInt8(ascii: "t"):
            index += 1
            return literal("rue")
        case UInt8(ascii: "f"):
            index += 1
            return literal("alse")
        case UInt8(ascii: "n"):
            index += 1
            return literal("ull")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = index
            while index < bytes.count, Self.isNumberByte(bytes[index]) { index += 1 }
            return index > start
        default: return false
        }
    }

    private static func isNumberByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
            || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e")
            || byte == UInt8(ascii: "E")
    }
}

extension ChunkScanner {
    /// Whether `bytes` open more than `limit` objects/arrays at once (strings skipped), counted in one loop without
    /// recursion, so any input is safe to ask about. Used before a chunk the scan gave up on goes to JSONDecoder:
    /// Foundation bounds nesting itself (512 levels, then it throws; checked with Swift 6.3 on Linux), but the
    /// user then learns more from "nested too deeply" than from "not valid JSON".
    static func nestingExceeds(_ bytes: UnsafeRawBufferPointer, limit: Int) -> Bool {
        var depth = 0
        var inString = false
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                if byte == UInt8(ascii: "\\") {
                    index += 1
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
            } else {
                switch byte {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                    if depth > limit { return true }
                case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
                default: break
                }
            }
            index += 1
        }
        return false
    }
}
