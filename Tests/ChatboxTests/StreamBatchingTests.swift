@testable import Chatbox
import Foundation
import NIOCore
import Synchronization
import Testing

@Suite("Streaming chat: batching pieces into fewer writes")
struct StreamBatchingTests {
    /// The relay's order, with the clock and the batch wait in the test's hands: the first piece is written at
    /// once; pieces in the same slot of the 16 ms ticks wait for the next tick, and what arrives during the wait goes
    /// in the same frame; pieces in a later slot, and other events, go at once without a wait.
    @Test func piecesAreWrittenAtMostOncePerTickAndWhatArrivesDuringTheWaitGoesInOneFrame() async throws {
        let listener = Listener()
        let (frames, frame) = AsyncStream<String>.makeStream()
        let (gate, open) = AsyncStream<Void>.makeStream()
        let (waits, waited) = AsyncStream<NIODeadline>.makeStream()
        let tick: Int64 = 16_000_000
        let origin = NIODeadline.uptimeNanoseconds(UInt64(tick) * 1000 + 2_000_000)  // 2 ms into a slot
        let elapsed = Mutex(Int64.zero)
        let relay = Task {
            try await SSE.relay(
                listener, interval: .milliseconds(16), now: { origin + .nanoseconds(elapsed.withLock { $0 }) }
            ) {
                frame.yield(String(buffer: $0))
            } sleep: { deadline in
                waited.yield(deadline)
                for await _ in gate { break }
            }
            frame.finish()
            waited.finish()
        }
        var written = frames.makeAsyncIterator()
        var pauses = waits.makeAsyncIterator()
        #expect(listener.push(.delta("word1 ")))
        #expect(await written.next() == "event: delta\ndata: {\"text\":\"word1 \"}\n\n")
        // 5 ms later, the same slot: the relay waits for the tick that ends it, 9 ms on; what comes meanwhile joins
        // the frame.
        elapsed.withLock { $0 = 5_000_000 }
        for word in 2...4 { #expect(listener.push(.delta("word\(word) "))) }
        #expect(await pauses.next() == .uptimeNanoseconds(UInt64(tick) * 1001))
        for word in 5...6 { #expect(listener.push(.delta("word\(word) "))) }
        elapsed.withLock { $0 = 14_000_000 }
        open.yield()
        #expect(await written.next() == "event: delta\ndata: {\"text\":\"word2 word3 word4 word5 word6 \"}\n\n")
        // 1 ms after that write, but in the next slot (as a paced model connection's read at a tick): no wait.
        elapsed.withLock { $0 = 30_100_000 }
        #expect(listener.push(.delta("word7")))
        #expect(await written.next() == "event: delta\ndata: {\"text\":\"word7\"}\n\n")
        // A title right after pieces does not wait either.
        #expect(listener.push(.title(conversationID: 1, title: "T")))
        #expect(await written.next()?.hasPrefix("event: title\n") == true)
        listener.close()
        try await relay.value
        #expect(await written.next() == nil)
        #expect(await pauses.next() == nil, "one wait in all")
    }

    @Test func aZeroIntervalWritesEveryPieceAtOnce() async throws {
        let listener = Listener()
        let writes = Mutex(0)
        for word in 1...3 { #expect(listener.push(.delta("w\(word)"))) }
        let relay = Task {
            try await SSE.relay(listener, interval: .zero) { _ in
                writes.withLock { $0 += 1 }
            } sleep: { _ in
                Issue.record("no wait with a zero interval")
            }
        }
        while writes.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(1)) }
        #expect(listener.push(.delta("w4")))
        while writes.withLock({ $0 }) == 1 { try await Task.sleep(for: .milliseconds(1)) }
        listener.close()
        try await relay.value
        #expect(writes.withLock { $0 } == 2)
    }

    /// End to end: six pieces 300 ms apart and a 2.5 s batch interval leave fewer frames than pieces, the first
    /// leading, nothing lost. (Grouping only: how many frames depends on how busy the machine is.)
    @Test func aStreamGroupsPiecesThatArriveDuringTheBatchInterval() async throws {
        try await withChatApp({ $0.streamBatchInterval = .milliseconds(2500) }) { chat in
            let id = try await chat.conversation()
            let opened = try await chat.events.send(id, "[[fake tokens=6 delay_ms=300]]")
            let events = try await opened.all()
            #expect(events.first?.name == "start")
            let texts = events.filter { $0.name == "delta" }.map { $0.json["text"] as? String ?? "?" }
            #expect(texts.count < 6, "deltas: \(texts)")
            #expect(texts.first?.hasPrefix("word1 ") == true && texts.joined() == "word1 word2 word3 word4 word5 word6")
        }
    }

    @Test func consecutiveDeltasAreJoinedIntoOneFrameAndOtherEventsKeepTheirOwn() {
        let frames = SSE.frames([
            .delta("a"), .delta("\"b\"\n"), .title(conversationID: 7, title: "T"), .delta("c")
        ])
        let text = String(buffer: frames)
        #expect(text.hasSuffix("\n\n"))
        let parts = text.dropLast(2).components(separatedBy: "\n\n")
        #expect(parts.count == 3)
        #expect(parts.first == #"event: delta"# + "\n" + #"data: {"text":"a\"b\"\n"}"#)
        #expect(parts.dropFirst().first?.hasPrefix("event: title\ndata: {") == true)
        #expect(parts.last == "event: delta\ndata: {\"text\":\"c\"}")
    }

    @Test func aListenerHandsOverEverythingPendingAtOnceThenEndsAfterClose() async {
        let listener = Listener()
        #expect(listener.push(.delta("a")) && listener.push(.title(conversationID: 1, title: "T")))
        #expect(await listener.next()?.count == 2)
        let waiting = Task { await listener.next()?.count }
        try? await Task.sleep(for: .milliseconds(50))
        #expect(listener.push(.delta("c")))
        #expect(await waiting.value == 1)
        #expect(listener.push(.delta("d")))
        listener.close()
        #expect(!listener.push(.delta("e")), "a closed listener takes no more events")
        #expect(await listener.next()?.count == 1, "what was pending before the close is still handed over")
        #expect(await listener.next() == nil)
    }

    /// A reader that falls behind holds one event per run of pieces, not one per token.
    @Test func piecesThatQueueUpAreJoinedIntoOneEventOfTheirKind() {
        let listener = Listener()
        for word in 1...1000 { #expect(listener.push(.delta("w\(word) "))) }
        #expect(listener.push(.reasoning("r1 ")) && listener.push(.reasoning("r2 ")))
        #expect(listener.push(.delta("last")))
        #expect(listener.push(.title(conversationID: 1, title: "T")))
        #expect(listener.push(.delta("after")))
        let pending = listener.takePending()
        let texts = pending.map { event -> String in
            switch event {
            case .delta(let text): "delta:\(text)"
            case .reasoning(let text): "reasoning:\(text)"
            default: "other"
            }
        }
        let words = (1...1000).map { "w\($0) " }.joined()
        #expect(texts == ["delta:\(words)", "reasoning:r1 r2 ", "delta:last", "other", "delta:after"])
    }

    @Test func aReaderWaitingOnAListenerStopsWhenItsTaskIsCancelled() async {
        let listener = Listener()
        let waiting = Task { await listener.next() == nil }
        try? await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        #expect(await waiting.value)
        #expect(!listener.push(.delta("late")), "the generation forgets a listener whose reader left")
    }
}

@Suite("The store: saving the progress of many answers at once")
struct ProgressBatchStoreTests {
    @Test(arguments: Backend.all)
    func oneCallSavesEveryRunningAnswerAndLeavesFinishedOnesAlone(backend: Backend) async throws {
        try await backend.withStore { store in
            let user = try await store.createUser(username: "p", usernameKey: "p", passwordHash: "h", role: .user)
            let conversation = try await store.createConversation(userID: user.id, title: "c")
            // More answers than one UPDATE carries (200), so the call takes two statements.
            var answers: [Int64] = []
            for _ in 0..<205 {
                answers.append(
                    try await store.beginTurn(conversationID: conversation.id, userContent: "q", now: .now()).assistant
                        .id)
            }
            try await store.finishMessage(
                messageID: answers[3], content: "final", status: .completed, error: nil, now: .now())
            try await store.saveProgress(
                answers.enumerated().map { AnswerProgress(messageID: $1, content: "part \($0) 你好") })
            let saved = try await store.messages(conversationID: conversation.id).filter { $0.role == .assistant }.map(
                \.content)
            #expect(saved.count == 205)
            #expect(saved[3] == "final")
            #expect(saved.enumerated().allSatisfy { $0 == 3 || $1 == "part \($0) 你好" })
        }
    }
}
