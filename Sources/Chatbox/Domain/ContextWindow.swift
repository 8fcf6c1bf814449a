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
        var filling = Filling(budget: budget)
        for message in history.reversed() where !filling.isFull { filling.add(message) }
        return filling.messages(systemPrompt: conversationPrompt ?? systemPrompt)
    }

    /// The window filled from the newest message back, one message at a time, for a reader that reads the history
    /// from its newest end and stops once it `isFull`: `messages(from:)` is this over the whole history.
    public struct Filling: Sendable {
        let budget: Int
        /// Newest first.
        private var kept: [ChatMessage] = []
        private var used = 0
        /// Whether a message did not fit: nothing older is kept then, even a message that would.
        public private(set) var isFull = false

        public init(budget: Int) { self.budget = budget }

        /// Takes the next older message (failed, unfinished and empty answers are left out); nothing once full.
        public mutating func add(_ message: Message) {
            guard !isFull else { return }
            if message.role == .assistant && (message.status == .failed || message.status == .processing) { return }
            let content = message.role == .assistant ? ContextWindow.withoutThinking(message.content) : message.content
            if message.role == .assistant && content.isEmpty { return }
            let size = ContextWindow.characters(content)
            if !kept.isEmpty && used + size > budget {
                isFull = true
                return
            }
            used += size
            kept.append(ChatMessage(role: message.role == .user ? .user : .assistant, content: content))
        }

        /// What is sent, oldest first: `systemPrompt` when not empty, then the messages kept from the first
        /// question on, as chat models expect after the system prompt.
        public func messages(systemPrompt: String?) -> [ChatMessage] {
            var kept = kept
            while let first = kept.last, first.role == .assistant, kept.count > 1 { kept.removeLast() }
            kept.reverse()
            if let systemPrompt, !systemPrompt.isEmpty {
                kept.insert(ChatMessage(role: .system, content: systemPrompt), at: 0)
            }
            return kept
        }
    }

    /// `text.count`, the characters the budget counts, without Unicode's grapheme breaking when the text is ASCII
    /// (most of a chat in English, and all code): each byte is then a character, except CR LF, which is one. A
    /// window's worth of history is ~24,000 characters; grapheme breaking counted them in ~0.025 ms on this
    /// machine, a quarter of reading them (bench/README, "tenth round").
    static func characters(_ text: String) -> Int {
        var text = text
        let ascii = text.withUTF8 { bytes -> Int? in
            var pairs = 0
            var previous: UInt8 = 0
            for byte in bytes {
                if byte >= 0x80 { return nil }
                if byte == 0x0A && previous == 0x0D { pairs += 1 }
                previous = byte
            }
            return bytes.count - pairs
        }
        return ascii ?? text.count
    }

    /// `text` without a leading `<think>…</think>` block (answers stored before reasoning was kept apart).
    static func withoutThinking(_ text: String) -> String {
        let start = text.drop(while: \.isWhitespace)
        guard start.hasPrefix("<think>"), let close = start.range(of: "</think>") else { return text }
        return String(start[close.upperBound...].drop(while: \.isWhitespace))
    }
}
