import Foundation
import NIOCore

/// One Server-Sent Event, as the convenience API of `SSEParser` hands it out.
public struct SSEEvent: Sendable, Equatable {
    /// The `event:` field of this event, or nil when it had none (a browser would call it "message").
    public var event: String?
    /// The `data:` lines joined with "\n".
    public var data: String
    /// The last event ID seen so far in the stream (it carries over to later events, as in browsers).
    public var id: String?

    public init(event: String? = nil, data: String, id: String? = nil) {
        self.event = event
        self.data = data
        self.id = id
    }
}

/// An event whose data is still raw UTF-8 bytes: the hot path decodes JSON straight from them without a `String`.
public struct SSERawEvent: Sendable {
    public var event: String?
    public var data: Data
    public var id: String?

    /// True when the data is exactly `s` (e.g. `[DONE]`), compared byte by byte.
    public func dataEquals(_ s: StaticString) -> Bool {
        guard data.count == s.utf8CodeUnitCount else { return false }
        return s.withUTF8Buffer { data.elementsEqual($0) }
    }
}

/// Incremental Server-Sent Events parser (WHATWG rules): feed it byte chunks cut anywhere, get complete events.
///
/// - Lines end with CR, LF or CRLF, and a CRLF split across two chunks counts once.
/// - Bytes are kept until their line ends, so a UTF-8 character split across chunks is never corrupted.
/// - `:` lines are comments (keep-alives) and ignored; several `data:` lines join with "\n"; one space after the
///   colon is dropped; `event:` and `id:` are kept, `retry:` and unknown fields ignored; a leading BOM is skipped.
/// - An event is dispatched at a blank line and only if it had a `data:` line.
/// - With limits (`SSEParser(limits: .model)`), a line or an event's data growing past them stops the parser:
///   `overflow` says which, and every later byte is ignored. Without limits (the default, for streams we trust,
///   such as our own server's in tests), buffers grow as needed.
public struct SSEParser: Sendable {
    /// The most bytes one line and one event's data (its `data:` lines joined) may hold.
    public struct Limits: Sendable, Equatable {
        public var lineBytes: Int
        public var eventBytes: Int
        public init(lineBytes: Int, eventBytes: Int) {
            self.lineBytes = lineBytes
            self.eventBytes = eventBytes
        }

        /// No limit.
        public static let none = Limits(lineBytes: .max, eventBytes: .max)

        /// For a model's stream. One chunk of a real model is well under 1 KB (one token plus its framing); 4 MiB
        /// leaves room for a model that sends a whole answer in one event (the reliability suite's 1 MiB token,
        /// even with every character escaped), while a hostile model can make the server hold at most ~8 MiB per
        /// answer (an unfinished line plus an event's data) instead of growing until memory runs out.
        public static let model = Limits(lineBytes: 4 << 20, eventBytes: 4 << 20)
    }

    /// What went past the limits.
    public enum Overflow: Sendable, Equatable {
        case line(limit: Int)
        case event(limit: Int)
    }

    public let limits: Limits
    /// Set when a line or an event grew past `limits`; the parser has then stopped.
    public private(set) var overflow: Overflow?

    private var line: [UInt8] = []  // the current line while it spans chunks
    private var pendingCR = false  // the previous chunk ended with CR: a leading LF belongs to it
    private var firstLine = true  // a UTF-8 BOM may start the stream
    private var data = Data()
    private var hasData = false
    private var eventType: String?
    private var lastEventID: String?

    public init(limits: Limits = .none) {
        self.limits = limits
    }

    /// Feeds one chunk and returns the events it completed.
    public mutating func feed(_ buffer: ByteBuffer) -> [SSEEvent] {
        var out: [SSEEvent] = []
        feed(buffer) { out.append(SSEEvent(raw: $0)) }
        return out
    }

    /// Feeds raw bytes (handy in tests) and returns the events they completed.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [SSEEvent] {
        feed(ByteBuffer(bytes: Array(bytes)))
    }

    /// Feeds one chunk and calls `onEvent` for each completed event, data as raw bytes (no `String` is built).
    /// If `onEvent` throws, parsing stops there and the error is rethrown; the parser should then be dropped.
    public mutating func feed(_ buffer: ByteBuffer, onEvent: (SSERawEvent) throws -> Void) rethrows {
        try buffer.withUnsafeReadableBytes { bytes in
            try self.scan(bytes, onEvent: onEvent)
        }
    }

    /// End of stream. Strictly, an event without its closing blank line is dropped; servers do sometimes end with
    /// `data: [DONE]` and no newline, so this treats the unfinished line and event as complete and returns it.
    public mutating func finish() -> SSEEvent? {
        var result: SSEEvent?
        finish { result = SSEEvent(raw: $0) }
        return result
    }

    /// `finish()` for the raw API.
    public mutating func finish(onEvent: (SSERawEvent) throws -> Void) rethrows {
        guard overflow == nil else { return }
        if !line.isEmpty {
            var current: [UInt8] = []
            swap(&current, &line)
            _ = current.withUnsafeBytes { processLine($0) }
        }
        pendingCR = false
        if let event = takeEvent() { try onEvent(event) }
    }

    // MARK: - Scanning

    private mutating func scan(_ bytes: UnsafeRawBufferPointer, onEvent: (SSERawEvent) throws -> Void) rethrows {
        guard overflow == nil else { return }
        let n = bytes.count
        var i = 0
        if pendingCR, n > 0 {
            pendingCR = false
            if bytes[0] == 0x0A { i = 1 }
        }
        while i < n {
            var j = i
            while j < n {
                let b = bytes[j]
                if b == 0x0A || b == 0x0D { break }
                j += 1
            }
            // Overflow-safe: both counts are sizes of buffers in memory.
            guard line.count + (j - i) <= limits.lineBytes else { return stop(.line(limit: limits.lineBytes)) }
            if j == n {  // the line goes on in the next chunk: keep its bytes
                line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<n]))
                return
            }
            let dispatch: Bool
            if line.isEmpty {
                dispatch = processLine(UnsafeRawBufferPointer(rebasing: bytes[i..<j]))
            } else {
                line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<j]))
                var current: [UInt8] = []
                swap(&current, &line)  // lets processLine mutate self while reading the line
                dispatch = current.withUnsafeBytes { processLine($0) }
                current.removeAll(keepingCapacity: true)
                swap(&current, &line)
            }
            if bytes[j] == 0x0D {
                if j + 1 < n {
                    i = bytes[j + 1] == 0x0A ? j + 2 : j + 1
                } else {
                    pendingCR = true
                    i = j + 1
                }
            } else {
                i = j + 1
            }
            if overflow != nil {
                line = []  // the swap above gave the stopped line's buffer back
                return
            }
            if dispatch, let event = takeEvent() { try onEvent(event) }
        }
    }

    /// Stops the parser for good and lets go of what it held.
    private mutating func stop(_ reason: Overflow) {
        overflow = reason
        line = []
        data = Data()
        hasData = false
    }

    /// Handles one complete line; returns true when it is the blank line that ends an event.
    private mutating func processLine(_ rawLine: UnsafeRawBufferPointer) -> Bool {
        var lineBytes = rawLine
        if firstLine {
            firstLine = false
            if lineBytes.count >= 3, lineBytes[0] == 0xEF, lineBytes[1] == 0xBB, lineBytes[2] == 0xBF {
                lineBytes = UnsafeRawBufferPointer(rebasing: lineBytes[3...])
            }
        }
        if lineBytes.isEmpty { return true }
        if lineBytes[0] == UInt8(ascii: ":") { return false }  // comment / keep-alive
        var name = lineBytes
        var value = UnsafeRawBufferPointer(rebasing: lineBytes[lineBytes.endIndex...])
        if let colon = lineBytes.firstIndex(of: UInt8(ascii: ":")) {
            name = UnsafeRawBufferPointer(rebasing: lineBytes[..<colon])
            var start = colon + 1
            if start < lineBytes.endIndex, lineBytes[start] == UInt8(ascii: " ") { start += 1 }
            value = UnsafeRawBufferPointer(rebasing: lineBytes[start...])
        }
        if Self.equals(name, "data") {
            guard data.count + (hasData ? 1 : 0) + value.count <= limits.eventBytes else {
                stop(.event(limit: limits.eventBytes))
                return false
            }
            if hasData { data.append(0x0A) }
            data.append(contentsOf: value)
            hasData = true
        } else if Self.equals(name, "event") {
            eventType = String(decoding: value, as: UTF8.self)
        } else if Self.equals(name, "id") {
            if !value.contains(0) { lastEventID = String(decoding: value, as: UTF8.self) }
        }
        return false
    }

    private mutating func takeEvent() -> SSERawEvent? {
        defer {
            eventType = nil
            hasData = false
            data = Data()
        }
        guard hasData else { return nil }
        return SSERawEvent(event: eventType, data: data, id: lastEventID)
    }

    private static func equals(_ bytes: UnsafeRawBufferPointer, _ s: StaticString) -> Bool {
        bytes.count == s.utf8CodeUnitCount && s.withUTF8Buffer { bytes.elementsEqual($0) }
    }
}

extension SSEEvent {
    init(raw: SSERawEvent) {
        self.init(event: raw.event, data: String(decoding: raw.data, as: UTF8.self), id: raw.id)
    }
}
