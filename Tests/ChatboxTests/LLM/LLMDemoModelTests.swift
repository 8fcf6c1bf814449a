import Foundation
import Testing

@testable import Chatbox

@Suite("LLM: demo model")
struct LLMDemoModelTests {
    private let model = DemoModel(tokenDelay: .zero)

    @Test("the demo says what it is, how to configure a real model, and quotes the question")
    func englishReply() async throws {
        let result = await LLMTest.drain(
            model.streamAnswer(to: [ChatMessage(role: .user, content: "What can you do?")]))
        #expect(result.error == nil)
        let text = result.text
        #expect(text.contains("built-in demo model"))
        for setting in ["CHATBOX_LLM_BASE_URL", "CHATBOX_LLM_MODEL", "CHATBOX_LLM_API_KEY", "CHATBOX_LLM_COMMAND"] {
            #expect(text.contains(setting))
        }
        #expect(text.contains("> What can you do?"))
        #expect(model.displayName == "demo")
    }

    @Test("the reply shows off Markdown: a table, a fenced code block, inline and display math")
    func markdownFeatures() async throws {
        let text = await LLMTest.drain(model.streamAnswer(to: [ChatMessage(role: .user, content: "hi")])).text
        #expect(text.contains("|---|---|---|"))
        #expect(text.contains("```swift\n"))
        #expect(text.components(separatedBy: "```").count == 3)
        #expect(text.contains("$e^{i\\pi} + 1 = 0$"))
        #expect(text.contains("\n$$\\int"))
    }

    @Test("a Chinese question gets a Chinese answer")
    func chineseReply() async throws {
        let text = await LLMTest.drain(model.streamAnswer(to: [ChatMessage(role: .user, content: "你好，你是谁？")])).text
        #expect(text.contains("演示模型"))
        #expect(text.contains("> 你好，你是谁？"))
        #expect(text.contains("```python"))
        #expect(text.contains("$$"))
        #expect(!text.contains("built-in demo"))
    }

    @Test("a title request gets a short title from the user's words")
    func titleRequest() async throws {
        let messages = [
            ChatMessage(role: .system, content: "Write a short title for this conversation."),
            ChatMessage(role: .user, content: "how do I bake sourdough bread at home?")
        ]
        let text = await LLMTest.drain(model.streamAnswer(to: messages)).text
        #expect(text == "How do I bake sourdough")
        let chinese = await LLMTest.drain(
            model.streamAnswer(to: [
                messages[0],
                ChatMessage(role: .user, content: "如何在家烤面包")
            ])
        ).text
        #expect(chinese == "如何在家烤面包")
    }

    @Test("the reply streams word by word with the configured delay, and the pieces add up to the reply")
    func streamsWordByWord() async throws {
        let slow = DemoModel(tokenDelay: .milliseconds(2))
        let messages = [ChatMessage(role: .user, content: "hello")]
        let result = await LLMTest.drain(slow.streamAnswer(to: messages))
        #expect(result.pieces.count > 50)
        #expect(result.text == DemoModel.reply(to: messages))
    }

    @Test("cutting Chinese text keeps every character")
    func chinesePieces() {
        let text = "这是内置的演示模型，并不是 real 模型。"
        let pieces = DemoModel.pieces(of: text)
        #expect(pieces.joined() == text)
        #expect(pieces.count > 5)
    }

    @Test("cancelling stops the demo stream")
    func cancellation() async throws {
        let slow = DemoModel(tokenDelay: .milliseconds(50))
        let consumer = Task { await LLMTest.drain(slow.streamAnswer(to: [ChatMessage(role: .user, content: "x")])) }
        try await Task.sleep(for: .milliseconds(200))
        consumer.cancel()
        let result = await consumer.value
        #expect(result.pieces.count < 20)
    }
}
