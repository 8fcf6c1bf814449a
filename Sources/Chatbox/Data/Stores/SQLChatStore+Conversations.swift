import SQLKit

/// Conversations with their messages: the chat turn and answers' progress (listing and search: +Search).
extension SQLChatStore: ConversationStore {
    static let conversationColumns = "c.id, c.user_id, c.title, c.title_set_by_user, c.created_at, c.updated_at"
    static let messageColumns = "id, conversation_id, role, content, status, error, created_at"

    public func createConversation(userID: Int64, title: String) async throws -> Conversation {
        let now = Millis.now()
        let id = try await insert(
            """
            INSERT INTO conversations (user_id, title, title_set_by_user, created_at, updated_at) \
            VALUES (\(bind: userID), \(bind: title), \(bind: title.isEmpty ? 0 : 1), \(bind: now), \(bind: now))
            """)
        return Conversation(
            id: id, userID: userID, title: title, titleSetByUser: !title.isEmpty, createdAt: now, updatedAt: now)
    }

    public func conversation(id: Int64, userID: Int64) async throws -> Conversation? {
        try await db.raw(
            """
            SELECT \(unsafeRaw: Self.conversationColumns) FROM conversations c \
            WHERE c.id = \(bind: id) AND c.user_id = \(bind: userID)
            """
        ).first().map(Self.conversation)
    }

    public func renameConversation(id: Int64, userID: Int64, title: String) async throws -> Conversation {
        try await changeOne(
            """
            UPDATE conversations SET title = \(bind: title), title_set_by_user = 1 \
            WHERE id = \(bind: id) AND user_id = \(bind: userID)
            """)
        guard let conversation = try await conversation(id: id, userID: userID) else { throw StoreError.notFound }
        return conversation
    }

    public func setGeneratedTitle(conversationID: Int64, title: String) async throws -> Bool {
        try await changedRows(
            """
            UPDATE conversations SET title = \(bind: title) WHERE id = \(bind: conversationID) AND title_set_by_user = 0
            """) > 0
    }

    public func deleteConversation(id: Int64, userID: Int64) async throws {
        try await changeOne("DELETE FROM conversations WHERE id = \(bind: id) AND user_id = \(bind: userID)")
    }

    public func messages(conversationID: Int64) async throws -> [Message] {
        try await db.raw(
            """
            SELECT \(unsafeRaw: Self.messageColumns) FROM messages \
            WHERE conversation_id = \(bind: conversationID) ORDER BY id
            """
        ).all().map(Self.message)
    }

    public func beginTurn(conversationID: Int64, userContent: String, now: Millis) async throws
        -> (user: Message, assistant: Message)
    {
        try await db.transaction { conn in
            let question = try await insertMessage(conn, conversationID, .user, userContent, .completed, now)
            let answer = try await insertMessage(conn, conversationID, .assistant, "", .processing, now)
            try await conn.raw(
                """
                UPDATE conversations SET updated_at = \(bind: now) WHERE id = \(bind: conversationID)
                """
            ).run()
            return (question, answer)
        }
    }

    public func beginRegeneration(conversationID: Int64, now: Millis) async throws
        -> (user: Message, assistant: Message)?
    {
        try await db.transaction { conn in
            guard
                let row = try await conn.raw(
                    """
                    SELECT \(unsafeRaw: Self.messageColumns) FROM messages WHERE conversation_id = \(bind: conversationID) \
                    AND role = 'user' ORDER BY id DESC LIMIT 1
                    """
                ).first()
            else { return nil }
            let question = try Self.message(row)
            try await conn.raw(
                """
                DELETE FROM messages WHERE conversation_id = \(bind: conversationID) AND id > \(bind: question.id)
                """
            ).run()
            let answer = try await insertMessage(conn, conversationID, .assistant, "", .processing, now)
            try await conn.raw(
                """
                UPDATE conversations SET updated_at = \(bind: now) WHERE id = \(bind: conversationID)
                """
            ).run()
            return (question, answer)
        }
    }

    private func insertMessage(
        _ conn: any SQLDatabase, _ conversationID: Int64, _ role: MessageRole, _ content: String,
        _ status: MessageStatus, _ now: Millis
    ) async throws -> Message {
        let id = try await insert(
            """
            INSERT INTO messages (conversation_id, role, content, status, created_at, updated_at) \
            VALUES (\(bind: conversationID), \(bind: role.rawValue), \(bind: content), \(bind: status.rawValue), \
            \(bind: now), \(bind: now))
            """, on: conn)
        return Message(
            id: id, conversationID: conversationID, role: role, content: content, status: status, error: nil,
            createdAt: now)
    }

    /// Up to 200 answers per UPDATE (a CASE on the id): thousands of streaming answers cost a few statements a
    /// second, not thousands. A statement also carries at most `progressStatementBytes` of text (an answer longer
    /// than that goes alone), so that long answers together never exceed the server's packet limit.
    public func saveProgress(_ answers: [AnswerProgress]) async throws {
        let now = Millis.now()
        try await db.transaction { conn in
            for batch in Self.progressBatches(answers) {
                let cases = batch.map { answer -> SQLQueryString in
                    "WHEN \(bind: answer.messageID) THEN \(bind: answer.content)"
                }
                let ids = batch.map { answer -> SQLQueryString in "\(bind: answer.messageID)" }
                try await conn.raw(
                    """
                    UPDATE messages SET content = CASE id \(cases.joined(separator: " ")) END, \
                    updated_at = \(bind: now) WHERE status = 'processing' AND id IN (\(ids.joined(separator: ", ")))
                    """
                ).run()
            }
        }
    }

    /// MariaDB refuses a statement larger than `max_allowed_packet` (16 MiB by default, binds included), and
    /// would then refuse every batch holding one long answer; 4 MiB stays well under it.
    static let progressStatementBytes = 4 << 20
    static let progressStatementAnswers = 200

    /// `answers` cut into statements of at most 200 answers and 4 MiB of text (an answer longer goes alone).
    static func progressBatches(_ answers: [AnswerProgress]) -> [ArraySlice<AnswerProgress>] {
        var batches: [ArraySlice<AnswerProgress>] = []
        var start = answers.startIndex
        var bytes = 0
        for index in answers.indices {
            let size = answers[index].content.utf8.count
            if index > start, index - start >= progressStatementAnswers || bytes + size > progressStatementBytes {
                batches.append(answers[start..<index])
                start = index
                bytes = 0
            }
            bytes += size
        }
        if start < answers.endIndex { batches.append(answers[start...]) }
        return batches
    }

    public func finishMessage(messageID: Int64, content: String, status: MessageStatus, error: String?, now: Millis)
        async throws
    {
        try await db.transaction { conn in
            try await conn.raw(
                """
                UPDATE messages SET content = \(bind: content), status = \(bind: status.rawValue), \
                error = \(bind: error), updated_at = \(bind: now) WHERE id = \(bind: messageID)
                """
            ).run()
            try await conn.raw(
                """
                UPDATE conversations SET updated_at = \(bind: now) \
                WHERE id = (SELECT conversation_id FROM messages WHERE id = \(bind: messageID))
                """
            ).run()
        }
    }

    static func conversation(_ row: any SQLRow) throws -> Conversation {
        Conversation(
            id: try row.decode(column: "id", as: Int64.self),
            userID: try row.decode(column: "user_id", as: Int64.self),
            title: try row.decode(column: "title", as: String.self),
            titleSetByUser: try row.decode(column: "title_set_by_user", as: Int.self) != 0,
            createdAt: try row.decode(column: "created_at", as: Int64.self),
            updatedAt: try row.decode(column: "updated_at", as: Int64.self))
    }

    static func message(_ row: any SQLRow) throws -> Message {
        Message(
            id: try row.decode(column: "id", as: Int64.self),
            conversationID: try row.decode(column: "conversation_id", as: Int64.self),
            role: MessageRole(rawValue: try row.decode(column: "role", as: String.self)) ?? .assistant,
            content: try row.decode(column: "content", as: String.self),
            status: MessageStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .failed,
            error: try row.decode(column: "error", as: String?.self),
            createdAt: try row.decode(column: "created_at", as: Int64.self))
    }
}
