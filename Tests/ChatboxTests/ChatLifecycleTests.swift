import Synchronization
import Chatbox
import FakeUpstream
import Foundation
import Testing

@Suite("Streaming chat: disconnect, re-attach, stop, regenerate, restart")
struct ChatLifecycleTests {
    @Test func anAnswerIsCompletedEvenWhenTheBrowserLeaves() async throws {
        try await withChatApp { chat in
            let id = try await chat.conversation()
            let opened = try await chat.events.send(id, "[[fake tokens=30 delay_ms=20]]")
            var iterator = opened.events.makeAsyncIterator()
            _ = try await iterator.next()  // start
            _ = try await iterator.next()  // first delta
            opened.cancel()
            let completed = try await eventually {
                try await chat.stored(id).messages.last?["status"] as? String == "completed"
            }
            #expect(completed)
            #expect((try await chat.stored(id).messages.last?["content"] as? String)?.hasSuffix("word30") == true)
        }
    }

    @Test func reattachingMidAnswerGivesTheTextSoFarThenTheRest() async throws {
        try await withChatApp { chat in
            let id = try await chat.conversation()
            // 3 s of answer: time enough to re-attach mid-answer on a busy machine.
            let first = try await chat.events.send(id, "[[fake tokens=150 delay_ms=20]]")
            // Re-attach once a couple of pieces have arrived (however slow the machine is).
            var original: [ReceivedEvent] = []
            var iterator = first.events.makeAsyncIterator()
            while original.filter({ $0.name == "delta" }).count < 2, let event = try await iterator.next() {
                original.append(event)
            }
            let second = try await chat.events.get("/api/conversations/\(id)/stream")
            #expect(second.status == 200)
            let reattached = try await second.all()
            while let event = try await iterator.next() { original.append(event) }
            let start = try #require(reattached.first("start"))
            #expect(start.json["user_message"] is NSNull)
            let soFar = start.object("assistant_message")["content"] as? String ?? ""
            #expect(soFar.hasPrefix("word1 "))
            #expect(soFar + reattached.streamedText == original.streamedText)
            #expect(reattached.first("done")?.object("message")["status"] as? String == "completed")
        }
    }

    @Test func reattachingWhenNothingRunsIs204() async throws {
        try await withChatApp { chat in
            let id = try await chat.conversation()
            #expect(try await chat.events.get("/api/conversations/\(id)/stream").status == 204)
        }
    }

    @Test func stopEndsTheAnswerForEveryListenerAndKeepsThePartialText() async throws {
        try await withChatApp { chat in
            let id = try await chat.conversation()
            let first = try await chat.events.send(id, "[[fake tokens=200 delay_ms=20]]")
            try await Task.sleep(for: .milliseconds(200))
            let second = try await chat.events.get("/api/conversations/\(id)/stream")
            let stop = try await chat.api.call(.post, "/api/conversations/\(id)/stop", json: "{}", token: chat.token)
            #expect(stop.status == .noContent)
            for events in [try await first.all(), try await second.all()] {
                let done = try #require(events.first("done")).object("message")
                #expect(done["status"] as? String == "stopped")
                #expect((done["content"] as? String)?.hasPrefix("word1 ") == true)
                #expect((done["content"] as? String)?.contains("word200") == false)
            }
            let stored = try await chat.stored(id).messages.last
            #expect(stored?["status"] as? String == "stopped")
            #expect(try await eventually { chat.fake.openStreams == 0 })
            // Stopping again, with nothing running, is harmless.
            #expect(
                try await chat.api.call(.post, "/api/conversations/\(id)/stop", token: chat.token).status == .noContent)
        }
    }

    @Test func regenerateAddsAVersionBesideTheLastAnswerAndRetriesAFailedOne() async throws {
        let attempts = Counter()
        let behaviour: @Sendable (FakeRequest) -> FakeReply = { request in
            if request.isTitleRequest { return .text("Retry title") }
            return attempts.next() == 1 ? .error(500, message: "boom") : .text("second try works")
        }
        try await withChatApp(behaviour: behaviour) { chat in
            let id = try await chat.conversation()
            let failed = try await chat.events.send(id, "please answer").all()
            #expect(failed.first("done")?.object("message")["status"] as? String == "failed")
            let retried = try await chat.events.post("/api/conversations/\(id)/regenerate").all()
            #expect(retried.names.first == "start")
            #expect(retried.first("start")?.object("user_message")["content"] as? String == "please answer")
            #expect(retried.first("done")?.object("message")["status"] as? String == "completed")
            let stored = try await chat.stored(id).messages
            #expect(stored.map { $0["status"] as? String } == ["completed", "failed", "completed"])
            #expect(stored.last?["content"] as? String == "second try works")
            #expect(stored.last?["parent_id"] as? Int == stored.first?["id"] as? Int, "both answer the question")
        }
    }

    @Test func regenerateWithNoQuestionIsAConflict() async throws {
        try await withChatApp { chat in
            let id = try await chat.conversation()
            let reply = try await chat.events.post("/api/conversations/\(id)/regenerate")
            #expect(reply.status == 409)
        }
    }

    @Test func answersLeftProcessingByACrashAreFailedAtStartUp() async throws {
        let config = TestConfig.make()
        let database = try await OpenDatabase.open(config.database, mysqlPoolSize: 1, logger: .init(label: "test"))
        let store = SQLChatStore(db: database.sql, flavor: database.flavor, logger: .init(label: "test"))
        try await store.migrate()
        let user = try await store.createUser(username: "crash", usernameKey: "crash", passwordHash: "x", role: .user)
        let conversation = try await store.createConversation(userID: user.id, title: "t")
        let turn = try await store.beginTurn(conversationID: conversation.id, userContent: "q", now: .now())
        try await store.saveProgress([AnswerProgress(messageID: turn.assistant.id, content: "half an ans")])
        await database.close()

        let app = try await buildApplication(config: config)
        try await app.test(.live) { _ in }
        let reopened = try await OpenDatabase.open(config.database, mysqlPoolSize: 1, logger: .init(label: "test"))
        let messages = try await SQLChatStore(db: reopened.sql, flavor: reopened.flavor, logger: .init(label: "test"))
            .messages(conversationID: conversation.id)
        await reopened.close()
        #expect(messages.map(\.content) == ["q", "half an ans"])
        #expect(messages.last?.status == .failed)
        #expect(messages.last?.error == "The server restarted before this answer finished.")
    }
}

final class Counter: Sendable {
    private let value = Mutex(0)
    func next() -> Int {
        value.withLock {
            $0 += 1
            return $0
        }
    }
}
