import Testing

@testable import Chatbox

@Suite("LLM: ThinkSplitter (a leading <think>…</think> in the content)")
struct LLMThinkSplitterTests {
    /// What the outputs add up to: the reasoning and the answer as the page would show them (an
    /// `.answerWasReasoning` moves the answer so far into the reasoning), and how many such moves came.
    struct Shown: Equatable, CustomStringConvertible {
        var reasoning = ""
        var answer = ""
        var moves = 0
        var description: String {
            "reasoning=\(reasoning.debugDescription) answer=\(answer.debugDescription) moves=\(moves)"
        }
    }

    static func run(_ pieces: [String]) -> (Shown, [ModelOutput]) {
        var splitter = ThinkSplitter()
        var outputs: [ModelOutput] = []
        for piece in pieces { splitter.feed(piece) { outputs.append($0) } }
        splitter.finish { outputs.append($0) }
        var shown = Shown()
        for output in outputs {
            switch output {
            case .reasoning(let text): shown.reasoning += text
            case .answer(let text): shown.answer += text
            case .answerWasReasoning:
                shown.reasoning += shown.answer
                shown.answer = ""
                shown.moves += 1
            case .usage: break
            }
        }
        return (shown, outputs)
    }

    /// `text` cut at every pair of byte positions (ASCII text), three pieces each.
    static func everySplit(of text: String) -> [[String]] {
        let bytes = Array(text.utf8)
        var result: [[String]] = [[text]]
        for i in 0...bytes.count {
            for j in i...bytes.count {
                result.append([
                    String(decoding: bytes[..<i], as: UTF8.self), String(decoding: bytes[i..<j], as: UTF8.self),
                    String(decoding: bytes[j...], as: UTF8.self)
                ])
            }
        }
        return result
    }

    @Test("a leading think block is reasoning, then the answer without the blank lines after </think>")
    func leadingBlock() {
        let (shown, outputs) = Self.run(["<think>\nLet me see.\n</think>\n\nHello!"])
        #expect(shown == Shown(reasoning: "Let me see.\n", answer: "Hello!"))
        #expect(outputs.first == .reasoning("Let me see.\n"))
    }

    @Test("the tags split at every byte position still give the same reasoning and answer")
    func everySplitPosition() {
        let text = "  <think>Plan: a<b.</think>\n\nAnswer <b>bold</b>"
        for pieces in Self.everySplit(of: text) {
            let (shown, _) = Self.run(pieces)
            #expect(shown == Shown(reasoning: "Plan: a<b.", answer: "Answer <b>bold</b>"), "\(pieces)")
        }
    }

    @Test("reasoning comes before any answer, whatever the cut")
    func reasoningFirst() {
        for pieces in Self.everySplit(of: "<think>ab</think>cd") {
            let (_, outputs) = Self.run(pieces)
            let firstAnswer = outputs.firstIndex { if case .answer = $0 { true } else { false } } ?? outputs.count
            let lastReasoning = outputs.lastIndex { if case .reasoning = $0 { true } else { false } } ?? -1
            #expect(lastReasoning < firstAnswer, "\(pieces)")
        }
    }

    @Test("a missing opening tag: at </think> the answer so far becomes reasoning, at every split position")
    func missingOpeningTag() {
        let text = "I should greet.\n</think>\n\nHi there"
        for pieces in Self.everySplit(of: text) {
            let (shown, outputs) = Self.run(pieces)
            #expect(shown == Shown(reasoning: "I should greet.\n", answer: "Hi there", moves: 1), "\(pieces)")
            #expect(outputs.filter { $0 == .answerWasReasoning }.count == 1)
        }
    }

    @Test("a </think> inside inline code or a code block is the answer speaking of it, at every split position")
    func closingTagInCode() {
        let inline = "Reasoning models end their thoughts with `</think>`, then answer. Later </think> too."
        for pieces in Self.everySplit(of: inline) {
            let (shown, outputs) = Self.run(pieces)
            #expect(shown == Shown(answer: inline), "\(pieces)")
            #expect(!outputs.contains(.answerWasReasoning))
        }
        let fenced = "Example:\n```\n<think>plan</think>\nanswer\n```\nDone."
        #expect(Self.run([fenced]).0 == Shown(answer: fenced))
        #expect(Self.run(["Example:\n```xml\n<thi", "nk>a</th", "ink>\n```"]).0.moves == 0)
        // Code closed before the tag: the tag is outside it, and means what it means without code.
        let after = "I will use `code`.\n</think>\n\nHi"
        #expect(Self.run([after]).0 == Shown(reasoning: "I will use `code`.\n", answer: "Hi", moves: 1))
    }

    @Test("content without any tag is the answer, unchanged, and a lone < is only held until the next piece")
    func plainAnswer() {
        let (shown, outputs) = Self.run(["Hello ", "world", " 1 <", " 2"])
        #expect(shown == Shown(answer: "Hello world 1 < 2"))
        #expect(outputs == [.answer("Hello "), .answer("world"), .answer(" 1 "), .answer("< 2")])
        #expect(Self.run(["a <"]).0 == Shown(answer: "a <"), "finish flushes a held partial tag")
        #expect(Self.run(["  "]).0 == Shown(answer: "  "), "whitespace alone stays the answer")
        #expect(Self.run(["<thi"]).0 == Shown(answer: "<thi"))
    }

    @Test("only the first block at the start is special: later tags are answer text")
    func laterTagsAreAnswer() {
        let (shown, _) = Self.run(["<think>r</think>", "Use <think> and </think> tags."])
        #expect(shown == Shown(reasoning: "r", answer: "Use <think> and </think> tags."))
        let (late, _) = Self.run(["Say <think>x</think> please"])
        #expect(late == Shown(reasoning: "Say <think>x", answer: "please", moves: 1), "a </think> before any block")
    }

    @Test("an unfinished think block is all reasoning; an empty one gives only the answer")
    func unfinishedAndEmpty() {
        #expect(Self.run(["<think>still thinking </th"]).0 == Shown(reasoning: "still thinking </th"))
        #expect(Self.run(["<think></think>", "\n", "Answer"]).0 == Shown(answer: "Answer"))
    }

    @Test("reasoning from a field of its own turns the splitter off: content is answer")
    func reasoningElsewhere() {
        var splitter = ThinkSplitter()
        var outputs: [ModelOutput] = []
        splitter.reasoningArrivedElsewhere { outputs.append($0) }
        splitter.feed("done </think> text") { outputs.append($0) }
        splitter.finish { outputs.append($0) }
        #expect(outputs == [.answer("done </think> text")])
    }

    @Test("multi-byte text around the tags is kept whole")
    func unicode() {
        let (shown, _) = Self.run(["<think>思考😀", "</thi", "nk>\n答案é"])
        #expect(shown == Shown(reasoning: "思考😀", answer: "答案é"))
    }
}
