@testable import Chatbox
import Testing

/// What a turn takes of the path it reads newest first: the question, the context window, and whether it is the
/// conversation's first round. No store: the messages are handed in as `conversationWithPath` would.
@Suite("TurnHistory: a turn's path read from the newest end")
struct TurnHistoryTests {
    static func message(_ id: Int64, _ role: MessageRole, _ content: String, parent: Int64?) -> Message {
        Message(
            id: id, conversationID: 1, role: role, content: content, status: .completed, error: nil, createdAt: 0,
            parentID: parent)
    }

    /// q1 (1) → a1 (2) → q2 (3) → a2 (4), each 10 characters.
    static let chain = [
        message(1, .user, "question 1", parent: nil), message(2, .assistant, "answer   1", parent: 1),
        message(3, .user, "question 2", parent: 2), message(4, .assistant, "answer   2", parent: 3)
    ]

    /// Hands `walk` the chain from `leaf` up, as the store does, and how many messages it took.
    static func read(_ walk: TurnHistory, from leaf: Int64) -> (TurnHistory, taken: Int) {
        var walk = walk
        var taken = 0
        for message in chain.reversed() where message.id <= leaf {
            taken += 1
            if walk.take(message) { break }
        }
        return (walk, taken)
    }

    @Test func aNewQuestionStopsOnceTheWindowIsFullAndAnEarlierQuestionWasSeen() {
        // Budget 25: the question (5) + a2 (10) + q2 (10) fit, a1 does not; q2 was a question, so q1 is not read.
        let (history, taken) = Self.read(TurnHistory(.question("new q", .afterCurrentLeaf), budget: 25), from: 4)
        #expect(taken == 3)
        #expect(history.firstRound == false)
        #expect(history.window.messages(systemPrompt: nil).map(\.content) == ["question 2", "answer   2", "new q"])
    }

    @Test func aFullWindowStillReadsOnUntilAnEarlierQuestionSaysItIsNotTheFirstRound() {
        // Budget 5: nothing but the question fits, a2 fills the window; the walk goes on to q2.
        let (history, taken) = Self.read(TurnHistory(.question("new q", .afterCurrentLeaf), budget: 5), from: 4)
        #expect(taken == 2 && history.firstRound == false)
        let (first, _) = Self.read(TurnHistory(.question("first", .root), budget: 5), from: 0)
        #expect(first.firstRound == true, "nothing above a question at the root")
        #expect(first.window.messages(systemPrompt: "sys").map(\.content) == ["sys", "first"])
    }

    @Test func askingAgainAtAnAnswerTakesItsQuestionAndLeavesTheAnswerOut() {
        let (history, _) = Self.read(TurnHistory(.again(4), budget: 100), from: 4)
        #expect(history.question?.id == 3 && history.firstRound == false)
        #expect(history.window.messages(systemPrompt: nil).map(\.content) == ["question 1", "answer   1", "question 2"])
        let (first, _) = Self.read(TurnHistory(.again(2), budget: 100), from: 2)
        #expect(first.question?.id == 1 && first.firstRound == true)
    }

    @Test func askingAgainWithoutAQuestionAboveGivesNoQuestion() {
        var walk = TurnHistory(.again(9), budget: 100)
        let goesOn = !walk.take(Self.message(9, .assistant, "orphan", parent: 8))
        let stops = walk.take(Self.message(8, .assistant, "answer above an answer", parent: nil))
        #expect(goesOn && stops, "the answer's parent is read, then no more")
        #expect(walk.question == nil && walk.firstRound == nil)
        #expect(TurnHistory(.again(nil), budget: 100).firstRound == nil, "no message at all")
    }
}
