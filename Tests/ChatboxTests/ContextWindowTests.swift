@testable import Chatbox
import Testing

/// What the model is sent for a turn, straight from `ContextWindow`: no server, no model.
@Suite("ContextWindow: the newest turns that fit, starting with a question")
struct ContextWindowTests {
    static func user(_ content: String) -> Message {
        Message(id: 0, conversationID: 1, role: .user, content: content, status: .completed, error: nil, createdAt: 0)
    }

    static func answer(_ content: String, _ status: MessageStatus = .completed) -> Message {
        Message(id: 0, conversationID: 1, role: .assistant, content: content, status: status, error: nil, createdAt: 0)
    }

    static func roles(_ messages: [ChatMessage]) -> String {
        messages.map { "\($0.role.rawValue.prefix(1)):\($0.content)" }.joined(separator: " ")
    }

    @Test func theWholeConversationIsSentOldestFirstWhenItFits() {
        let window = ContextWindow(systemPrompt: nil, budget: 100)
        let sent = window.messages(from: [Self.user("q1"), Self.answer("a1"), Self.user("q2")])
        #expect(
            sent == [
                ChatMessage(role: .user, content: "q1"), ChatMessage(role: .assistant, content: "a1"),
                ChatMessage(role: .user, content: "q2")
            ])
    }

    @Test func theSystemPromptComesFirstAndAnEmptyOneIsLeftOut() {
        let history = [Self.user("q")]
        #expect(
            Self.roles(ContextWindow(systemPrompt: "Be brief.", budget: 1).messages(from: history)) == "s:Be brief. u:q"
        )
        #expect(Self.roles(ContextWindow(systemPrompt: "", budget: 10).messages(from: history)) == "u:q")
    }

    @Test func failedUnfinishedAndEmptyAnswersAreLeftOut() {
        let window = ContextWindow(systemPrompt: nil, budget: 100)
        let history = [
            Self.user("q1"), Self.answer("half", .failed), Self.user("q2"), Self.answer("", .completed),
            Self.user("q3"), Self.answer("still writing", .processing), Self.user("q4"), Self.answer("kept", .stopped),
            Self.user("q5")
        ]
        #expect(Self.roles(window.messages(from: history)) == "u:q1 u:q2 u:q3 u:q4 a:kept u:q5")
    }

    @Test func theNewestMessagesThatFitAreKeptAndNothingOlderThanTheFirstThatDoesNot() {
        // Budget 10: "q3" (2) + "a2" (2) + "q2" (2) = 6; "a1-long" (7) does not fit, and neither does anything older,
        // even "q1", which would.
        let window = ContextWindow(systemPrompt: nil, budget: 10)
        let history = [Self.user("q1"), Self.answer("a1-long"), Self.user("q2"), Self.answer("a2"), Self.user("q3")]
        #expect(Self.roles(window.messages(from: history)) == "u:q2 a:a2 u:q3")
    }

    @Test func theQuestionIsSentEvenWhenItAloneIsOverTheBudget() {
        let window = ContextWindow(systemPrompt: "sys", budget: 3)
        let question = String(repeating: "x", count: 50)
        #expect(
            Self.roles(window.messages(from: [Self.user("old"), Self.answer("a"), Self.user(question)]))
                == "s:sys u:\(question)")
    }

    @Test func itStartsWithAQuestionWhenTheBudgetCutsBetweenAQuestionAndItsAnswer() {
        // "q2" + "a1" fit, "q1-long" does not: the answer a1 would come first, so it is left out too.
        let window = ContextWindow(systemPrompt: "sys", budget: 4)
        let history = [Self.user("q1-long"), Self.answer("a1"), Self.user("q2")]
        #expect(Self.roles(window.messages(from: history)) == "s:sys u:q2")
    }

    @Test func theBudgetCountsCharactersNotBytes() {
        let window = ContextWindow(systemPrompt: nil, budget: 6)
        let history = [Self.user("你好"), Self.answer("世界"), Self.user("再见")]  // 2 characters, 6 bytes each
        #expect(Self.roles(window.messages(from: history)) == "u:你好 a:世界 u:再见")
    }

    @Test func charactersAreCountedAsSwiftCountsThemASCIIOrNot() {
        let texts = [
            "", "plain ascii", "a\r\nb", "\r\n\r\n", "\n\r", "\r", "ends with CR\r", "tab\tand\u{0}nul", "é",
            "e\u{301}",
            "👨‍👩‍👧", "汉字 and \r\n ascii", String(repeating: "word ", count: 500) + "\r\n"
        ]
        for text in texts { #expect(ContextWindow.characters(text) == text.count, "\(text.debugDescription)") }
    }

    @Test func nothingInNothingOut() {
        #expect(ContextWindow(systemPrompt: nil, budget: 10).messages(from: []).isEmpty)
        #expect(Self.roles(ContextWindow(systemPrompt: "sys", budget: 10).messages(from: [])) == "s:sys")
    }
}
