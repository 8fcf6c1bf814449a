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
    /// generated is not in it.
    public func messages(from history: [Message]) -> [ChatMessage] {
        var kept: [ChatMessage] = []
        var used = 0
        for message in history.reversed() {
            if message.role == .assistant && (message.status == .failed || message.status == .processing) { continue }
            if message.role == .assistant && message.content.isEmpty { continue }
            let size = message.content.count
            if !kept.isEmpty && used + size > budget { break }
            used += size
            kept.append(ChatMessage(role: message.role == .user ? .user : .assistant, content: message.content))
        }
        // Start with a question, as chat models expect after the system prompt.
        while let first = kept.last, first.role == .assistant, kept.count > 1 { kept.removeLast() }
        kept.reverse()
        if let systemPrompt, !systemPrompt.isEmpty {
            kept.insert(ChatMessage(role: .system, content: systemPrompt), at: 0)
        }
        return kept
    }
}
