import Foundation
import NIOCore
import Testing

@testable import Chatbox

@Suite("LLM: SSE parser")
struct LLMSSEParserTests {
    /// Feeds `text` cut into the given chunk sizes (cycled) and returns every event, including `finish()`'s.
    private func parse(_ text: String, chunkSizes: [Int]? = nil, finish: Bool = false) -> [SSEEvent] {
        let bytes = Array(text.utf8)
        var parser = SSEParser()
        var events: [SSEEvent] = []
        var offset = 0
        var index = 0
        while offset < bytes.count {
            let size = chunkSizes.map { $0[index % $0.count] } ?? bytes.count
            let end = min(offset + size, bytes.count)
            events += parser.feed(ByteBuffer(bytes: bytes[offset..<end]))
            offset = end
            index += 1
        }
        if finish, let last = parser.finish() { events.append(last) }
        return events
    }

    private let sample = "data: one\n\n: comment\nevent: update\nid: 7\ndata: two\ndata: lines\n\ndata: 你好 ✓ 🎉\n\n"
    private var expected: [SSEEvent] {
        [
            SSEEvent(data: "one"), SSEEvent(event: "update", data: "two\nlines", id: "7"),
            SSEEvent(data: "你好 ✓ 🎉", id: "7")
        ]
    }

    @Test("LF, CRLF and CR line endings give the same events")
    func lineEndings() {
        #expect(parse(sample) == expected)
        #expect(parse(sample.replacingOccurrences(of: "\n", with: "\r\n")) == expected)
        #expect(parse(sample.replacingOccurrences(of: "\n", with: "\r")) == expected)
    }

    @Test("one-byte chunks give the same events for every line ending, UTF-8 included")
    func oneByteChunks() {
        for ending in ["\n", "\r\n", "\r"] {
            #expect(parse(sample.replacingOccurrences(of: "\n", with: ending), chunkSizes: [1]) == expected)
        }
    }

    @Test("every two-piece split of the stream gives the same events")
    func everySplitPoint() {
        let crlf = sample.replacingOccurrences(of: "\n", with: "\r\n")
        let count = crlf.utf8.count
        for cut in 1..<count {
            #expect(parse(crlf, chunkSizes: [cut, count]) == expected, "cut at \(cut)")
        }
    }

    @Test("a CRLF split across two chunks ends one line, not two")
    func crlfSplitAcrossChunks() {
        var parser = SSEParser()
        #expect(parser.feed(Array("data: a\r".utf8)).isEmpty)
        #expect(parser.feed(Array("\ndata: b\r".utf8)).isEmpty)  // if \n were a blank line, "a" would dispatch here
        #expect(parser.feed(Array("\n\r\n".utf8)) == [SSEEvent(data: "a\nb")])
    }

    @Test("a CR at the end of a chunk followed by a non-LF byte still ends the line")
    func crThenOtherByte() {
        var parser = SSEParser()
        #expect(parser.feed(Array("data: a\r".utf8)).isEmpty)
        #expect(parser.feed(Array("\r".utf8)) == [SSEEvent(data: "a")])
    }

    @Test("a UTF-8 character split across chunks is kept whole")
    func utf8SplitAcrossChunks() {
        let bytes = Array("data: 你好🎉\n\n".utf8)
        var parser = SSEParser()
        var events: [SSEEvent] = []
        for i in bytes.indices { events += parser.feed([bytes[i]]) }
        #expect(events == [SSEEvent(data: "你好🎉")])
    }

    @Test("comments and keep-alives produce no events")
    func comments() {
        #expect(parse(": keep-alive\n\n:\n\n: another\r\n\r\n").isEmpty)
        #expect(parse(": ping\ndata: x\n: pong\n\n") == [SSEEvent(data: "x")])
    }

    @Test("multi-line data joins with newlines and keeps empty lines")
    func multiLineData() {
        #expect(parse("data: a\ndata:\ndata: c\n\n") == [SSEEvent(data: "a\n\nc")])
        #expect(parse("data:\n\n") == [SSEEvent(data: "")])
    }

    @Test("only one space after the colon is removed; no colon means an empty value")
    func fieldParsing() {
        #expect(parse("data:x\n\n") == [SSEEvent(data: "x")])
        #expect(parse("data:  two spaces\n\n") == [SSEEvent(data: " two spaces")])
        #expect(parse("data\n\n") == [SSEEvent(data: "")])
        #expect(parse("data: a:b:c\n\n") == [SSEEvent(data: "a:b:c")])
    }

    @Test("event type resets after each event while the last id carries over")
    func eventAndID() {
        let events = parse("event: a\nid: 1\ndata: x\n\ndata: y\n\nid: 2\nevent: b\ndata: z\n\n")
        #expect(
            events == [
                SSEEvent(event: "a", data: "x", id: "1"), SSEEvent(data: "y", id: "1"),
                SSEEvent(event: "b", data: "z", id: "2")
            ])
    }

    @Test("an event without data, retry and unknown fields are ignored")
    func ignoredFields() {
        #expect(parse("event: lonely\n\nretry: 100\nfoo: bar\n\n").isEmpty)
        #expect(parse("retry: 5\nfoo: bar\ndata: kept\n\n") == [SSEEvent(data: "kept")])
    }

    @Test("a leading byte-order mark is skipped, even split across chunks")
    func byteOrderMark() {
        #expect(parse("\u{FEFF}data: x\n\n", chunkSizes: [1]) == [SSEEvent(data: "x")])
    }

    @Test("finish() completes an event whose blank line or newline never came")
    func finishPendingEvent() {
        #expect(parse("data: a\n\ndata: [DONE]", finish: true) == [SSEEvent(data: "a"), SSEEvent(data: "[DONE]")])
        #expect(parse("data: [DONE]\n", finish: true) == [SSEEvent(data: "[DONE]")])
        #expect(parse("data: a\n\n", finish: true) == [SSEEvent(data: "a")])
    }

    @Test("the raw API hands out data bytes and recognises [DONE]")
    func rawAPI() {
        var parser = SSEParser()
        var raw: [SSERawEvent] = []
        parser.feed(ByteBuffer(string: "data: {\"a\":1}\n\ndata: [DONE]\n\n")) { raw.append($0) }
        #expect(raw.count == 2)
        #expect(raw[0].data == Data("{\"a\":1}".utf8))
        #expect(!raw[0].dataEquals("[DONE]"))
        #expect(raw[1].dataEquals("[DONE]"))
    }

    @Test("a large data line spread over many chunks arrives intact")
    func largeLine() {
        let big = String(repeating: "abcdefghij", count: 100_000)
        #expect(parse("data: \(big)\n\n", chunkSizes: [4096, 1, 7]) == [SSEEvent(data: big)])
    }
}
