@testable import Chatbox
import Foundation
import Testing

@Suite("LLM: reading a chunk without JSONDecoder")
struct LLMChunkScannerTests {
    static func scan(_ json: String) -> ChunkScanner.Chunk? {
        Data(json.utf8).withUnsafeBytes(ChunkScanner.scan)
    }

    /// What JSONDecoder makes of the same chunk, in the scanner's terms.
    static func decoded(_ json: String) -> ChunkScanner.Chunk? {
        guard let chunk = try? JSONDecoder().decode(ChatChunk.self, from: Data(json.utf8)), chunk.error == nil else {
            return nil
        }
        let choice = chunk.choices?.first
        return ChunkScanner.Chunk(
            content: choice?.delta?.content ?? choice?.message?.content, finished: choice?.finish_reason != nil)
    }

    static let chunks = [
        #"{"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
        #"{"id":"c1","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}"#,
        #"{"choices":[{"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}"#,
        #"{"choices":[{"delta":{"content":null},"finish_reason":"length"}]}"#,
        #"{"choices":[]}"#,
        #"{"choices":null,"usage":{"total_tokens":1.5e3,"neg":-0.25,"ok":true,"no":false}}"#,
        #"{ "choices" : [ { "delta" : { "content" : "spaced \u00e9 \ud83d\ude00 \"q\" \\ \/ \n\t\b\f\r" } } ] }"#,
        #"{"choices":[{"delta":{"content":"中文，emoji 😀 and raw UTF-8"}}]}"#,
        #"{"choices":[{"message":{"role":"assistant","content":"a whole answer"},"finish_reason":"stop"}]}"#,
        #"{"choices":[{"delta":{"content":"first"}},{"delta":{"content":"second"},"finish_reason":"stop"}]}"#,
        #"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":[1,2,{}]}"}}]},"finish_reason":null}]}"#,
        #"{"choices":[{"delta":{"content":"x","reasoning_content":"why"},"finish_reason":null,"extra":[[],{},"",0]}]}"#
    ]

    @Test("every usual chunk reads the same as with JSONDecoder", arguments: chunks)
    func sameAsTheDecoder(json: String) throws {
        let scanned = try #require(Self.scan(json))
        #expect(scanned == Self.decoded(json))
    }

    @Test func theUsualChunkGivesItsTextAndTheLastOneItsFinish() {
        #expect(Self.scan(Self.chunks[1]) == ChunkScanner.Chunk(content: "Hello", finished: false))
        #expect(Self.scan(Self.chunks[2]) == ChunkScanner.Chunk(content: nil, finished: true))
        #expect(Self.scan(Self.chunks[6])?.content == "spaced é 😀 \"q\" \\ / \n\t\u{08}\u{0C}\r")
        #expect(Self.scan(Self.chunks[9])?.content == "first", "only the first choice is read")
    }

    @Test(
        "unusual or broken chunks are left to JSONDecoder",
        arguments: [
            #"{"error":{"message":"rate limited"}}"#,
            #"{"choices":[{"delta":{"content":"x"}}],"error":"late"}"#,
            #"{"choices":[{"delta":{"content":"cut"#,
            #"{"choices":[]} trailing"#,
            #"["not an object"]"#,
            #""just a string""#,
            #"{"choices":[{"delta":{"content":"\ud800 lone high surrogate"}}]}"#,
            #"{"choices":[{"delta":{"content":"\q bad escape"}}]}"#,
            "{\"choices\":[{\"delta\":{\"content\":\"raw\nnewline\"}}]}",
            #"{"choices":[{"delta":{"content":5}}]}"#,
            ""
        ])
    func unusualChunksAreNotGuessed(json: String) {
        #expect(Self.scan(json) == nil)
    }
}
