/// What a turn answers: a new question at a place in the tree, or a question again (regenerate, retry).
public enum Ask: Sendable {
    case question(String, QuestionPlace)
    /// The question above this message (nil: the current leaf).
    case again(Int64?)
}

/// What a turn reads of its conversation before the model is asked: the path up to the question, newest first,
/// filling the context window, until the window is full and an earlier question is seen (or the first message is
/// reached). The rest of a long conversation is not read (`ConversationStore.conversationWithPath`).
public struct TurnHistory: PathWalk {
    public let ask: Ask
    public private(set) var window: ContextWindow.Filling
    /// The question answered: the new one, or the one found on the path; nil while not found, and at the end when
    /// there is none to answer (the message is unknown, or an answer's parent is not a question).
    public private(set) var question: Message?
    /// Whether a question comes before the one answered on its path: if not, this is the first round.
    public private(set) var askedBefore = false
    /// `.again` at an answer: the answer was taken, its question must come next.
    private var answerTaken = false

    public init(_ ask: Ask, budget: Int) {
        self.ask = ask
        window = ContextWindow.Filling(budget: budget)
        if case .question(let content, _) = ask {
            let question = Message(
                id: 0, conversationID: 0, role: .user, content: content, status: .completed, error: nil, createdAt: 0)
            window.add(question)
            self.question = question
        }
    }

    /// Whether the turn is its conversation's first round (on its path), nil when there is no question to answer.
    public var firstRound: Bool? { question.map { _ in !askedBefore } }

    public func leaf(of conversation: Conversation) -> Int64? {
        switch ask {
        case .question(_, .root): nil
        case .question(_, .afterCurrentLeaf): conversation.currentLeafID
        case .question(_, .after(let id)): id
        case .again(let id): id ?? conversation.currentLeafID
        }
    }

    public mutating func take(_ message: Message) -> Bool {
        guard question != nil else {
            // `.again`: the message named is the question, or an answer whose parent must be the question.
            if message.role == .user {
                question = message
                window.add(message)
                return false
            }
            if answerTaken { return true }
            answerTaken = true
            return false
        }
        if message.role == .user { askedBefore = true }
        window.add(message)
        return window.isFull && askedBefore
    }
}
