import MariaDBKit
import SQLKit

/// Listing and searching a user's conversations: titles and message text by LIKE, through the full-text index
/// (SQLite's FTS5, or on MySQL the one `SQLChatStore+SearchIndex.swift` chose) when it narrows the search enough.
extension SQLChatStore {
    public func conversations(userID: Int64, limit: Int, after cursor: PageCursor?, query: String?) async throws
        -> ConversationPage
    {
        try await conversations(
            userID: userID, limit: limit, after: cursor, query: query,
            fullTextCandidateLimit: Self.fullTextCandidateLimit, scanFirst: Self.mysqlScanBudget)
    }

    /// On MySQL the scan goes first, for this long at most: a word common enough to fill the page is found by it in
    /// a few milliseconds, where the index would have to count all its hits (a word in 16% of 100k messages costs
    /// Mroonga 15 ms, ten times that at 1M). A scan cut short (rare and absent words) leaves the search to the
    /// index. Both give the same result; only the time differs (bench/README.md, "MySQL search").
    static let mysqlScanBudget: Duration = .milliseconds(30)

    /// A search goes through the full-text index (3+ characters) when the index finds at most this many
    /// messages in the whole database: each one costs a row lookup, so the limit keeps an indexed search within the
    /// search target (measured in bench/README.md, "What was profiled"). A word
    /// more common than that is searched by the LIKE scan, newest conversation first, which stops at the first page.
    static let fullTextCandidateLimit = 5_000

    /// `fullTextCandidateLimit` < 0 never uses the index (tests compare both ways on the same data). `scanFirst`
    /// (MySQL with an index, 3+ characters): the scan alone first, stopped after that long, then the index.
    func conversations(
        userID: Int64, limit: Int, after cursor: PageCursor?, query: String?, fullTextCandidateLimit: Int,
        scanFirst: Duration? = nil
    ) async throws -> ConversationPage {
        if let scanFirst, flavor == .mysql, fullTextCandidateLimit >= 0, let query, query.unicodeScalars.count >= 3,
            [.mroonga, .ngram, .trigramTable].contains(searchIndex.kind)
        {
            do {
                return try await withStatementTimeLimit(scanFirst) { [self] conn in
                    try await conversations(
                        userID: userID, limit: limit, after: cursor, query: query, fullTextCandidateLimit: -1,
                        on: conn)
                }
            } catch let error as MariaDBError where error.code == 1969 || error.code == 3024 {
                // max_statement_time (MariaDB) or max_execution_time (MySQL) ran out: the index takes over.
            }
        }
        return try await conversations(
            userID: userID, limit: limit, after: cursor, query: query, fullTextCandidateLimit: fullTextCandidateLimit,
            on: db)
    }

    /// Runs `body` on one connection whose statements stop after `limit` (then fail with MariaDB's 1969 or
    /// MySQL's 3024); the connection goes back to the pool without the limit.
    private func withStatementTimeLimit<T: Sendable>(
        _ limit: Duration, _ body: @escaping @Sendable (any SQLDatabase) async throws -> T
    ) async throws -> T {
        let milliseconds = max(1, Int(limit / .milliseconds(1)))
        let (variable, value) =
            searchIndex.serverIsMariaDB
            ? ("max_statement_time", String(Double(milliseconds) / 1_000)) : ("max_execution_time", "\(milliseconds)")
        return try await db.withSession { conn in
            try await conn.raw("SET SESSION \(unsafeRaw: variable) = \(unsafeRaw: value)").run()
            do {
                let result = try await body(conn)
                try await conn.raw("SET SESSION \(unsafeRaw: variable) = 0").run()
                return result
            } catch {
                try await conn.raw("SET SESSION \(unsafeRaw: variable) = 0").run()
                throw error
            }
        }
    }

    private func conversations(
        userID: Int64, limit: Int, after cursor: PageCursor?, query: String?, fullTextCandidateLimit: Int,
        on db: any SQLDatabase
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
                // still streaming (never indexed), each kept only if LIKE matches it. Their conversations are
                // read first: as a subquery beside the title's LIKE, MariaDB checks it conversation by conversation,
                // which reads every message of the user again.
                let found = try await matchingConversations(candidates, pattern: pattern, on: db)
                if found.isEmpty {
                    sql += "1 = 0)"
                } else {
                    let ids: [any Encodable & Sendable] = found.map { $0 }
                    sql += "c.id IN (\(binds: ids)))"
                }
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

    /// The conversations of `candidates` and of the answers still streaming whose text LIKE matches `pattern`.
    private func matchingConversations(_ candidates: [Int64], pattern: String, on db: any SQLDatabase) async throws
        -> [Int64]
    {
        let streaming = try await db.raw("SELECT id FROM messages WHERE status = 'processing'").all()
            .map { try $0.decode(column: "id", as: Int64.self) }
        let ids = candidates + streaming
        var found = Set<Int64>()
        for start in stride(from: 0, to: ids.count, by: 5_000) {
            let chunk: [any Encodable & Sendable] = ids[start..<min(start + 5_000, ids.count)].map { $0 }
            for row in try await db.raw(
                """
                SELECT DISTINCT conversation_id AS id FROM messages WHERE id IN (\(binds: chunk)) \
                AND content LIKE \(bind: pattern) ESCAPE '!'
                """
            ).all() {
                found.insert(try row.decode(column: "id", as: Int64.self))
            }
        }
        return found.sorted()
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
