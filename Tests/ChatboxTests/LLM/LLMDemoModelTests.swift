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

    @Test("a title request gets a short title from the question's meaningful words")
    func titleRequest() async throws {
        let system = ChatMessage(role: .system, content: "Write a short title for this conversation.")
        func title(_ question: String) async -> String {
            await LLMTest.drain(model.streamAnswer(to: [system, ChatMessage(role: .user, content: question)])).text
        }
        #expect(await title("how do I bake sourdough bread at home?") == "Bake sourdough bread home")
        #expect(await title("如何在家烤面包") == "如何在家烤面包")
        #expect(await title("") == "New chat")
    }

    @Test("a title request as TitleService sends it: the question part only, never \"User … Assistant\"")
    func titleFromFirstRound() async throws {
        let system = ChatMessage(role: .system, content: "You write titles for chat conversations.")
        func title(_ question: String, _ answer: String = "Sure, here it is.") async -> String {
            let round = ChatMessage(role: .user, content: "User: \(question)\n\nAssistant: \(answer)")
            return await LLMTest.drain(model.streamAnswer(to: [system, round])).text
        }
        #expect(await title("Please can you explain the Swift concurrency model to me?") == "Swift concurrency model")
        #expect(await title("What is the capital of France?") == "Capital France")
        #expect(
            await title("Tell me about quantum entanglement in simple terms") == "Quantum entanglement simple terms")
        #expect(await title("hi") == "Hi")
        #expect(await title("   ") == "New chat")
        #expect(await title("请问什么是量子纠缠？", "量子纠缠是……") == "量子纠缠")
        #expect(await title("你能帮我写一首关于秋天的诗吗？") == "写一首关于秋天的诗")
        #expect(await title("请用一句话解释相对论和量子力学之间到底有什么根本区别") == "用一句话解释相对论和量子")
        #expect(await title("请问？") == "新对话")
        for question in ["What can you do?", "你好"] {
            let text = await title(question)
            #expect(!text.contains("User") && !text.contains("Assistant"))
        }
    }

    @Test("demo-thinking streams a short reasoning first, in the question's language, then the same reply")
    func thinking() async throws {
        let thinking = DemoModel(tokenDelay: .zero, thinking: true)
        #expect(thinking.displayName == "demo-thinking")
        let messages = [ChatMessage(role: .user, content: "What can you do?")]
        let result = await LLMOutputs.drain(thinking.stream(ModelRequest(messages: messages)))
        #expect(result.error == nil)
        #expect(result.reasoningPieces > 5)
        #expect(result.reasoningFirst)
        #expect(result.reasoning.contains("What can you do?"))
        #expect(result.answer == DemoModel.reply(to: messages))
        let chinese = await LLMOutputs.drain(
            thinking.stream(ModelRequest(messages: [ChatMessage(role: .user, content: "你好，你是谁？")])))
        #expect(chinese.reasoning.contains("演示模型"))
        #expect(chinese.answer.contains("演示模型"))
        #expect(await LLMTest.drain(thinking.streamAnswer(to: messages)).text == DemoModel.reply(to: messages))
        let title = await LLMOutputs.drain(
            thinking.stream(
                ModelRequest(messages: [
                    ChatMessage(role: .system, content: "Write a title"),
                    ChatMessage(role: .user, content: "User: Bake bread\n\nAssistant: ok")
                ])))
        #expect(title.outputs == [.answer("Bake "), .answer("bread")], "no reasoning for a title")
        #expect(DemoModel(tokenDelay: .zero).displayName == "demo")
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
