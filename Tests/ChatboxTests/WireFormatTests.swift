@testable import Chatbox
import FakeUpstream
import Foundation
import NIOCore
import Testing

/// The keys of every response stay as documented (docs/openapi.yaml): response types name their snake_case keys
/// themselves, and a conversation with its messages is written by hand.
@Suite("Wire format of responses")
struct WireFormatTests {
    static let conversationKeys: Set<String> = [
        "id", "title", "created_at", "updated_at", "model", "system_prompt", "temperature", "current_leaf_id"
    ]
    static let messageKeys: Set<String> = [
        "id", "conversation_id", "role", "content", "status", "error", "created_at", "parent_id", "model", "reasoning",
        "usage", "first_token_ms", "duration_ms"
    ]
    static let userKeys: Set<String> = ["id", "username", "role", "disabled", "created_at"]

    static func keys(_ object: Any?) -> Set<String> { Set((object as? [String: Any])?.keys.map { $0 } ?? []) }

    @Test func aConversationWithItsMessagesKeepsItsKeysAndNullErrors() async throws {
        try await withChatApp { chat in
            let id = try await chat.conversation(title: "Keys")
            _ = try await chat.events.send(id, "Hello [[fake tokens=3]]").all()
            _ = try await chat.events.send(id, "[[fake status=429 message=\"Rate limit reached for fake\"]]").all()

            let reply = try await chat.api.getConversation(id, token: chat.token)
            #expect(reply.status == .ok)
            #expect(reply.headers[.contentType] == "application/json; charset=utf-8")
            #expect(reply.headers[.contentLength] == String(reply.body.readableBytes))
            #expect(Self.keys(reply.json) == ["conversation", "messages"])
            let conversation = try #require(reply.json["conversation"] as? [String: Any])
            #expect(Self.keys(conversation) == Self.conversationKeys)
            #expect((conversation["id"] as? NSNumber)?.int64Value == id)
            #expect(conversation["title"] is String)
            #expect((conversation["updated_at"] as? String)?.count == 24)

            let messages = try #require(reply.json["messages"] as? [[String: Any]])
            #expect(messages.map { $0["role"] as? String } == ["user", "assistant", "user", "assistant"])
            for message in messages {
                #expect(Self.keys(message) == Self.messageKeys)
                #expect((message["conversation_id"] as? NSNumber)?.int64Value == id)
                #expect((message["created_at"] as? String)?.hasSuffix("Z") == true)
            }
            // `error` is there as null when there is none, and as text when the turn failed.
            #expect(messages[0...2].allSatisfy { $0["error"] is NSNull })
            #expect((messages[3]["error"] as? String)?.contains("Rate limit reached for fake") == true)
            #expect(messages[3]["status"] as? String == "failed")
            #expect(reply.text.contains(#""error":null"#))
        }
    }

    @Test func otherResponsesKeepTheirKeys() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let admin = try await api.signUp("keeper")
            let id = try await api.newConversation(token: admin, title: "one")
            _ = try await api.newConversation(token: admin, title: "two")

            let config = try await api.call(.get, "/api/config")
            #expect(Self.keys(config.json) == ["model", "registration_open", "version"])
            #expect(Self.keys(config.json["model"]) == ["name", "is_demo"])
            #expect(Self.keys(try await api.health().json) == ["status", "instance", "search"])
            let me = try await api.me(token: admin)
            #expect(Self.keys(me.json) == ["user"] && Self.keys(me.json["user"]) == Self.userKeys)
            let login = try await api.login("keeper")
            #expect(Self.keys(login.json) == ["user", "token"] && Self.keys(login.json["user"]) == Self.userKeys)

            let page = try await api.listConversations(token: admin, query: "limit=1")
            #expect(Self.keys(page.json) == ["conversations", "next_cursor", "matches"])
            #expect(page.json["next_cursor"] is String)
            #expect(Self.keys((page.json["conversations"] as? [Any])?.first) == Self.conversationKeys)
            let last = try await api.listConversations(token: admin, query: "limit=5")
            #expect(last.json["next_cursor"] is NSNull, "next_cursor is there as null on the last page")
            let renamed = try await api.renameConversation(id, title: "uno", token: admin)
            #expect(
                Self.keys(renamed.json) == ["conversation"]
                    && Self.keys(renamed.json["conversation"]) == Self.conversationKeys)

            let sessions = try await api.call(.get, "/api/account/sessions", token: admin)
            #expect(Self.keys(sessions.json) == ["sessions"])
            #expect(
                Self.keys((sessions.json["sessions"] as? [Any])?.first)
                    == ["id", "created_at", "last_used_at", "expires_at", "current"])

            let users = try await api.adminUsers(token: admin)
            #expect(Self.keys(users.json) == ["users", "next_cursor"])
            #expect(
                Self.keys((users.json["users"] as? [Any])?.first)
                    == Self.userKeys.union(["last_active_at", "conversation_count"]))
            let created = try await api.adminCreateUser(token: admin, "newbie")
            #expect(Self.keys(created.json) == ["user"] && Self.keys(created.json["user"]) == Self.userKeys)
            #expect(Self.keys(try await api.adminSettings(token: admin).json) == ["registration_open"])
            let closed = try await api.adminSettings(token: admin, json: #"{"registration_open":false}"#)
            #expect(
                closed.json as NSDictionary == ["registration_open": false], "read and written as registration_open")

            let export = try await api.exportAll(token: admin)
            #expect(Self.keys(export.json) == ["format", "version", "exported_at", "username", "conversations"])
            let exported = try #require((export.json["conversations"] as? [Any])?.first)
            // model, system_prompt and temperature only when set (the conversation has the default model).
            #expect(Self.keys(exported) == ["id", "title", "created_at", "updated_at", "model", "messages"])
            let report = try await api.importHistory(token: admin, export.text)
            #expect(Self.keys(report.json) == ["source", "imported", "imported_messages", "cut_messages", "skipped"])
            let again = try await api.importHistory(token: admin, export.text)
            #expect(Self.keys((again.json["skipped"] as? [Any])?.first) == ["title", "reason"])

            let missing = try await api.getConversation(999_999, token: admin)
            #expect(Self.keys(missing.json) == ["error"] && Self.keys(missing.json["error"]) == ["message"])
        }
    }

    /// Text that needs every kind of escaping, and some that needs none.
    static let awkward: String = {
        var text = String((0..<0x80).map { Character(Unicode.Scalar(UInt8($0))) })
        text += #"quote " backslash \ slash / "# + "é 京都 🏯 \u{2028}\u{2029} \u{7F}"
        return text
    }()

    static func parsed(_ bytes: some Sequence<UInt8>) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? NSDictionary)
    }

    @Test func theHandWrittenConversationIsTheSameJSONAsTheEncoders() throws {
        let conversation = Conversation(
            id: 7, userID: 1, title: Self.awkward, titleSetByUser: true, createdAt: 0, updatedAt: 1_700_000_000_123,
            model: Self.awkward, systemPrompt: Self.awkward, temperature: 0.7, currentLeafID: Int64.max)
        let messages = [
            Message(
                id: 1, conversationID: 7, role: .user, content: Self.awkward, status: .completed, error: nil,
                createdAt: -1),
            Message(
                id: 2, conversationID: 7, role: .assistant, content: "", status: .failed, error: Self.awkward,
                createdAt: 253_402_300_799_999, parentID: 1, model: Self.awkward, reasoning: Self.awkward,
                usage: TokenUsage(promptTokens: 12, completionTokens: Int.max), firstTokenMs: 0, durationMs: 1234),
            Message(
                id: Int64.max, conversationID: 7, role: .assistant, content: "plain", status: .processing,
                error: nil, createdAt: 1_763_769_600_000)
        ]
        let response = ConversationController.WithMessages(
            conversation: ConversationDTO(conversation), messages: messages.map(MessageDTO.init))
        let handWritten = try Self.parsed(response.json.readableBytesView)
        #expect(handWritten == (try Self.parsed(APICoding.responseEncoder.encode(response))))
        // Same as the snake_case-converting encoder that wrote every response before.
        #expect(handWritten == (try Self.parsed(APICoding.encoder.encode(response))))
        #expect(Self.keys(handWritten) == ["conversation", "messages"])
        #expect(Self.keys(handWritten["conversation"]) == Self.conversationKeys)
        let written = try #require(handWritten["messages"] as? [[String: Any]])
        #expect(written.count == 3 && written.allSatisfy { Self.keys($0) == Self.messageKeys })
        #expect(written[0]["content"] as? String == Self.awkward && written[1]["error"] as? String == Self.awkward)
        #expect(written[0]["error"] is NSNull)
        #expect(written[0]["created_at"] as? String == "1969-12-31T23:59:59.999Z")
        #expect((written[2]["id"] as? NSNumber)?.int64Value == Int64.max)

        let empty = ConversationController.WithMessages(conversation: ConversationDTO(conversation), messages: [])
        #expect(
            try Self.parsed(empty.json.readableBytesView) == (try Self.parsed(APICoding.responseEncoder.encode(empty))))
    }

    @Test func theHandWrittenStartAndDoneEventsAreTheSameJSONAsTheEncoders() throws {
        let question = Message(
            id: 1, conversationID: 7, role: .user, content: Self.awkward, status: .completed, error: nil,
            createdAt: -1)
        let answer = Message(
            id: Int64.max, conversationID: 7, role: .assistant, content: Self.awkward, status: .failed,
            error: Self.awkward, createdAt: 253_402_300_799_999, parentID: 1, model: Self.awkward,
            reasoning: Self.awkward, usage: TokenUsage(promptTokens: 12, completionTokens: Int.max), firstTokenMs: 0,
            durationMs: 1234)
        func payload(_ event: ChatEvent, _ name: String) throws -> NSDictionary {
            let text = String(buffer: SSE.frame(event))
            let prefix = "event: \(name)\ndata: "
            #expect(text.hasPrefix(prefix) && text.hasSuffix("}\n\n") && text.filter { $0 == "\n" }.count == 3)
            return try Self.parsed(text.dropFirst(prefix.count).dropLast(2).utf8)
        }
        let start = try payload(.start(user: question, assistant: answer), "start")
        let encoded = { (object: [String: MessageDTO?]) in try Self.parsed(APICoding.encoder.encode(object)) }
        #expect(
            start == (try encoded(["user_message": MessageDTO(question), "assistant_message": MessageDTO(answer)])))
        #expect(Self.keys(start["user_message"]) == Self.messageKeys)
        let regenerated = try payload(.start(user: nil, assistant: answer), "start")
        #expect(
            regenerated["user_message"] is NSNull && Self.keys(regenerated) == ["user_message", "assistant_message"])
        let done = try payload(.done(answer), "done")
        #expect(done == (try encoded(["message": MessageDTO(answer)])))
        #expect(regenerated == (try encoded(["user_message": nil, "assistant_message": MessageDTO(answer)])))
        #expect(Self.keys(done) == ["message"] && Self.keys(done["message"]) == Self.messageKeys)
    }

    @Test func escapingWritesShortFormsAndLowercaseHexAndLeavesTheRestAlone() throws {
        var buffer = ByteBuffer()
        buffer.writeJSONEscaped(Self.awkward)
        var expected = ""
        for scalar in Self.awkward.unicodeScalars {
            switch scalar {
            case "\"": expected += #"\""#
            case "\\": expected += #"\\"#
            case "\n": expected += #"\n"#
            case "\r": expected += #"\r"#
            case "\t": expected += #"\t"#
            case _ where scalar.value < 0x20: expected += String(format: "\\u%04x", scalar.value)
            default: expected.unicodeScalars.append(scalar)
            }
        }
        #expect(String(buffer: buffer) == expected)
        let decoded = try JSONSerialization.jsonObject(
            with: Data(("\"" + expected + "\"").utf8), options: .fragmentsAllowed)
        #expect(decoded as? String == Self.awkward)

        var delta = SSE.textEvent("delta", "a\"b\n\u{1}c")
        #expect(
            delta.readString(length: delta.readableBytes) == "event: delta\ndata: {\"text\":\"a\\\"b\\n\\u0001c\"}\n\n")
    }
}
