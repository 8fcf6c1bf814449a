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
        /// The rows of that conversation's messages stored so far, by index: their children's `parent_id`s.
        var messageIDs: [Int64] = []
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
                progress = try await transaction { [progress] conn in
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
                (progress.openID, progress.message, progress.messageIDs) = (id, 0, [])
            }
            let end = min(conversation.messages.count, progress.message + (batching.messages - written))
            try await insertMessages(
                conversation.messages, progress.message..<end, conversationID: id, ids: &progress.messageIDs, on: conn)
            written += end - progress.message
            progress.message = end
            let finished = end == conversation.messages.count
            // The selected leaf once all is in; meanwhile the last message stored (should the server die midway,
            // the part written shows).
            let leafIndex = finished ? conversation.currentLeafIndex ?? end - 1 : end - 1
            if progress.messageIDs.indices.contains(leafIndex) {
                try await conn.raw(
                    """
                    UPDATE conversations SET current_leaf_id = \(bind: progress.messageIDs[leafIndex]) \
                    WHERE id = \(bind: id)
                    """
                ).run()
            }
            if finished {
                progress.added.append(true)
                (progress.conversation, progress.message, progress.openID) = (progress.conversation + 1, 0, nil)
                progress.messageIDs = []
            }
        }
        return progress
    }

    /// Multi-row INSERTs of up to 100 messages or about 1 MB of text each (under MySQL's packet limit), then the
    /// rows' `parent_id`s (a parent may be in the same INSERT, so its id is only known after). The new rows' ids
    /// are appended to `ids`: SQLite returns them (RETURNING); MySQL does not promise consecutive ids, so they are
    /// read back: this conversation's rows from the first INSERT's id on (the insert id the server returns with a
    /// multi-row INSERT is its first row's; a message someone wrote into the conversation between two batches has
    /// a smaller id). Should another writer insert into it during this very transaction, the count differs and
    /// the import fails rather than guessing.
    private func insertMessages(
        _ messages: [ImportedConversation.Entry], _ range: Range<Int>, conversationID: Int64, ids: inout [Int64],
        on conn: any SQLDatabase
    ) async throws {
        var firstID: Int64?
        var first = range.lowerBound
        var bytes = 0
        var sql = SQLQueryString("")
        func flush(upTo end: Int) async throws {
            guard end > first else { return }
            var insert =
                SQLQueryString(
                    """
                    INSERT INTO messages (conversation_id, role, content, status, error, created_at, updated_at, model, \
                    reasoning, prompt_tokens, completion_tokens) VALUES
                    """) + " " + sql
            if flavor == .sqlite {
                insert.appendLiteral(" RETURNING id")
                let stored = try await conn.raw(insert).all().map { try $0.decode(column: "id", as: Int64.self) }
                guard stored.count == end - first else { throw StoreError.notFound }
                ids.append(contentsOf: stored.sorted())
            } else {
                try await conn.raw(insert).run()
                if firstID == nil { firstID = try Self.insertedID(conn) }
            }
            (first, bytes, sql) = (end, 0, SQLQueryString(""))
        }
        for index in range {
            let message = messages[index]
            if index > first { sql += ", " }
            sql += """
                (\(bind: conversationID), \(bind: message.role.rawValue), \(bind: message.content), \
                \(bind: message.status.rawValue), \(bind: message.error), \(bind: message.createdAt), \
                \(bind: message.createdAt), \(bind: message.model), \(bind: message.reasoning.isEmpty ? nil : message.reasoning), \
                \(bind: message.usage?.promptTokens), \(bind: message.usage?.completionTokens))
                """
            bytes += message.content.utf8.count + message.reasoning.utf8.count + (message.error?.utf8.count ?? 0)
            if index + 1 - first >= 100 || bytes >= 1 << 20 { try await flush(upTo: index + 1) }
        }
        try await flush(upTo: range.upperBound)
        if flavor != .sqlite, !range.isEmpty {
            guard let firstID else { throw StoreError.notFound }
            let stored = try await conn.raw(
                """
                SELECT id FROM messages WHERE conversation_id = \(bind: conversationID) AND id >= \(bind: firstID) \
                ORDER BY id
                """
            ).all().map { try $0.decode(column: "id", as: Int64.self) }
            guard stored.count == range.count else { throw StoreError.notFound }
            ids.append(contentsOf: stored)
            try await indexMessages(
                where: "conversation_id = \(bind: conversationID) AND id >= \(bind: firstID)", on: conn)
        }
        try await setParents(messages, range, ids: ids, on: conn)
    }

    /// `parent_id` of the messages in `range` (stored as `ids`), by UPDATEs of up to 500 rows
    /// (`CASE id WHEN child THEN parent …`: 3 values a row, well under SQLite's limit of 32,766).
    private func setParents(
        _ messages: [ImportedConversation.Entry], _ range: Range<Int>, ids: [Int64], on conn: any SQLDatabase
    ) async throws {
        guard ids.count >= range.upperBound else { throw StoreError.notFound }
        var cases = SQLQueryString("")
        var children: [any Encodable & Sendable] = []
        func flush() async throws {
            guard !children.isEmpty else { return }
            var update = SQLQueryString("UPDATE messages SET parent_id = CASE id")
            update += cases
            update += " END WHERE id IN (\(binds: children))"
            try await conn.raw(update).run()
            (cases, children) = (SQLQueryString(""), [])
        }
        for index in range {
            // A parent comes before its child; an index that does not (never from `Transfer`) makes a root.
            guard let parent = messages[index].parentIndex, parent >= 0, parent < index else { continue }
            cases += " WHEN \(bind: ids[index]) THEN \(bind: ids[parent])"
            children.append(ids[index])
            if children.count >= 500 { try await flush() }
        }
        try await flush()
    }

    /// After a failed import, deletes the conversations it had already committed (their messages go with them).
    /// Runs in its own task so that a cancelled request still cleans up; a failure here is logged.
    private func removeImported(_ ids: [Int64], userID: Int64, after error: any Error) async {
        guard !ids.isEmpty else { return }
        let store = self
        let outcome = await Task {
            for start in stride(from: 0, to: ids.count, by: 200) {
                let chunk: [any Encodable & Sendable] = ids[start..<min(start + 200, ids.count)].map { $0 }
                let indexed = try await store.searchRowsToDrop(where: "conversation_id IN (\(binds: chunk))")
                try await store.db.raw(
                    "DELETE FROM conversations WHERE user_id = \(bind: userID) AND id IN (\(binds: chunk))"
                ).run()
                await store.dropSearchRows(indexed)
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
