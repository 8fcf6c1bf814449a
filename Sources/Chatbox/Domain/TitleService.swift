import Foundation
import Logging

/// Names a conversation after its first round: asks a model for a short title in the user's language,
/// cleans the reply (reasoning blocks, quotes, Markdown, line breaks, length) and falls back to the start of
/// the first question when the model fails, is slow or says nothing usable.
public struct TitleService: Sendable {
    let timeout: Duration
    let logger: Logger
    public static let maxCharacters = 60

    public init(timeout: Duration, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    static let instruction = """
        You write titles for chat conversations. Reply with one short title (at most 6 words, or 12 characters \
        in Chinese or Japanese) that sums up the conversation below. Write it in the same language as the \
        user's message. Reply with the title only: no quotes, no Markdown, no full stop, no explanation.
        """

    /// A title from `model` for a conversation whose first round was `question` → `answer` (answer may be nil).
    /// The answer's reasoning is never shown to the title model.
    public func title(question: String, answer: String?, model: any ChatModel) async -> String {
        guard let answer, !answer.isEmpty else { return Self.fallback(question) }
        let prompt = [
            ChatMessage(role: .system, content: Self.instruction),
            ChatMessage(role: .user, content: "User: \(question.prefix(1500))\n\nAssistant: \(answer.prefix(1500))")
        ]
        let timeout = self.timeout
        do {
            let reply = try await withThrowingTaskGroup(of: String?.self) { group in
                group.addTask {
                    var text = ""
                    for try await piece in model.streamAnswer(to: prompt) {
                        text += piece
                        if text.count > 2000 { break }
                    }
                    return text
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                return try await group.next() ?? nil
            }
            guard let reply else {
                logger.notice("title model timed out; using the question")
                return Self.fallback(question)
            }
            let cleaned = Self.clean(reply)
            return cleaned.isEmpty || Self.echoesPrompt(cleaned) ? Self.fallback(question) : cleaned
        } catch {
            logger.notice("title model failed: \(error); using the question")
            return Self.fallback(question)
        }
    }

    /// Whether a title merely repeats the prompt it was asked with ("User: …"), as a model that echoes does.
    static func echoesPrompt(_ title: String) -> Bool {
        title.range(of: #"^(user|assistant)\b\s*[:：]?"#, options: [.regularExpression, .caseInsensitive]) != nil
    }

    /// The beginning of the question, on one line.
    public static func fallback(_ question: String) -> String {
        let line = Rules.oneLine(question)
        return line.isEmpty ? "…" : cap(line)
    }

    /// Removes `<think>` blocks, a "Title:" label, Markdown, quotes and line breaks; caps the length.
    public static func clean(_ reply: String) -> String {
        var text = reply.replacing(/(?s)<think>.*?<\/think>/, with: "")
        if let open = text.range(of: "<think>") { text = String(text[..<open.lowerBound]) }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        var line = lines.first { !$0.isEmpty } ?? ""
        line = line.replacing(/^(?i)(title|标题)\s*[:：]\s*/, with: "")
        line = line.replacing(/^#+\s*/, with: "")
        line = String(line.filter { !"*_`~\"“”‘’「」『』《》【】".contains($0) })
        line = line.trimmingCharacters(in: CharacterSet(charactersIn: " '.。!！:：,，"))
        return cap(Rules.oneLine(line))
    }

    static func cap(_ text: String) -> String {
        guard text.count > maxCharacters else { return text }
        var cut = String(text.prefix(maxCharacters - 1))
        if let space = cut.lastIndex(of: " "), cut.distance(from: cut.startIndex, to: space) > maxCharacters / 2 {
            cut = String(cut[..<space])
        }
        return cut + "…"
    }
}
