import SQLKit

/// Listing and searching a user's conversations: titles and message text by LIKE, through the full-text index
/// (SQLite's FTS5, or on MySQL the one `SQLChatStore+SearchIndex.swift` chose) when it narrows the search enough.
extension SQLChatStore {
    public func conversations(userID: Int64, limit: Int, after cursor: PageCursor?, query: String?) async throws
        -> ConversationPage
    {
        try await conversations(
            userID: userID, limit: limit, after: cursor, query: query,
            fullTextCandidateLimit: Self.fullTextCandidateLimit)
    }

    /// A search goes through the full-text index (3+ characters) when the index finds at most this many
    /// messages in the whole database: each one costs a row lookup, so the limit keeps an indexed search within the
    /// search target (measured in bench/README.md, "What was profiled"). A word
    /// more common than that is searched by the LIKE scan, newest conversation first, which stops at the first page.
    static let fullTextCandidateLimit = 5_000

    /// `fullTextCandidateLimit` < 0 never uses the index (tests compare both ways on the same data).
    func conversations(
        userID: Int64, limit: Int, after cursor: PageCursor?, query: String?, fullTextCandidateLimit: Int
    ) async throws -> ConversationPage {
        var sql = SQLQueryString("SELECT \(unsafeRaw: Self.conversationColumns)")
        let searching = query.map { !$0.isEmpty } ?? false
        if let query, searching {
            // The newest message that matched, so the page can open the conversation on the branch that holds it.
            let pattern = "%" + Self.escapeLike(query) + "%"
            sql += """
                , (SELECT MAX(h.id) FROM messages h WHERE h.conversation_id = c.id \
                AND h.content LIKE \(bind: pattern) ESCAPE '!') AS match_message_id
                """
        }
        sql.appendInterpolation(unsafeRaw: " FROM conversations c WHERE c.user_id = ")
        sql.appendInterpolation(bind: userID)
        if let cursor {
            sql +=
                " AND (c.updated_at < \(bind: cursor.updatedAt) OR (c.updated_at = \(bind: cursor.updatedAt) AND c.id < \(bind: cursor.id)))"
        }
        if let query, !query.isEmpty {
            let pattern = "%" + Self.escapeLike(query) + "%"
            sql += " AND (c.title LIKE \(bind: pattern) ESCAPE '!' OR "
            if let phrase = flavor == .sqlite ? Self.fullTextPhrase(query) : nil, fullTextCandidateLimit >= 0,
                try await fullTextMatches(phrase, upTo: min(fullTextCandidateLimit, Int.max - 1) + 1)
                    <= fullTextCandidateLimit
            {
                // The index finds a superset of the LIKE matches (its case folding covers LIKE's ASCII-only one);
                // LIKE on those few rows keeps the result exactly LIKE's. Answers still streaming are not indexed
                // (migration 3): they are scanned (`ix_messages_status` finds the few).
                sql += """
                    c.id IN (SELECT m.conversation_id FROM messages m WHERE m.id IN \
                    (SELECT rowid FROM messages_fts WHERE messages_fts MATCH \(bind: phrase)) \
                    AND m.content LIKE \(bind: pattern) ESCAPE '!') \
                    OR c.id IN (SELECT m.conversation_id FROM messages m WHERE m.status = 'processing' \
                    AND m.content LIKE \(bind: pattern) ESCAPE '!'))
                    """
            } else if flavor == .mysql,
                let candidates = try await indexedCandidates(query, limit: fullTextCandidateLimit)
            {
                // The same on MySQL (`SQLChatStore+SearchIndex.swift`): the index's candidates and the answers
                // still streaming (never indexed), each kept only if LIKE matches it.
                if !candidates.isEmpty {
                    let ids: [any Encodable & Sendable] = candidates.map { $0 }
                    sql += """
                        c.id IN (SELECT m.conversation_id FROM messages m WHERE m.id IN (\(binds: ids)) \
                        AND m.content LIKE \(bind: pattern) ESCAPE '!')
                        """
                    sql += " OR "
                }
                sql += """
                    c.id IN (SELECT m.conversation_id FROM messages m WHERE m.status = 'processing' \
                    AND m.content LIKE \(bind: pattern) ESCAPE '!'))
                    """
            } else {
                sql += """
                    EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id \
                    AND m.content LIKE \(bind: pattern) ESCAPE '!'))
                    """
            }
        }
        sql += " ORDER BY c.updated_at DESC, c.id DESC LIMIT \(bind: limit + 1)"
        let raw = try await db.raw(sql).all()
        var rows = try raw.map(Self.conversation)
        var matches: [Int64: Int64] = [:]
        if searching {
            for (row, conversation) in zip(raw, rows) {
                if let hit = try row.decode(column: "match_message_id", as: Int64?.self) {
                    matches[conversation.id] = hit
                }
            }
        }
        var next: PageCursor?
        if rows.count > limit {
            rows.removeLast(rows.count - limit)
            next = rows.last.map { PageCursor(updatedAt: $0.updatedAt, id: $0.id) }
        }
        return ConversationPage(conversations: rows, next: next, matches: matches)
    }

    /// The search text as one FTS5 phrase (in double quotes, inner quotes doubled), so AND, OR, NEAR, `*`, `-`,
    /// `^` and `:` in it are plain text; nil when the trigram index cannot serve it: fewer than three characters
    /// (unicode scalars, as the tokenizer counts them) or a NUL, where the index would stop reading.
    static func fullTextPhrase(_ text: String) -> String? {
        guard text.unicodeScalars.count >= 3, !text.unicodeScalars.contains("\0") else { return nil }
        return "\"" + text.replacing("\"", with: "\"\"") + "\""
    }

    /// How many messages (any user's) the full-text index finds for `phrase`, counting at most `limit`.
    func fullTextMatches(_ phrase: String, upTo limit: Int) async throws -> Int {
        try await db.raw(
            """
            SELECT COUNT(*) AS n FROM (SELECT rowid FROM messages_fts WHERE messages_fts MATCH \(bind: phrase) \
            LIMIT \(bind: limit))
            """
        ).first()?.decode(column: "n", as: Int.self) ?? 0
    }

    /// Escapes LIKE's wildcards so a search for `50%` or `a_b` matches those characters literally.
    static func escapeLike(_ text: String) -> String {
        var out = ""
        for character in text {
            if character == "!" || character == "%" || character == "_" { out.append("!") }
            out.append(character)
        }
        return out
    }
}
