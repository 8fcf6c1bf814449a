import Chatbox
import FakeUpstream
import Foundation
import Testing

@Suite("Streaming chat: the turn")
struct ChatTurnTests {
    @Test func aTurnStreamsStartDeltasDoneAndTitleAndStoresEverything() async throws {
        try await withChatApp { chat in
            let id = try await chat.conversation()
            let before = try await chat.api.listConversations(token: chat.token)
            let opened = try await chat.events.send(id, "Tell me about cats [[fake tokens=20 delay_ms=40]]")
            #expect(opened.status == 200)
            #expect(opened.headers["Cache-Control"].first == "no-cache")
            #expect(opened.headers["X-Accel-Buffering"].first == "no")
            let events = try await opened.all()
            #expect(events.names.first == "start")
            #expect(Array(events.names.suffix(2)) == ["done", "title"])
            #expect(events.names.contains("delta"))

            let start = try #require(events.first("start"))
            #expect(
                start.object("user_message")["content"] as? String
                    == "Tell me about cats [[fake tokens=20 delay_ms=40]]")
            #expect(start.object("assistant_message")["status"] as? String == "processing")
            #expect(start.object("assistant_message")["content"] as? String == "")
            let done = try #require(events.first("done")).object("message")
            #expect(done["status"] as? String == "completed")
            #expect(done["content"] as? String == events.streamedText)
            #expect((done["content"] as? String)?.hasPrefix("word1 word2") == true)
            // Streamed as it came, not read at the end: the server saw the first piece long before the last (the 20
            // pieces come 40 ms apart). Its own timestamps: how a busy client's stream groups pieces depends on load
            // (the grouping itself is StreamBatchingTests').
            let firstToken = try #require(done["first_token_ms"] as? Int)
            let duration = try #require(done["duration_ms"] as? Int)
            #expect(duration - firstToken >= 500, "first piece at \(firstToken) ms, end at \(duration) ms")
            let title = try #require(events.first("title"))
            #expect((title.json["conversation_id"] as? NSNumber)?.int64Value == id)

            let stored = try await chat.stored(id)
            #expect(stored.messages.count == 2)
            #expect(stored.messages[0]["role"] as? String == "user")
            #expect(stored.messages[1]["status"] as? String == "completed")
            #expect(stored.messages[1]["content"] as? String == events.streamedText)
            #expect(stored.title == title.json["title"] as? String)
            let after = try await chat.api.listConversations(token: chat.token)
            let updatedBefore = (before.json["conversations"] as? [[String: Any]])?.first?["updated_at"] as? String
            let updatedAfter = (after.json["conversations"] as? [[String: Any]])?.first?["updated_at"] as? String
            #expect(updatedBefore != nil && updatedAfter != nil && updatedAfter! > updatedBefore!)
        }
    }

    @Test func laterTurnsSendTheConversationSoFarAndGetNoTitleEvent() async throws {
        try await withChatApp({ $0.model.systemPrompt = "You are terse." }) { chat in
            let id = try await chat.conversation()
            _ = try await chat.events.send(id, "first question [[fake reply=\"first answer\"]]").all()
            _ = try await chat.events.send(id, "second question [[fake status=500 message=\"down\"]]").all()
            let third = try await chat.events.send(id, "third question [[fake reply=\"third answer\"]]").all()
            #expect(third.names.last == "done")
            #expect(!third.names.contains("title"))
            let sent = try #require(chat.fake.requests().last { !$0.isTitleRequest })
            #expect(sent.messages.map(\.role) == ["system", "user", "assistant", "user", "user"])
            #expect(sent.messages[0].content == "You are terse.")
            #expect(sent.messages[2].content == "first answer")
            #expect(sent.messages.last?.content == "third question [[fake reply=\"third answer\"]]")
        }
    }

    @Test func aLongConversationSendsOnlyTheNewestTurnsThatFitTheBudget() async throws {
        try await withChatApp({ $0.model.contextChars = 120 }) { chat in
            let id = try await chat.conversation()
            for index in 1...5 {
                _ = try await chat.events.send(id, "question \(index) [[fake reply=\"answer number \(index) here\"]]")
                    .all()
            }
            let sent = try #require(chat.fake.requests().last { !$0.isTitleRequest })
            #expect(sent.messages.first?.role == "user")
            #expect(sent.messages.last?.content.hasPrefix("question 5") == true)
            #expect(sent.messages.count < 9)
            #expect(!sent.messages.contains { $0.content.hasPrefix("question 1") })
        }
    }

    @Test func theAnswerIsSavedWhileItStreams() async throws {
        try await withChatApp { chat in
            let id = try await chat.conversation()
            let opened = try await chat.events.send(id, "slow [[fake tokens=60 delay_ms=100]]")
            let partial = try await eventually(timeout: .seconds(5)) {
                let content = try await chat.stored(id).messages.last?["content"] as? String ?? ""
                return content.hasPrefix("word1") && !content.contains("word60")
            }
            #expect(partial, "the partial answer reached the database while streaming")
            let status = try await chat.stored(id).messages.last?["status"] as? String
            #expect(status == "processing")
            _ = try await opened.all()
        }
    }

    @Test func badTurnsAreOrdinaryJSONErrors() async throws {
        try await withChatApp({ $0.maxMessageChars = 100 }) { chat in
            let id = try await chat.conversation()
            let unknown = try await chat.events.send(999_999, "hello")
            #expect(unknown.status == 404)
            let empty = try await chat.events.send(id, "  \n ")
            #expect(empty.status == 422)
            #expect(empty.bodyText.contains("The message is empty."))
            let long = try await chat.events.send(id, String(repeating: "x", count: 101))
            #expect(long.status == 413)
            let nul = try await chat.events.send(id, "nul\u{0}byte")
            #expect(nul.status == 422)
            #expect(nul.bodyText.contains("NUL"))
            let missing = try await chat.events.post("/api/conversations/\(id)/messages", json: "{\"text\":\"hi\"}")
            #expect(missing.status == 422)
            #expect(try await chat.stored(id).messages.isEmpty)
        }
    }

    @Test func aSecondTurnWhileOneRunsIsAConflict() async throws {
        try await withChatApp { chat in
            let id = try await chat.conversation()
            let running = try await chat.events.send(id, "slow [[fake tokens=30 delay_ms=30]]")
            let second = try await chat.events.send(id, "impatient")
            #expect(second.status == 409)
            #expect(second.bodyText.contains("already being generated"))
            _ = try await running.all()
            #expect(try await chat.stored(id).messages.count == 2)
        }
    }

    @Test func anotherUsersConversationCannotBeChattedIn() async throws {
        try await withChatApp { chat in
            let id = try await chat.conversation()
            let intruder = try await chat.api.signUp("intruder")
            let events = EventStreamClient(port: chat.events.port, token: intruder)
            #expect(try await events.send(id, "hi").status == 404)
            #expect(try await events.get("/api/conversations/\(id)/stream").status == 404)
            #expect(try await events.post("/api/conversations/\(id)/stop").status == 404)
            #expect(try await events.post("/api/conversations/\(id)/regenerate").status == 404)
        }
    }
}
