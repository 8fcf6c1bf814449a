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
            content: choice?.delta?.content ?? choice?.message?.content, finished: choice?.finish_reason != nil,
            reasoning: choice?.delta?.reasoningText ?? choice?.message?.reasoningText, usage: chunk.usage?.usage)
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
        #"{"choices":[{"delta":{"content":"x","reasoning_content":"why"},"finish_reason":null,"extra":[[],{},"",0]}]}"#,
        #"{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":"Let me \"think\" \u00e9"},"finish_reason":null}]}"#,
        #"{"choices":[{"delta":{"content":"","reasoning":"OpenRouter style"},"finish_reason":null}]}"#,
        #"{"choices":[{"delta":{"content":"","reasoning_content":"","reasoning":"second field only"}}]}"#,
        #"{"choices":[{"delta":{"reasoning_content":null,"reasoning":null,"content":"answer"}}]}"#,
        #"{"id":"u","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":345,"total_tokens":357,"completion_tokens_details":{"reasoning_tokens":300}}}"#,
        #"{"choices":[],"usage":{"prompt_tokens":1.5,"completion_tokens":3}}"#,
        #"{"choices":[],"usage":null}"#,
        #"{"choices":[{"message":{"content":"m","reasoning_content":"r"},"finish_reason":"stop"}],"usage":{"completion_tokens":2,"prompt_tokens":1}}"#
    ]

    @Test("reasoning in either field and usage are read")
    func reasoningAndUsage() throws {
        #expect(Self.scan(Self.chunks[12]) == ChunkScanner.Chunk(reasoning: "Let me \"think\" é"))
        #expect(Self.scan(Self.chunks[13]) == ChunkScanner.Chunk(content: "", reasoning: "OpenRouter style"))
        #expect(Self.scan(Self.chunks[14])?.reasoning == "second field only")
        #expect(Self.scan(Self.chunks[15]) == ChunkScanner.Chunk(content: "answer"))
        #expect(Self.scan(Self.chunks[16])?.usage == TokenUsage(promptTokens: 12, completionTokens: 345))
        #expect(Self.scan(Self.chunks[17]) == ChunkScanner.Chunk(), "a usage that is not whole numbers is left out")
        #expect(Self.scan(Self.chunks[18]) == ChunkScanner.Chunk())
        #expect(
            Self.scan(Self.chunks[19])
                == ChunkScanner.Chunk(
                    content: "m", finished: true, reasoning: "r",
                    usage: TokenUsage(promptTokens: 1, completionTokens: 2)))
    }

    @Test("every usual chunk reads the same as with JSONDecoder", arguments: chunks)
    func sameAsTheDecoder(json: String) throws {
        let scanned = try #require(Self.scan(json))
        #expect(scanned == Self.decoded(json))
    }

    @Test func theUsualChunkGivesItsTextAndTheLastOneItsFinish() {
        #expect(Self.scan(Self.chunks[1]) == ChunkScanner.Chunk(content: "Hello", finished: false))
        #expect(
            Self.scan(Self.chunks[2])
                == ChunkScanner.Chunk(finished: true, usage: TokenUsage(promptTokens: 9, completionTokens: 12)))
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
