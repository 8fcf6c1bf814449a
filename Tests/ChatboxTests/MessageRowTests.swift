@testable import Chatbox
import SQLKit
import Testing

@Suite("Message rows of SQLite, read by position")
struct MessageRowTests {
    /// SQLite's message rows are read by position; the message is the same as read by name, NULLs and all.
    @Test func sqliteMessageRowsAreReadByPositionAsTheyAreByName() async throws {
        try await Backend.sqlite.withStore { store in
            let user = try await store.createUser(username: "r", usernameKey: "r", passwordHash: "h", role: .user)
            let conversation = try await store.createConversation(userID: user.id, title: "rows")
            let turn = try await store.beginTurn(conversationID: conversation.id, userContent: "q 中文", now: 1)
            var answer = turn.assistant
            (answer.content, answer.status, answer.error, answer.model) = ("a", .failed, "e", "m")
            (answer.reasoning, answer.usage) = ("r", TokenUsage(promptTokens: 3, completionTokens: 4))
            (answer.firstTokenMs, answer.durationMs) = (5, 6)
            try await store.finishAnswer(answer, now: 2)
            let rows = try await store.db.raw(
                "SELECT \(unsafeRaw: SQLChatStore.messageColumns) FROM messages ORDER BY id"
            ).all()
            #expect(rows.count == 2)
            for row in rows {
                let values = try #require((row as? SQLiteValuesRow)?.row)
                let byPosition = try #require(SQLChatStore.message(at: values))
                #expect(byPosition == (try SQLChatStore.messageByName(row)))
            }
            let read = try await store.messages(conversationID: conversation.id)
            #expect(read.map(\.content) == ["q 中文", "a"] && read[0].error == nil && read[0].usage == nil)
            #expect(read[1].usage == TokenUsage(promptTokens: 3, completionTokens: 4) && read[1].error == "e")
            #expect(read[1].parentID == read[0].id && read[1].reasoning == "r" && read[1].durationMs == 6)
            // Another column order is read by name.
            let reordered = try await store.db.raw(
                "SELECT parent_id, \(unsafeRaw: SQLChatStore.messageColumns) FROM messages"
            )
            .all()
            #expect(SQLChatStore.message(at: try #require((reordered.first as? SQLiteValuesRow)?.row)) == nil)
            #expect(try SQLChatStore.message(try #require(reordered.first)).content == "q 中文")
        }
    }
}
