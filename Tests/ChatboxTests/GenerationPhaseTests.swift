@testable import Chatbox
import Synchronization
import Testing

/// A generation's phases, `reserved` → `started` → `finished`, driven by hand: no model, no database.
@Suite("Generations: reserved, started, finished")
struct GenerationPhaseTests {
    static func generations(running: Int = 3, streams: Int = 5) -> Generations {
        Generations(limits: .init(runningPerUser: running, streamsPerUser: streams, answerCharacters: 1000))
    }

    /// Starts a reserved generation with stored messages (ids 10 and 11) and the turn's own listener.
    static func start(_ entry: Generations.Entry, in generations: Generations, userID: Int64 = 1) throws -> Listener {
        let listener = try generations.openStream(userID: userID)
        generations.begin(entry, user: .stored(10, .user), assistant: .stored(11, .assistant), listener: listener)
        return listener
    }

    /// The events as short strings: `start(user 10, answer 11: "ab")`, `delta(cd)`, `done`, `title`.
    static func describe(_ events: [ChatEvent]?) -> [String]? {
        events?.map { event in
            switch event {
            case .start(let user, let assistant):
                let question = user.map { "user \($0.id), " } ?? ""
                return "start(\(question)answer \(assistant.id): \"\(assistant.content)\")"
            case .delta(let text): return "delta(\(text))"
            case .reasoning(let text): return "reasoning(\(text))"
            case .reasoningReplaced(let text): return "reasoningReplaced(\(text))"
            case .done: return "done"
            case .title: return "title"
            }
        }
    }

    @Test func nobodyCanAttachBeforeTheTurnIsStoredAndNoStreamSlotIsTaken() throws {
        let generations = Self.generations(streams: 2)
        let entry = try generations.reserve(1, userID: 1)
        #expect(generations.isRunning(1))
        for _ in 0..<3 { #expect(try generations.attach(1, userID: 1) == nil) }
        #expect(!entry.isStarted)
        _ = try Self.start(entry, in: generations)
        #expect(entry.isStarted)
        #expect(try generations.attach(1, userID: 1) != nil, "the second of two slots: none was lost to the refusals")
        #expect(try generations.attach(1, userID: 2) == nil, "another user's conversation")
    }

    @Test func piecesBeforeTheStartArriveAsOneDeltaAfterIt() async throws {
        let generations = Self.generations()
        let entry = try generations.reserve(1, userID: 1)
        for piece in ["Hel", "lo", " you"] { entry.append(piece) }
        let own = try Self.start(entry, in: generations)
        entry.append("!")
        #expect(
            Self.describe(await own.next())
                == ["start(user 10, answer 11: \"\")", "delta(Hello you!)"], "a piece that queues up joins the delta")
    }

    @Test func aListenerThatAttachesLaterGetsTheTextSoFarInItsStart() async throws {
        let generations = Self.generations()
        let entry = try generations.reserve(1, userID: 1)
        _ = try Self.start(entry, in: generations)
        entry.append("ab")
        let later = try #require(try generations.attach(1, userID: 1))
        entry.append("cd")
        #expect(Self.describe(await later.next()) == ["start(answer 11: \"ab\")", "delta(cd)"])
    }

    @Test func finishingClosesEveryListenerAndNobodyAttachesAfterwards() async throws {
        let generations = Self.generations()
        let entry = try generations.reserve(1, userID: 1)
        let own = try Self.start(entry, in: generations)
        let other = try #require(try generations.attach(1, userID: 1))
        entry.send(.done(.stored(11, .assistant)))
        entry.finish()
        #expect(!entry.isStarted)
        for listener in [own, other] {
            #expect(Self.describe(await listener.next())?.last == "done", "what was pending is still handed out")
            #expect(await listener.next() == nil)
        }
        #expect(try generations.attach(1, userID: 1) == nil)
        // A turn's own listener that comes after the end is closed at once.
        let late = try generations.openStream(userID: 1)
        generations.begin(entry, user: .stored(10, .user), assistant: .stored(11, .assistant), listener: late)
        #expect(await late.next() == nil)
    }

    @Test func onlyStartedAnswersAreSavedAndOnlyWhenTheyGrew() throws {
        let generations = Self.generations()
        let entry = try generations.reserve(1, userID: 1)
        entry.append("early")
        #expect(generations.unsaved().isEmpty, "no stored answer to save it to yet")
        _ = try Self.start(entry, in: generations)
        #expect(generations.unsaved().map(\.messageID) == [11])
        #expect(generations.unsaved().map(\.content) == ["early"])
        generations.unsaved().forEach { $0.saved() }
        #expect(generations.unsaved().isEmpty)
        entry.append(" more")
        #expect(generations.unsaved().map(\.content) == ["early more"])
        entry.finish()
        #expect(generations.unsaved().isEmpty, "a finished answer is saved by its turn")
    }

    /// Counts what happened: how many times a model's call was cancelled (`call`), or anything else (`bump`).
    final class Counter: Sendable {
        let count = Mutex(0)
        func bump() { count.withLock { $0 += 1 } }
        /// A model's call whose cancel counts.
        var call: ModelCall { ModelCall { [self] in bump() } }
        var seen: Int { count.withLock { $0 } }
    }

    @Test func aStopBeforeTheCallIsSetCancelsItWhenItIs() async throws {
        let generations = Self.generations()
        let entry = try generations.reserve(1, userID: 1)
        #expect(generations.stop(1))
        #expect(entry.stopReason == .user)
        let cancels = Counter()
        entry.setCall(cancels.call)
        #expect(cancels.seen == 1)
        entry.requestStop(.shutdown)
        #expect(entry.stopReason == .user, "the first reason stays")
    }

    @Test func aStopAfterTheCallIsSetCancelsIt() async throws {
        let generations = Self.generations()
        let entry = try generations.reserve(1, userID: 1)
        let cancels = Counter()
        entry.setCall(cancels.call)
        #expect(cancels.seen == 0)
        #expect(!generations.stop(2), "nothing runs there")
        #expect(generations.stop(1))
        #expect(cancels.seen == 1)
        #expect(entry.streamingCutShort)
    }

    @Test func aStopOrATimeoutOnceTheStreamingIsOverCancelsNothingAndTheFinishingIsAwaited() async throws {
        let generations = Self.generations()
        let entry = try generations.reserve(1, userID: 1)
        let cancels = Counter()
        entry.setCall(cancels.call)
        entry.streamingEnded()
        #expect(generations.stop(1))
        entry.cancelStreaming()
        #expect(cancels.seen == 0, "the save and the title after the streaming are not cancelled")
        entry.setCall(cancels.call)
        #expect(entry.state.withLock { $0.call == nil }, "a call recorded after the end is not kept")
        #expect(cancels.seen == 0, "nor cancelled")
        // `ended` waits for the finishing task, whether it comes before or after.
        let finished = Counter()
        let waiting = Task {
            await entry.ended()
            return finished.seen == 1
        }
        try await Task.sleep(for: .milliseconds(20))
        entry.setFinishing(
            Task {
                _ = await entry.storedTurn()
                finished.bump()
            })
        entry.turnStored(nil)
        #expect(await waiting.value, "ended returns once the finishing task has")
        await entry.ended()
    }

    @Test func theTaskLearnsWhetherTheTurnWasStoredWhicheverComesFirst() async throws {
        let generations = Self.generations()
        let message = Message(
            id: 7, conversationID: 1, role: .assistant, content: "", status: .processing, error: nil, createdAt: 0)
        let early = try generations.reserve(1, userID: 1)
        early.turnStored(StoredTurn(user: message, assistant: message, naming: true))
        #expect(await early.storedTurn()?.naming == true, "told before it asked")
        early.turnStored(nil)
        #expect(await early.storedTurn() != nil, "the first answer stays")

        let late = try generations.reserve(2, userID: 1)
        let waiting = Task { await late.storedTurn() }
        #expect(
            try await CatalogSharingTests.eventually {
                late.state.withLock { state in
                    if case .pending(let continuation) = state.turn { return continuation != nil }
                    return false
                }
            })
        late.turnStored(nil)
        #expect(await waiting.value == nil, "told after it asked: not stored")
    }

    @Test func theUsersRunningCountIsGivenBackExactlyOnce() throws {
        let generations = Self.generations(running: 1)
        let first = try generations.reserve(1, userID: 1)
        generations.remove(1, first)
        generations.remove(1, first)
        generations.remove(1, first)
        let second = try generations.reserve(1, userID: 1)
        #expect(throws: ChatError.tooManyRunning(limit: 1), "giving back three times freed one slot") {
            try generations.reserve(2, userID: 1)
        }
        // The old generation of this conversation is gone: removing it again frees nothing of the new one.
        generations.remove(1, first)
        #expect(generations.isRunning(1))
        #expect(throws: ChatError.tooManyRunning(limit: 1)) { try generations.reserve(2, userID: 1) }
        generations.remove(1, second)
        #expect(!generations.isRunning(1) && generations.count == 0)
        _ = try generations.reserve(2, userID: 1)
    }
}
