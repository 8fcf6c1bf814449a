@testable import Chatbox
import FakeUpstream
import Foundation
import Logging
import Testing

/// A conversation is a tree: edits and regenerations add versions, the path the user sees is remembered, and the
/// model is sent exactly the path to the question it answers.
@Suite("Message tree: edits and regenerations add versions; the model gets the path")
struct MessageTreeTests {
    struct Turn {
        let question: [String: Any]
        let answer: [String: Any]
        var questionID: Int64 { (question["id"] as? NSNumber)?.int64Value ?? 0 }
        var answerID: Int64 { (answer["id"] as? NSNumber)?.int64Value ?? 0 }
    }

    /// Posts `body` to the conversation's messages (or regenerate) and reads the whole stream.
    static func post(_ chat: ChatHarness, _ id: Int64, _ body: [String: Any], to path: String = "messages")
        async throws -> Turn
    {
        let opened = try await chat.events.post("/api/conversations/\(id)/\(path)", json: API.json(body))
        #expect(opened.status == 200, "\(path) \(body) starts")
        let events = try await opened.all()
        let start = try #require(events.first { $0.name == "start" })
        let done = try #require(events.first { $0.name == "done" })
        return Turn(question: start.object("user_message"), answer: done.object("message"))
    }

    static func parent(_ message: [String: Any]) -> Int64? { (message["parent_id"] as? NSNumber)?.int64Value }

    static func tree(_ chat: ChatHarness, _ id: Int64) async throws -> (leaf: Int64?, messages: [[String: Any]]) {
        let reply = try await chat.api.getConversation(id, token: chat.token)
        let conversation = reply.json["conversation"] as? [String: Any] ?? [:]
        return (
            (conversation["current_leaf_id"] as? NSNumber)?.int64Value, reply.json["messages"] as? [[String: Any]] ?? []
        )
    }

    /// What the model was last asked (not a title request), as "role: text".
    static func lastPrompt(_ chat: ChatHarness) -> [String] {
        (chat.fake.requests().last { !$0.isTitleRequest }?.messages ?? []).map(\.description)
    }

    @Test(arguments: Backend.all)
    func editingAQuestionAddsAVersionAndTheModelGetsThatPathOnly(_ backend: Backend) async throws {
        try await withChatApp(database: backend.freshLocation()) { chat in
            let id = try await chat.conversation()
            let first = try await Self.post(chat, id, ["content": "[[fake reply=\"a1\"]] q1"])
            let second = try await Self.post(chat, id, ["content": "[[fake reply=\"a2\"]] q2"])
            #expect(Self.parent(first.question) == nil && Self.parent(first.answer) == first.questionID)
            #expect(Self.parent(second.question) == first.answerID)

            let edited = try await Self.post(
                chat, id, ["content": "[[fake reply=\"a2b\"]] q2 edited", "parent_id": first.answerID])
            #expect(Self.parent(edited.question) == first.answerID, "a sibling of q2")
            #expect(
                Self.lastPrompt(chat) == [
                    "user: [[fake reply=\"a1\"]] q1", "assistant: a1", "user: [[fake reply=\"a2b\"]] q2 edited"
                ])
            let tree = try await Self.tree(chat, id)
            #expect(tree.messages.count == 6, "the old q2 and a2 stay as the other version")
            #expect(tree.leaf == edited.answerID)

            let root = try await Self.post(
                chat, id, ["content": "[[fake reply=\"r\"]] q1 again", "parent_id": NSNull()])
            #expect(Self.parent(root.question) == nil, "a new version of the first question")
            #expect(Self.lastPrompt(chat) == ["user: [[fake reply=\"r\"]] q1 again"])
        }
    }

    @Test(arguments: Backend.all)
    func regeneratingAnOlderAnswerAddsASiblingAndDeletesNothing(_ backend: Backend) async throws {
        try await withChatApp(database: backend.freshLocation()) { chat in
            let id = try await chat.conversation()
            let first = try await Self.post(chat, id, ["content": "[[fake reply=\"a1\"]] q1"])
            _ = try await Self.post(chat, id, ["content": "[[fake reply=\"a2\"]] q2"])
            let again = try await Self.post(chat, id, ["message_id": first.answerID], to: "regenerate")
            #expect(Self.parent(again.answer) == first.questionID && again.questionID == first.questionID)
            #expect(Self.lastPrompt(chat) == ["user: [[fake reply=\"a1\"]] q1"])
            let tree = try await Self.tree(chat, id)
            #expect(tree.messages.count == 5 && tree.leaf == again.answerID)

            // Without message_id: the current leaf's question (now q1 again); a failed answer is retried the same way.
            let retry = try await Self.post(chat, id, [:], to: "regenerate")
            #expect(Self.parent(retry.answer) == first.questionID)
            #expect(try await Self.tree(chat, id).messages.count == 6)
        }
    }

    @Test(arguments: Backend.all)
    func selectingAPathIsRememberedAndTheNextQuestionFollowsIt(_ backend: Backend) async throws {
        try await withChatApp(database: backend.freshLocation()) { chat in
            let id = try await chat.conversation()
            let first = try await Self.post(chat, id, ["content": "[[fake reply=\"a1\"]] q1"])
            let second = try await Self.post(chat, id, ["content": "[[fake reply=\"a2\"]] q2"])
            _ = try await Self.post(chat, id, ["message_id": first.answerID], to: "regenerate")

            let selected = try await chat.change(id, ["current_leaf_id": second.answerID])
            #expect(selected.status == .ok)
            #expect(try await Self.tree(chat, id).leaf == second.answerID, "kept for a reload or another device")
            let next = try await Self.post(chat, id, ["content": "[[fake reply=\"a3\"]] q3"])
            #expect(Self.parent(next.question) == second.answerID)
            #expect(Self.lastPrompt(chat).count == 5)

            let other = try await chat.conversation()
            let elsewhere = try await Self.post(chat, other, ["content": "[[fake tokens=1]] x"])
            #expect(
                (try await chat.change(id, ["current_leaf_id": elsewhere.answerID])).status == .unprocessableContent)
        }
    }

    @Test(arguments: Backend.all)
    func aQuestionMustFollowAnAnswerOfThisConversationAndNothingIsStoredOtherwise(_ backend: Backend) async throws {
        try await withChatApp(database: backend.freshLocation()) { chat in
            let id = try await chat.conversation()
            let first = try await Self.post(chat, id, ["content": "[[fake tokens=1]] q1"])
            let other = try await chat.conversation()
            let elsewhere = try await Self.post(chat, other, ["content": "[[fake tokens=1]] x"])
            for parent in [first.questionID, elsewhere.answerID, 999_999] {
                let reply = try await chat.api.call(
                    .post, "/api/conversations/\(id)/messages",
                    json: API.json(["content": "lost?", "parent_id": parent]), token: chat.token)
                #expect(reply.status == .unprocessableContent, "parent \(parent)")
            }
            let regenerate = try await chat.api.call(
                .post, "/api/conversations/\(id)/regenerate", json: API.json(["message_id": elsewhere.answerID]),
                token: chat.token)
            #expect(regenerate.status == .unprocessableContent)
            #expect(try await Self.tree(chat, id).messages.count == 2)
        }
    }

    @Test(arguments: Backend.all)
    func oneAnswerRunsPerConversationWhateverTheBranch(_ backend: Backend) async throws {
        try await withChatApp(database: backend.freshLocation()) { chat in
            let id = try await chat.conversation()
            let first = try await Self.post(chat, id, ["content": "[[fake tokens=1]] q1"])
            let slow = try await chat.events.send(id, "[[fake tokens=200 delay_ms=50]] long")
            #expect(slow.status == 200)
            let edit = try await chat.api.call(
                .post, "/api/conversations/\(id)/messages",
                json: API.json(["content": "meanwhile", "parent_id": first.answerID]), token: chat.token)
            #expect(edit.status == .conflict)
            #expect(edit.errorCode == "already_generating")
            let regenerate = try await chat.api.call(
                .post, "/api/conversations/\(id)/regenerate", json: API.json(["message_id": first.answerID]),
                token: chat.token)
            #expect(regenerate.status == .conflict)
            _ = try await chat.api.call(.post, "/api/conversations/\(id)/stop", json: "{}", token: chat.token)
            _ = try await slow.all()
            #expect(try await Self.tree(chat, id).messages.count == 4)
        }
    }

    @Test(arguments: Backend.all)
    func searchNamesTheNewestMessageThatMatched(_ backend: Backend) async throws {
        try await withChatApp(database: backend.freshLocation()) { chat in
            let id = try await chat.conversation()
            let first = try await Self.post(chat, id, ["content": "[[fake reply=\"plain\"]] zebra crossing"])
            _ = try await Self.post(chat, id, ["content": "[[fake reply=\"x\"]] other", "parent_id": NSNull()])
            let reply = try await chat.api.listConversations(token: chat.token, query: "q=zebra")
            let matches = try #require(reply.json["matches"] as? [[String: Any]])
            #expect(matches.count == 1)
            #expect((matches.first?["message_id"] as? NSNumber)?.int64Value == first.questionID)
            #expect((matches.first?["conversation_id"] as? NSNumber)?.int64Value == id)
            let plain = try await chat.api.listConversations(token: chat.token)
            #expect((plain.json["matches"] as? [Any])?.isEmpty == true)
        }
    }

    @Test(arguments: Backend.all)
    func anExistingConversationBecomesAChainWithItsLastMessageSelected(_ backend: Backend) async throws {
        let logger = Logger(label: "tree-migration")
        let database = try await OpenDatabase.open(backend.freshLocation(), mysqlPoolSize: 2, logger: logger)
        let store = SQLChatStore(db: database.sql, flavor: database.flavor, logger: logger)
        do {
            let user = try await seedVersion6(store)
            try await store.migrate()
            let conversation = try #require(
                try await store.conversations(userID: user.id, limit: 5, after: nil, query: nil).conversations.first)
            let messages = try await store.messages(conversationID: conversation.id)
            #expect(messages.map(\.parentID) == [nil] + messages.dropLast().map(\.id), "each follows the one before")
            #expect(conversation.currentLeafID == messages.last?.id)
            try await store.migrate()  // again: nothing changes
            #expect(
                try await store.messages(conversationID: conversation.id).map(\.parentID) == messages.map(\.parentID))
        } catch {
            await database.close()
            throw error
        }
        await database.close()
    }

    @Test func theContextOfADeepBranchIsItsPathWithinTheBudget() async throws {
        try await withChatApp({ $0.model.contextChars = 400 }) { chat in
            let id = try await chat.conversation()
            var turns: [Turn] = []
            for index in 1...30 {
                turns.append(try await Self.post(chat, id, ["content": "[[fake reply=\"a\(index)\"]] q\(index)"]))
            }
            _ = try await Self.post(
                chat, id, ["content": "[[fake reply=\"b\"]] q11 edited", "parent_id": turns[9].answerID])
            let prompt = Self.lastPrompt(chat)
            #expect(prompt.last == "user: [[fake reply=\"b\"]] q11 edited")
            #expect(
                prompt.contains("assistant: a10")
                    && !prompt.contains { $0.contains("q11\u{0}") || $0.hasSuffix("] q11") })
            #expect(!prompt.contains { $0 == "assistant: a11" || $0 == "assistant: a30" }, "nothing off the path")
            #expect(prompt.joined().count < 400 + 200, "within the budget")
        }
    }
}
