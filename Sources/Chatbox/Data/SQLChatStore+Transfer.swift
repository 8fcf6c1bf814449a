import SQLKit

/// Export and import of a user's whole history.
extension SQLChatStore {
    public func export(userID: Int64) async throws -> [(conversation: Conversation, messages: [Message])] {
        let conversations = try await db.raw("""
            SELECT \(unsafeRaw: Self.conversationColumns) FROM conversations c WHERE c.user_id = \(bind: userID) \
            ORDER BY c.updated_at DESC, c.id DESC
            """).all().map(Self.conversation)
        var result: [(Conversation, [Message])] = []
        for conversation in conversations {
            result.append((conversation, try await messages(conversationID: conversation.id)))
        }
        return result
    }

    public func importConversations(userID: Int64, _ conversations: [ImportedConversation]) async throws -> [Bool] {
        try await transaction { conn in
            var added: [Bool] = []
            for conversation in conversations {
                let existing = try await conn.raw("""
                    SELECT id FROM conversations WHERE user_id = \(bind: userID) AND title = \(bind: conversation.title) \
                    AND created_at = \(bind: conversation.createdAt)
                    """).first()
                guard existing == nil else {
                    added.append(false)
                    continue
                }
                let id = try await insert("""
                    INSERT INTO conversations (user_id, title, title_set_by_user, created_at, updated_at) \
                    VALUES (\(bind: userID), \(bind: conversation.title), \(bind: conversation.title.isEmpty ? 0 : 1), \
                    \(bind: conversation.createdAt), \(bind: conversation.updatedAt))
                    """, on: conn)
                for message in conversation.messages {
                    try await conn.raw("""
                        INSERT INTO messages (conversation_id, role, content, status, error, created_at, updated_at) \
                        VALUES (\(bind: id), \(bind: message.role.rawValue), \(bind: message.content), \
                        \(bind: message.status.rawValue), \(bind: message.error), \(bind: message.createdAt), \
                        \(bind: message.createdAt))
                        """).run()
                }
                added.append(true)
            }
            return added
        }
    }
}
