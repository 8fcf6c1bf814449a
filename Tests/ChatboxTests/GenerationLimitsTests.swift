@testable import Chatbox
import Testing

@Suite("Generations: what one user may hold, and how long an answer may grow")
struct GenerationLimitsTests {
    static func generations(running: Int = 2, streams: Int = 2, characters: Int = 10) -> Generations {
        Generations(limits: .init(runningPerUser: running, streamsPerUser: streams, answerCharacters: characters))
    }

    @Test func aUserRunsOnlySoManyAnswersAtOnceAndOtherUsersAreNotCounted() throws {
        let generations = Self.generations(running: 2)
        let first = try generations.reserve(1, userID: 7)
        _ = try generations.reserve(2, userID: 7)
        #expect(throws: ChatError.tooManyRunning(limit: 2)) { try generations.reserve(3, userID: 7) }
        _ = try generations.reserve(3, userID: 8)
        #expect(throws: ChatError.alreadyGenerating) { try generations.reserve(1, userID: 8) }
        generations.remove(1, first)
        _ = try generations.reserve(4, userID: 7)
        #expect(generations.count == 3)
    }

    @Test func aClosedStreamGivesItsSlotBackExactlyOnce() throws {
        let generations = Self.generations(streams: 2)
        let first = try generations.openStream(userID: 1)
        _ = try generations.openStream(userID: 1)
        #expect(throws: ChatError.tooManyStreams(limit: 2)) { try generations.openStream(userID: 1) }
        _ = try generations.openStream(userID: 2)
        first.close()
        first.close()
        _ = try generations.openStream(userID: 1)
        #expect(throws: ChatError.tooManyStreams(limit: 2), "closing twice frees one slot") {
            try generations.openStream(userID: 1)
        }
    }

    @Test func anAnswerIsCutAtItsLimitInCharactersAndStoppedAsTooLong() throws {
        let generations = Self.generations(characters: 10)
        let entry = try generations.reserve(1, userID: 1)
        entry.append("你好世界 ")
        #expect(entry.stopReason == nil)
        entry.append("abcdefgh")
        #expect(entry.content == "你好世界 abcde")
        #expect(entry.stopReason == .tooLong)
        entry.append("more")
        #expect(entry.content.count == 10, "nothing is added after the cut")
    }

    @Test func endlessReasoningIsCutAtTheSameLimitAndStopsTheAnswer() throws {
        let generations = Self.generations(characters: 10)
        let entry = try generations.reserve(1, userID: 1)
        entry.appendReasoning("想一想 ")
        entry.append("ok")
        #expect(entry.stopReason == nil, "reasoning and answer each have the limit")
        entry.appendReasoning("abcdefghij")
        #expect(entry.output.reasoning == "想一想 abcdef" && entry.output.content == "ok")
        #expect(entry.stopReason == .tooLong)
    }

    @Test func anAnswerRecastAsReasoningMovesItsTextAndItsCount() throws {
        let generations = Self.generations(characters: 10)
        let entry = try generations.reserve(1, userID: 1)
        entry.append("hmm, so")
        entry.answerWasReasoning()
        #expect(entry.output.content.isEmpty && entry.output.reasoning == "hmm, so")
        entry.append("0123456789")
        #expect(entry.output.content == "0123456789" && entry.stopReason == nil, "the answer's count started again")
    }

    @Test func endingAUsersStreamsClosesTheirListenersAndStopsTheirAnswersOnly() async throws {
        let generations = Self.generations()
        let mine = try generations.reserve(1, userID: 1)
        let theirs = try generations.reserve(2, userID: 2)
        let myListener = try generations.openStream(userID: 1)
        let theirListener = try generations.openStream(userID: 2)
        generations.begin(mine, user: .stored(1, .user), assistant: .stored(2, .assistant), listener: myListener)
        generations.begin(theirs, user: .stored(3, .user), assistant: .stored(4, .assistant), listener: theirListener)
        generations.endAll(userID: 1)
        #expect(mine.stopReason == .accountClosed && theirs.stopReason == nil)
        #expect(await myListener.next()?.count == 1, "the start event still pending")
        #expect(await myListener.next() == nil, "then the stream ends")
        #expect(theirListener.push(.delta("x")), "the other user's stream goes on")
    }
}

extension Message {
    /// A message as a stored turn has it (an answer is still being written).
    static func stored(_ id: Int64, _ role: MessageRole, conversationID: Int64 = 1) -> Message {
        Message(
            id: id, conversationID: conversationID, role: role, content: role == .user ? "question" : "",
            status: role == .user ? .completed : .processing, error: nil, createdAt: 0)
    }
}
