import Foundation

/// The built-in, offline demo "model": it works with no configuration, says plainly that it is the demo and how to
/// set up a real model, and shows off what the UI renders (Markdown table, code block, inline and display math).
///
/// - Replies in Chinese when the user's last message contains Chinese characters.
/// - A title request (a system message mentioning "title") gets a short title made of the user's first words.
public struct DemoModel: ChatModel {
    public let tokenDelay: Duration

    public var displayName: String { "demo" }

    public init(tokenDelay: Duration = .milliseconds(25)) {
        self.tokenDelay = tokenDelay
    }

    public func stream(_ request: ModelRequest) -> AsyncThrowingStream<ModelOutput, any Error> {
        let pieces = Self.pieces(of: Self.reply(to: request.messages))
        let delay = tokenDelay
        return AsyncThrowingStream { continuation in
            let task = Task {
                for (index, piece) in pieces.enumerated() {
                    if index > 0, delay > .zero {
                        do { try await Task.sleep(for: delay) } catch { break }
                    }
                    continuation.yield(.answer(piece))
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    // MARK: - The reply

    static func reply(to messages: [ChatMessage]) -> String {
        let question = messages.last(where: { $0.role == .user })?.content ?? ""
        let isTitleRequest = messages.contains { $0.role == .system && $0.content.lowercased().contains("title") }
        if isTitleRequest { return title(from: question) }
        return containsChinese(question) ? chineseReply(question) : englishReply(question)
    }

    static func title(from text: String) -> String {
        let words = text.split(whereSeparator: { $0.isWhitespace || $0.isNewline })
            .map { $0.trimmingCharacters(in: .punctuationCharacters.union(.symbols)) }
            .filter { !$0.isEmpty }
        if words.isEmpty { return containsChinese(text) ? "新对话" : "New chat" }
        if words.count == 1, containsChinese(words[0]) { return String(words[0].prefix(12)) }
        let title = words.prefix(5).joined(separator: " ")
        return title.prefix(1).uppercased() + title.dropFirst()
    }

    static func containsChinese(_ text: String) -> Bool {
        text.unicodeScalars.contains { (0x4E00...0x9FFF).contains($0.value) || (0x3400...0x4DBF).contains($0.value) }
    }

    private static func quote(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let short = trimmed.truncated(to: 300)
        let lines =
            short.isEmpty ? ["(an empty message)"] : short.split(separator: "\n", omittingEmptySubsequences: false)
        return lines.map { "> \($0)" }.joined(separator: "\n")
    }

    private static func englishReply(_ question: String) -> String {
        """
        **This is the built-in demo model**, not a real language model: it answers offline with this same sample \
        so you can try the app. You wrote:

        \(quote(question))

        To chat with a real model, set one of these before starting the server:

        | Setting | Example | What it does |
        |---|---|---|
        | `CHATBOX_LLM_BASE_URL` | `http://127.0.0.1:11434/v1` | any OpenAI-compatible server |
        | `CHATBOX_LLM_MODEL` | `llama3.2` | the model name to ask for |
        | `CHATBOX_LLM_API_KEY` | `sk-…` | sent as a Bearer token (optional) |
        | `CHATBOX_LLM_COMMAND` | `python3 examples/command-model.py` | or: your own program, streaming on stdout |

        Here is some code, to show the highlighting:

        ```swift
        func greet(_ name: String) -> String {
            "Hello, \\(name)!"
        }
        print(greet("Chatbox"))
        ```

        And some math: Euler's identity $e^{i\\pi} + 1 = 0$ inline, and the Gaussian integral on its own line:

        $$\\int_{-\\infty}^{\\infty} e^{-x^2}\\,dx = \\sqrt{\\pi}$$

        Happy chatting!
        """
    }

    private static func chineseReply(_ question: String) -> String {
        """
        **这是内置的演示模型**，并不是真正的语言模型：它离线运行，总是给出这段示例回答，方便你先试用本应用。你写的是：

        \(quote(question))

        要与真正的模型对话，请在启动服务器之前设置以下环境变量之一：

        | 设置 | 示例 | 作用 |
        |---|---|---|
        | `CHATBOX_LLM_BASE_URL` | `http://127.0.0.1:11434/v1` | 任何兼容 OpenAI 的服务器 |
        | `CHATBOX_LLM_MODEL` | `qwen2.5` | 要使用的模型名称 |
        | `CHATBOX_LLM_API_KEY` | `sk-…` | 作为 Bearer 令牌发送（可选） |
        | `CHATBOX_LLM_COMMAND` | `python3 examples/command-model.py` | 或者：你自己的程序，从标准输出流式输出 |

        下面是一段代码，用来展示语法高亮：

        ```python
        def greet(name: str) -> str:
            return f"你好，{name}！"

        print(greet("Chatbox"))
        ```

        还有公式：行内的欧拉恒等式 $e^{i\\pi} + 1 = 0$，以及单独一行的高斯积分：

        $$\\int_{-\\infty}^{\\infty} e^{-x^2}\\,dx = \\sqrt{\\pi}$$

        祝你聊得愉快！
        """
    }

    /// Cuts the reply into word-sized pieces (Chinese: two characters) that keep their whitespace, so that
    /// joining the pieces gives the reply back exactly.
    static func pieces(of text: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        var cjkRun = 0
        for character in text {
            let isCJK =
                character.unicodeScalars.first.map {
                    (0x3000...0x9FFF).contains($0.value) || (0xFF00...0xFFEF).contains($0.value)
                } ?? false
            if character.isWhitespace {
                current.append(character)
                cjkRun = 0
                continue
            }
            let lastIsSpace = current.last?.isWhitespace ?? false
            if !current.isEmpty, lastIsSpace || (isCJK && cjkRun >= 2) {
                pieces.append(current)
                current = ""
                cjkRun = 0
            }
            current.append(character)
            cjkRun = isCJK ? cjkRun + 1 : 0
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces
    }
}
