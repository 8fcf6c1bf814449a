import Foundation

/// The built-in, offline demo "model": it works with no configuration, says plainly that it is the demo and how to
/// set up a real model, and shows off what the UI renders (Markdown table, code block, inline and display math).
///
/// - Replies in Chinese when the user's last message contains Chinese characters.
/// - A title request (a system message mentioning "title"; `TitleService` sends the first round as one user message
///   `User: <question>\n\nAssistant: <answer>`) gets a short title made from the question's meaningful words.
/// - `thinking: true` (`demo-thinking`) first streams a short reasoning as `.reasoning`, like a reasoning model,
///   then the same reply (not for title requests).
public struct DemoModel: ChatModel {
    public let tokenDelay: Duration
    public let thinking: Bool

    public var displayName: String { thinking ? Self.thinkingName : "demo" }
    /// The name of the thinking variant.
    public static let thinkingName = "demo-thinking"

    public init(tokenDelay: Duration = .milliseconds(25), thinking: Bool = false) {
        self.tokenDelay = tokenDelay
        self.thinking = thinking
    }

    public func stream(_ request: ModelRequest) -> AsyncThrowingStream<ModelOutput, any Error> {
        var outputs: [ModelOutput] = []
        if thinking, !Self.isTitleRequest(request.messages) {
            outputs += Self.pieces(of: Self.reasoning(about: request.messages)).map { .reasoning($0) }
        }
        outputs += Self.pieces(of: Self.reply(to: request.messages)).map { .answer($0) }
        let all = outputs
        let delay = tokenDelay
        return AsyncThrowingStream { continuation in
            let task = Task {
                for (index, output) in all.enumerated() {
                    if index > 0, delay > .zero {
                        do { try await Task.sleep(for: delay) } catch { break }
                    }
                    continuation.yield(output)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    // MARK: - The reply

    static func isTitleRequest(_ messages: [ChatMessage]) -> Bool {
        messages.contains { $0.role == .system && $0.content.lowercased().contains("title") }
    }

    static func reply(to messages: [ChatMessage]) -> String {
        let question = messages.last(where: { $0.role == .user })?.content ?? ""
        if isTitleRequest(messages) { return title(from: question) }
        return containsChinese(question) ? chineseReply(question) : englishReply(question)
    }

    /// What `demo-thinking` "thinks" before its reply: a few sentences in the question's language.
    static func reasoning(about messages: [ChatMessage]) -> String {
        let question = (messages.last(where: { $0.role == .user })?.content ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let short = question.truncated(to: 60).replacingOccurrences(of: "\n", with: " ")
        if containsChinese(question) {
            return """
                用户问的是：“\(short)”。我是内置的演示模型，并不会真正思考，这段“思考过程”只是为了展示推理模型的样子。\
                我先引用用户的问题，再说明如何连接真正的模型，最后用一个表格、一段代码和几个公式展示界面的渲染效果。
                """
        }
        return """
            The user asked: "\(short.isEmpty ? "(an empty message)" : short)". I am the built-in demo model, so this \
            is not real thinking: it only shows how a reasoning model's thoughts look. I will quote the question, \
            explain how to connect a real model, and show a table, some code and some math.
            """
    }

    /// The question of a title request: the `User: …` part of `User: <question>\n\nAssistant: <answer>` (the
    /// whole text when it has another shape).
    static func titleQuestion(_ text: String) -> String {
        guard text.hasPrefix("User:") else { return text }
        var question = text.dropFirst("User:".count)
        if let answer = question.range(of: "\n\nAssistant:") { question = question[..<answer.lowerBound] }
        return question.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// English words that open a question without saying what it is about.
    private static let fillers: [[String]] = [
        ["please"], ["hi"], ["hello"], ["hey"], ["can", "you"], ["could", "you"], ["would", "you"], ["will", "you"],
        ["what", "is"], ["what", "are"], ["what's"], ["whats"], ["how", "do", "i"], ["how", "can", "i"],
        ["how", "should", "i"], ["how", "do", "you"], ["how", "to"], ["tell", "me", "about"], ["tell", "me"],
        ["explain"], ["help", "me"], ["i", "want", "to"], ["i'd", "like", "to"], ["i", "need", "to"],
        ["can", "i"], ["show", "me"], ["give", "me"], ["write", "me"], ["is", "there"]
    ]
    private static let stopWords: Set<String> = [
        "a", "an", "the", "of", "to", "in", "on", "at", "for", "and", "or", "is", "are", "was", "were", "be", "me",
        "my", "i", "you", "your", "it", "its", "this", "that", "these", "those", "with", "about", "do", "does",
        "did", "please", "some", "any", "by", "from", "as", "into", "so", "can", "could", "would", "should", "will",
        "we", "our", "us", "there", "what", "how", "why", "which", "who", "when", "where"
    ]
    /// Chinese openings that say nothing about the subject, and closing particles.
    private static let chineseFillers = [
        "请问一下", "请问", "请你", "请帮我", "帮我", "麻烦你", "你好", "您好", "我想知道", "我想问", "告诉我", "什么是", "能不能",
        "能否", "可以", "你能", "请"
    ]
    private static let chineseEndings: Set<Character> = ["吗", "呢", "吧", "啊", "呀"]

    /// A short title from a question: its meaningful words (English: at most 5, the first capitalised; Chinese: at
    /// most 12 characters without punctuation), "New chat" / "新对话" when nothing is left.
    static func title(from text: String) -> String {
        let question = titleQuestion(text)
        if containsChinese(question) { return chineseTitle(question) }
        var words = question.split(whereSeparator: { $0.isWhitespace || $0.isNewline })
            .map { $0.trimmingCharacters(in: .punctuationCharacters.union(.symbols)) }
            .filter { !$0.isEmpty }
        if words.isEmpty { return "New chat" }
        var dropped = true
        while dropped {
            dropped = false
            for filler in fillers where words.count > filler.count {
                if zip(words, filler).allSatisfy({ $0.lowercased() == $1 }) {
                    words.removeFirst(filler.count)
                    dropped = true
                    break
                }
            }
        }
        let meaningful = words.filter { !stopWords.contains($0.lowercased()) }
        let chosen = (meaningful.isEmpty ? words : meaningful).prefix(5)
        let title = chosen.joined(separator: " ")
        return title.prefix(1).uppercased() + title.dropFirst()
    }

    private static func chineseTitle(_ question: String) -> String {
        var text = Substring(question.trimmingCharacters(in: .whitespacesAndNewlines))
        var dropped = true
        while dropped {
            dropped = false
            for filler in chineseFillers where text.hasPrefix(filler) && text.count > filler.count {
                text = text.dropFirst(filler.count)
                text = text.drop { $0.isWhitespace || $0.isPunctuation }
                dropped = true
                break
            }
        }
        var kept = text.filter { $0.isLetter || $0.isNumber }
        while let last = kept.last, chineseEndings.contains(last), kept.count > 1 { kept.removeLast() }
        let title = String(kept.prefix(12))
        return title.isEmpty ? "新对话" : title
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
