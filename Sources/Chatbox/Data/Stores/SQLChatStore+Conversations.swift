import SQLKit

/// Conversations with their messages: the chat turn and answers' progress (listing and search: +Search).
extension SQLChatStore: ConversationStore {
    static let conversationColumns = """
        c.id, c.user_id, c.title, c.title_set_by_user, c.created_at, c.updated_at, c.model, c.system_prompt, \
        c.temperature, c.current_leaf_id
        """
    static let messageColumns = """
        id, conversation_id, role, content, status, error, created_at, model, reasoning, prompt_tokens, \
        completion_tokens, first_token_ms, duration_ms, parent_id
        """

    public func createConversation(userID: Int64, title: String, settings: ChatSettings) async throws -> Conversation {
        let now = Millis.now()
        let id = try await insert(
            """
            INSERT INTO conversations (user_id, title, title_set_by_user, created_at, updated_at, model, system_prompt, \
            temperature) VALUES (\(bind: userID), \(bind: title), \(bind: title.isEmpty ? 0 : 1), \(bind: now), \
            \(bind: now), \(bind: settings.model), \(bind: settings.systemPrompt), \(bind: settings.temperature))
            """)
        return Conversation(
            id: id, userID: userID, title: title, titleSetByUser: !title.isEmpty, createdAt: now, updatedAt: now,
            model: settings.model, systemPrompt: settings.systemPrompt, temperature: settings.temperature)
    }

    public func updateConversation(id: Int64, userID: Int64, change: ConversationChange) async throws -> Conversation {
        var sets: [SQLQueryString] = []
        if let title = change.title { sets.append("title = \(bind: title), title_set_by_user = 1") }
        if let model = change.model { sets.append("model = \(bind: model)") }
        if let prompt = change.systemPrompt { sets.append("system_prompt = \(bind: prompt)") }
        if let temperature = change.temperature { sets.append("temperature = \(bind: temperature)") }
        if let leaf = change.currentLeafID {
            let inConversation = try await db.raw(
                "SELECT id FROM messages WHERE id = \(bind: leaf) AND conversation_id = \(bind: id)"
            ).first()
            guard inConversation != nil else { throw StoreError.badReference }
            sets.append("current_leaf_id = \(bind: leaf)")
        }
        if !sets.isEmpty {
            // MySQL counts only rows it changed: a change to the same values would read as "not found".
            let found = try await db.raw(
                "SELECT id FROM conversations WHERE id = \(bind: id) AND user_id = \(bind: userID)"
            ).first()
            guard found != nil else { throw StoreError.notFound }
            try await db.raw(
                """
                UPDATE conversations SET \(sets.joined(separator: ", ")) \
                WHERE id = \(bind: id) AND user_id = \(bind: userID)
                """
            ).run()
        }
        guard let conversation = try await conversation(id: id, userID: userID) else { throw StoreError.notFound }
        return conversation
    }

    public func recentModels(userID: Int64, limit: Int) async throws -> [String] {
        let rows = try await db.raw(
            """
            SELECT model FROM conversations WHERE user_id = \(bind: userID) AND model IS NOT NULL \
            ORDER BY updated_at DESC, id DESC LIMIT \(bind: limit * 4)
            """
        ).all()
        var models: [String] = []
        for row in rows {
            let model = try row.decode(column: "model", as: String.self)
            if !models.contains(model) { models.append(model) }
            if models.count >= limit { break }
        }
        return models
    }

    public func conversation(id: Int64, userID: Int64) async throws -> Conversation? {
        try await Self.conversation(id: id, userID: userID, on: db)
    }

    static func conversation(id: Int64, userID: Int64, on conn: any SQLDatabase) async throws -> Conversation? {
        try await conn.raw(
            """
            SELECT \(unsafeRaw: conversationColumns) FROM conversations c \
            WHERE c.id = \(bind: id) AND c.user_id = \(bind: userID)
            """
        ).first().map(conversation)
    }

    public func setGeneratedTitle(conversationID: Int64, title: String) async throws -> Bool {
        try await changedRows(
            """
            UPDATE conversations SET title = \(bind: title) WHERE id = \(bind: conversationID) AND title_set_by_user = 0
            """) > 0
    }

    public func deleteConversation(id: Int64, userID: Int64) async throws {
        let indexed = try await searchRowsToDrop(
            where:
                "conversation_id IN (SELECT id FROM conversations WHERE id = \(bind: id) AND user_id = \(bind: userID))"
        )
        try await changeOne("DELETE FROM conversations WHERE id = \(bind: id) AND user_id = \(bind: userID)")
        await dropSearchRows(indexed)
    }

    /// Oldest first by id. The tree (`parent_id`) says what follows what; the id order only has to put a parent
    /// before its children (export and the page rely on it) and order siblings. It does, also with several
    /// writers: a message is inserted after its parent is visible (on Galera, after the parent's row was applied,
    /// which moves the node's AUTO_INCREMENT counter past it), so its id is larger whatever the node's
    /// `auto_increment_increment` interleaving. `created_at` comes from each instance's clock and could put a child
    /// before its parent when clocks disagree, so it is not used here.
    public func messages(conversationID: Int64) async throws -> [Message] {
        try await Self.messages(conversationID: conversationID, on: db)
    }

    static func messages(conversationID: Int64, on conn: any SQLDatabase) async throws -> [Message] {
        try await conn.raw(
            """
            SELECT \(unsafeRaw: messageColumns) FROM messages \
            WHERE conversation_id = \(bind: conversationID) ORDER BY id
            """
        ).all().map(message)
    }

    /// SQLite: both reads on one reader, on its thread (no hop between them, none to join). MySQL: side by side on
    /// two connections, so that their round trips overlap; the messages of a conversation that is not the user's
    /// are dropped.
    public func conversationWithMessages(id: Int64, userID: Int64) async throws -> (Conversation, [Message])? {
        if let sqlite = db as? SQLitePool {
            return try await sqlite.reading { conn in
                guard let conversation = try await Self.conversation(id: id, userID: userID, on: conn) else {
                    return nil
                }
                return (conversation, try await Self.messages(conversationID: id, on: conn))
            }
        }
        async let messages = Self.messages(conversationID: id, on: db)
        guard let conversation = try await Self.conversation(id: id, userID: userID, on: db) else { return nil }
        return (conversation, try await messages)
    }

    public func beginTurn(
        conversationID: Int64, userContent: String, place: QuestionPlace, model: String?, now: Millis,
        claim: AnswerClaim?
    ) async throws -> (user: Message, assistant: Message) {
        try await transaction { conn in
            if let claim { try await take(claim, conversationID: conversationID, on: conn) }
            let parent: Int64?
            switch place {
            case .root: parent = nil
            case .afterCurrentLeaf:
                parent = try await conn.raw(
                    "SELECT current_leaf_id FROM conversations WHERE id = \(bind: conversationID)"
                ).first()?.decode(column: "current_leaf_id", as: Int64?.self)
            case .after(let messageID):
                // A question follows an answer of the same conversation.
                let role = try await conn.raw(
                    """
                    SELECT role FROM messages WHERE id = \(bind: messageID) AND conversation_id = \(bind: conversationID)
                    """
                ).first()?.decode(column: "role", as: String.self)
                guard role == MessageRole.assistant.rawValue else { throw StoreError.badReference }
                parent = messageID
            }
            let question = try await insertMessage(
                conn, conversationID, .user, userContent, .completed, nil, parent: parent, now)
            let answer = try await insertMessage(
                conn, conversationID, .assistant, "", .processing, model, parent: question.id, now)
            try await moveLeaf(conn, conversationID, to: answer.id, now: now)
            return (question, answer)
        }
    }

    public func beginRegeneration(
        conversationID: Int64, messageID: Int64?, model: String?, adoptingModel: Bool, now: Millis,
        claim: AnswerClaim?
    ) async throws -> (user: Message, assistant: Message)? {
        try await transaction { conn in
            if let claim { try await take(claim, conversationID: conversationID, on: conn) }
            let target: Int64
            if let messageID {
                target = messageID
            } else {
                let leaf = try await conn.raw(
                    "SELECT current_leaf_id FROM conversations WHERE id = \(bind: conversationID)"
                ).first()?.decode(column: "current_leaf_id", as: Int64?.self)
                guard let leaf else { return nil }
                target = leaf
            }
            guard let message = try await message(conn, target, in: conversationID) else {
                if messageID != nil { throw StoreError.badReference }
                return nil
            }
            // The question above an answer, or the question itself.
            let question: Message
            if message.role == .user {
                question = message
            } else {
                guard let parent = message.parentID,
                    let above = try await self.message(conn, parent, in: conversationID),
                    above.role == .user
                else { return nil }
                question = above
            }
            let answer = try await insertMessage(
                conn, conversationID, .assistant, "", .processing, model, parent: question.id, now)
            try await moveLeaf(conn, conversationID, to: answer.id, now: now, model: adoptingModel ? model : nil)
            return (question, answer)
        }
    }

    private func message(_ conn: any SQLDatabase, _ id: Int64, in conversationID: Int64) async throws -> Message? {
        try await conn.raw(
            """
            SELECT \(unsafeRaw: Self.messageColumns) FROM messages \
            WHERE id = \(bind: id) AND conversation_id = \(bind: conversationID)
            """
        ).first().map(Self.message)
    }

    /// The new answer is the end of the path the user sees, and the conversation was just used (and goes on with
    /// `model`, when given).
    private func moveLeaf(
        _ conn: any SQLDatabase, _ conversationID: Int64, to leaf: Int64, now: Millis, model: String? = nil
    ) async throws {
        let setModel: SQLQueryString = if let model { ", model = \(bind: model)" } else { "" }
        try await conn.raw(
            """
            UPDATE conversations SET current_leaf_id = \(bind: leaf), updated_at = \(bind: now)\(setModel) \
            WHERE id = \(bind: conversationID)
            """
        ).run()
    }

    private func insertMessage(
        _ conn: any SQLDatabase, _ conversationID: Int64, _ role: MessageRole, _ content: String,
        _ status: MessageStatus, _ model: String?, parent: Int64?, _ now: Millis
    ) async throws -> Message {
        let id = try await insert(
            """
            INSERT INTO messages (conversation_id, role, content, status, created_at, updated_at, model, parent_id) \
            VALUES (\(bind: conversationID), \(bind: role.rawValue), \(bind: content), \(bind: status.rawValue), \
            \(bind: now), \(bind: now), \(bind: model), \(bind: parent))
            """, on: conn)
        if status != .processing { try await indexMessages(where: "id = \(bind: id)", on: conn) }
        return Message(
            id: id, conversationID: conversationID, role: role, content: content, status: status, error: nil,
            createdAt: now, parentID: parent, model: model)
    }

    /// Up to 200 answers per UPDATE (a CASE on the id): thousands of streaming answers cost a few statements a
    /// second, not thousands. A statement also carries at most `progressStatementBytes` of text (an answer longer
    /// than that goes alone), so that long answers together never exceed the server's packet limit.
    public func saveProgress(_ answers: [AnswerProgress]) async throws {
        let now = Millis.now()
        try await transaction { conn in
            for batch in Self.progressBatches(answers) {
                let cases = batch.map { answer -> SQLQueryString in
                    "WHEN \(bind: answer.messageID) THEN \(bind: answer.content)"
                }
                let ids = batch.map { answer -> SQLQueryString in "\(bind: answer.messageID)" }
                // Reasoning only where there is some: most answers have none, and their statement stays as small.
                let thinking = batch.filter { !$0.reasoning.isEmpty }
                var reasoning: SQLQueryString = ""
                if !thinking.isEmpty {
                    let cases = thinking.map { answer -> SQLQueryString in
                        "WHEN \(bind: answer.messageID) THEN \(bind: answer.reasoning)"
                    }
                    reasoning = ", reasoning = CASE id \(cases.joined(separator: " ")) ELSE reasoning END"
                }
                try await conn.raw(
                    """
                    UPDATE messages SET content = CASE id \(cases.joined(separator: " ")) END\(reasoning), \
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
            let size = answers[index].content.utf8.count + answers[index].reasoning.utf8.count
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
        try await transaction { conn in
            try await conn.raw(
                """
                UPDATE messages SET content = \(bind: content), status = \(bind: status.rawValue), \
                error = \(bind: error), updated_at = \(bind: now) WHERE id = \(bind: messageID)
                """
            ).run()
            try await indexMessages(where: "id = \(bind: messageID)", on: conn)
            try await conn.raw(
                """
                UPDATE conversations SET updated_at = \(bind: now) \
                WHERE id = (SELECT conversation_id FROM messages WHERE id = \(bind: messageID))
                """
            ).run()
        }
    }

    public func finishAnswer(_ answer: Message, now: Millis) async throws {
        try await transaction { conn in
            try await conn.raw(
                """
                UPDATE messages SET content = \(bind: answer.content), status = \(bind: answer.status.rawValue), \
                error = \(bind: answer.error), reasoning = \(bind: answer.reasoning.isEmpty ? nil : answer.reasoning), \
                model = \(bind: answer.model), prompt_tokens = \(bind: answer.usage?.promptTokens), \
                completion_tokens = \(bind: answer.usage?.completionTokens), \
                first_token_ms = \(bind: answer.firstTokenMs), duration_ms = \(bind: answer.durationMs), \
                updated_at = \(bind: now) WHERE id = \(bind: answer.id) AND status = 'processing'
                """
            ).run()
            try await indexMessages(where: "id = \(bind: answer.id)", on: conn)
            try await conn.raw(
                """
                UPDATE conversations SET updated_at = \(bind: now) WHERE id = \(bind: answer.conversationID)
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
            updatedAt: try row.decode(column: "updated_at", as: Int64.self),
            model: try row.decode(column: "model", as: String?.self),
            systemPrompt: try row.decode(column: "system_prompt", as: String?.self),
            temperature: try row.decode(column: "temperature", as: Double?.self),
            currentLeafID: try row.decode(column: "current_leaf_id", as: Int64?.self))
    }
}
