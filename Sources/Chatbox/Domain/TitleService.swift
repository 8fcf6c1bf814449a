import Foundation
import Logging
import NIOPosix
import Synchronization

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
        let reply = TitleReply(limit: 2000)
        let call = Task { try await model.answer(to: prompt) { piece in reply.add(piece) } }
        reply.running(call)
        // A timer, not a sleeping task: thousands of titles can be written at once (the end of a burst of first
        // rounds), and each task costs memory until it ends.
        let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(
            in: .nanoseconds(timeout.wholeNanoseconds)
        ) { reply.timeOut() }
        let result = await call.result
        timer.cancel()
        let (text, timedOut, full) = reply.outcome
        if timedOut {
            logger.notice("title model timed out; using the question")
            return Self.fallback(question)
        }
        if case .failure(let error) = result, !full {
            logger.notice("title model failed: \(error); using the question")
            return Self.fallback(question)
        }
        let cleaned = Self.clean(text)
        return cleaned.isEmpty || Self.echoesPrompt(cleaned) ? Self.fallback(question) : cleaned
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

/// A title model's reply as it comes: its text up to `limit` characters (the call is cancelled past that), and
/// whether the title's time ran out (the call is cancelled then too).
final class TitleReply: Sendable {
    private struct State {
        var text = ""
        var characters = 0
        var timedOut = false
        var call: Task<Void, any Error>?
    }
    private let state = Mutex(State())
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// The call to cancel when the reply is long enough or late; cancelled at once if it is already.
    func running(_ call: Task<Void, any Error>) {
        let cancel = state.withLock { state in
            state.call = call
            return state.timedOut || state.characters > limit
        }
        if cancel { call.cancel() }
    }

    func add(_ piece: String) {
        let cancel = state.withLock { state -> Task<Void, any Error>? in
            guard state.characters <= limit else { return nil }
            state.text += piece
            state.characters += piece.count
            return state.characters > limit ? state.call : nil
        }
        cancel?.cancel()
    }

    func timeOut() {
        state.withLock { state in
            state.timedOut = true
            return state.call
        }?.cancel()
    }

    /// The text, whether the time ran out, and whether the text reached the limit.
    var outcome: (text: String, timedOut: Bool, full: Bool) {
        state.withLock { ($0.text, $0.timedOut, $0.characters > limit) }
    }
}
