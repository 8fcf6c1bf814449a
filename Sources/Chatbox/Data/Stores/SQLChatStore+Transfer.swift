import SQLKit

/// Export and import of a user's whole history.
extension SQLChatStore: TransferStore {
    public func exportedConversations(userID: Int64) async throws -> [Conversation] {
        try await db.raw(
            """
            SELECT \(unsafeRaw: Self.conversationColumns) FROM conversations c WHERE c.user_id = \(bind: userID) \
            ORDER BY c.updated_at DESC, c.id DESC
            """
        ).all().map(Self.conversation)
    }

    /// Where an import stands between two of its transactions.
    struct ImportProgress: Sendable {
        /// The next conversation to start, or to go on with when `openID` is set.
        var conversation = 0
        /// The next message of that conversation.
        var message = 0
        /// Its row, when a batch ended in the middle of its messages.
        var openID: Int64?
        var added: [Bool] = []
        var insertedIDs: [Int64] = []
    }

    public func importConversations(
        userID: Int64, _ conversations: [ImportedConversation], batching: ImportBatching,
        afterBatch: @Sendable (Int) async throws -> Void
    ) async throws -> [Bool] {
        var progress = ImportProgress()
        var batch = 0
        do {
            while progress.conversation < conversations.count {
                // Each batch is its own short transaction; releasing the connection between them lets the writers
                // that queued meanwhile (other users' chat turns, sign-ups) go first.
                progress = try await db.transaction { [progress] conn in
                    try await importBatch(userID: userID, conversations, from: progress, batching: batching, on: conn)
                }
                batch += 1
                try await afterBatch(batch)
            }
        } catch {
            await removeImported(progress.insertedIDs, userID: userID, after: error)
            throw error
        }
        return progress.added
    }

    /// One batch: goes on from `start` until the batch holds `batching.conversations` conversations (duplicates
    /// checked count too) or `batching.messages` messages.
    private func importBatch(
        userID: Int64, _ conversations: [ImportedConversation], from start: ImportProgress, batching: ImportBatching,
        on conn: any SQLDatabase
    ) async throws -> ImportProgress {
        var progress = start
        var touched = 0
        var written = 0
        while progress.conversation < conversations.count, touched < batching.conversations, written < batching.messages
        {
            let conversation = conversations[progress.conversation]
            touched += 1
            let id: Int64
            if let open = progress.openID {
                id = open
            } else {
                let existing = try await conn.raw(
                    """
                    SELECT id FROM conversations WHERE user_id = \(bind: userID) AND title = \(bind: conversation.title) \
                    AND created_at = \(bind: conversation.createdAt) LIMIT 1
                    """
                ).first()
                guard existing == nil else {
                    progress.added.append(false)
                    progress.conversation += 1
                    continue
                }
                id = try await insert(
                    """
                    INSERT INTO conversations (user_id, title, title_set_by_user, created_at, updated_at, model, \
                    system_prompt, temperature) \
                    VALUES (\(bind: userID), \(bind: conversation.title), \(bind: conversation.title.isEmpty ? 0 : 1), \
                    \(bind: conversation.createdAt), \(bind: conversation.updatedAt), \(bind: conversation.settings.model), \
                    \(bind: conversation.settings.systemPrompt), \(bind: conversation.settings.temperature))
                    """, on: conn)
                progress.insertedIDs.append(id)
                (progress.openID, progress.message) = (id, 0)
            }
            let end = min(conversation.messages.count, progress.message + (batching.messages - written))
            try await insertMessages(conversation.messages[progress.message..<end], conversationID: id, on: conn)
            written += end - progress.message
            progress.message = end
            if end == conversation.messages.count {
                progress.added.append(true)
                (progress.conversation, progress.message, progress.openID) = (progress.conversation + 1, 0, nil)
            }
        }
        return progress
    }

    /// Multi-row INSERTs of up to 100 messages or about 1 MB of text each (under MySQL's packet limit).
    private func insertMessages(
        _ messages: ArraySlice<ImportedConversation.Entry>, conversationID: Int64, on conn: any SQLDatabase
    ) async throws {
        var rows = 0
        var bytes = 0
        var sql = SQLQueryString("")
        func flush() async throws {
            guard rows > 0 else { return }
            try await conn.raw(
                """
                INSERT INTO messages (conversation_id, role, content, status, error, created_at, updated_at, model, \
                reasoning, prompt_tokens, completion_tokens) VALUES
                """ + " " + sql
            ).run()
            (rows, bytes, sql) = (0, 0, SQLQueryString(""))
        }
        for message in messages {
            if rows > 0 { sql += ", " }
            sql += """
                (\(bind: conversationID), \(bind: message.role.rawValue), \(bind: message.content), \
                \(bind: message.status.rawValue), \(bind: message.error), \(bind: message.createdAt), \
                \(bind: message.createdAt), \(bind: message.model), \(bind: message.reasoning.isEmpty ? nil : message.reasoning), \
                \(bind: message.usage?.promptTokens), \(bind: message.usage?.completionTokens))
                """
            rows += 1
            bytes += message.content.utf8.count + message.reasoning.utf8.count + (message.error?.utf8.count ?? 0)
            if rows >= 100 || bytes >= 1 << 20 { try await flush() }
        }
        try await flush()
    }

    /// After a failed import, deletes the conversations it had already committed (their messages go with them).
    /// Runs in its own task so that a cancelled request still cleans up; a failure here is logged.
    private func removeImported(_ ids: [Int64], userID: Int64, after error: any Error) async {
        guard !ids.isEmpty else { return }
        let db = self.db
        let outcome = await Task {
            for start in stride(from: 0, to: ids.count, by: 200) {
                let chunk: [any Encodable & Sendable] = ids[start..<min(start + 200, ids.count)].map { $0 }
                try await db.raw(
                    "DELETE FROM conversations WHERE user_id = \(bind: userID) AND id IN (\(binds: chunk))"
                ).run()
            }
        }.result
        switch outcome {
        case .success:
            logger.notice("an import failed (\(error)); removed the \(ids.count) conversations it had added")
        case .failure(let cleanup):
            logger.error(
                "an import failed (\(error)) and removing the \(ids.count) conversations it had added failed too: \(cleanup)"
            )
        }
    }
}
