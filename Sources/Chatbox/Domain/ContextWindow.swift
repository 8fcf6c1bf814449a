/// What the model is sent for a turn: the optional system prompt, then the newest turns of the conversation
/// that fit in a character budget, ending with the question being answered. Failed answers are left out.
public struct ContextWindow: Sendable {
    public let systemPrompt: String?
    public let budget: Int

    public init(systemPrompt: String?, budget: Int) {
        self.systemPrompt = systemPrompt
        self.budget = budget
    }

    /// `history` is the conversation oldest first, up to and including the question; the answer being
    /// generated is not in it. `systemPrompt` replaces the server's (nil: the server's; "": none). Answers go
    /// without their reasoning, also one an older version stored inside the text as a leading `<think>` block.
    public func messages(from history: [Message], systemPrompt conversationPrompt: String? = nil) -> [ChatMessage] {
        let systemPrompt = conversationPrompt ?? self.systemPrompt
        var kept: [ChatMessage] = []
        var used = 0
        for message in history.reversed() {
            if message.role == .assistant && (message.status == .failed || message.status == .processing) { continue }
            let content = message.role == .assistant ? Self.withoutThinking(message.content) : message.content
            if message.role == .assistant && content.isEmpty { continue }
            let size = content.count
            if !kept.isEmpty && used + size > budget { break }
            used += size
            kept.append(ChatMessage(role: message.role == .user ? .user : .assistant, content: content))
        }
        // Start with a question, as chat models expect after the system prompt.
        while let first = kept.last, first.role == .assistant, kept.count > 1 { kept.removeLast() }
        kept.reverse()
        if let systemPrompt, !systemPrompt.isEmpty {
            kept.insert(ChatMessage(role: .system, content: systemPrompt), at: 0)
        }
        return kept
    }

    /// `text` without a leading `<think>…</think>` block (answers stored before reasoning was kept apart).
    static func withoutThinking(_ text: String) -> String {
        let start = text.drop(while: \.isWhitespace)
        guard start.hasPrefix("<think>"), let close = start.range(of: "</think>") else { return text }
        return String(start[close.upperBound...].drop(while: \.isWhitespace))
    }
}
