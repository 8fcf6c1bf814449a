import MariaDBKit
import SQLKit
import Synchronization

/// Which full-text index narrows message search (`/healthz` says it as `search`).
///
/// - `fts5`: SQLite's trigram FTS5 table (migration 3), kept by triggers.
/// - `mroonga`: MariaDB with the Mroonga plugin: a Mroonga side table `message_search (id, content)` with a bigram
///   index that splits letters and digits too, kept by the store.
/// - `ngram`: MySQL 8+: InnoDB `FULLTEXT … WITH PARSER ngram` on `messages.content` itself (built without
///   stopwords, so that no bigram is left out of the index).
/// - `trigram_table`: any other MySQL-protocol server: `message_trigrams (trigram, message_id)`, every distinct
///   3-character gram of each finished message, compared in the collation of `messages.content`, kept by the store.
/// - `like`: no index; every search is the LIKE scan.
///
/// Whatever the index, a search only takes candidates from it and keeps those that the LIKE of the scan matches,
/// so the results are the scan's exactly: each index finds a superset of what LIKE finds. Only finished messages
/// are indexed (an answer still streaming is rewritten every second); messages still processing are scanned.
public enum SearchIndexKind: String, Sendable, CaseIterable {
    case fts5, mroonga, ngram
    case trigramTable = "trigram_table"
    case like
}

/// The index a store's searches and writes use: chosen when the store migrates, or forced (tests, benchmarks).
final class SearchIndexState: Sendable {
    let forced: SearchIndexKind?
    private let current: Mutex<SearchIndexKind>

    init(flavor: SQLFlavor, forced: SearchIndexKind?) {
        self.forced = flavor == .sqlite ? nil : forced
        current = Mutex(flavor == .sqlite ? .fts5 : .like)
    }

    private let mariaDB = Mutex(true)

    var kind: SearchIndexKind { current.withLock { $0 } }
    func set(_ kind: SearchIndexKind) { current.withLock { $0 = kind } }
    /// Whether the MySQL-protocol server is MariaDB (else MySQL): how a statement's time is limited.
    var serverIsMariaDB: Bool {
        get { mariaDB.withLock { $0 } }
        set { mariaDB.withLock { $0 = newValue } }
    }
}

extension SQLChatStore {
    /// The search index in use, as `/healthz` reports it.
    public var searchIndexName: String { searchIndex.kind.rawValue }

    /// The `settings` row naming the index a MySQL database holds (so that a change of engine rebuilds it).
    static let searchIndexSetting = "search_index"

    /// Picks the index (`CHATBOX`'s forced one, else the best the server offers), builds it if the database does
    /// not hold it yet (an older database: its finished messages are indexed now; one of the instances does it,
    /// under the migration lock), and uses it from now on.
    ///
    /// The app never installs a plugin itself (`INSTALL SONAME 'ha_mroonga'` needs an administrator's privilege
    /// and changes the whole server): an operator who wants Mroonga installs the package and loads it once;
    /// the next start builds the index.
    func prepareSearchIndex() async throws {
        guard flavor == .mysql else { return }
        let version =
            try await db.raw("SELECT VERSION() AS v").first()?.decode(column: "v", as: String.self) ?? ""
        searchIndex.serverIsMariaDB = version.localizedCaseInsensitiveContains("mariadb")
        let kind: SearchIndexKind
        if let forced = searchIndex.forced { kind = forced } else { kind = try await detectSearchIndex() }
        try await MigrationLock.holding(on: db, flavor: flavor, timing: .init()) {
            let recorded = try await setting(Self.searchIndexSetting)
            let present = try await searchIndexPresent(kind)
            if recorded != kind.rawValue || !present {
                logger.notice(
                    "building the message search index", metadata: ["index": "\(kind.rawValue)"])
                try await buildSearchIndex(kind)
                try await setSetting(Self.searchIndexSetting, value: kind.rawValue)
            }
        }
        searchIndex.set(kind)
        logger.info("message search: \(kind.rawValue)")
    }

    /// Builds the MySQL search index afresh from what `messages` holds: after rows were written beside the store
    /// (a bulk load, the benchmark's seed), which its side tables did not see.
    public func rebuildSearchIndex() async throws {
        guard flavor == .mysql else { return }
        try await db.raw("DELETE FROM settings WHERE name = \(bind: Self.searchIndexSetting)").run()
        try await prepareSearchIndex()
    }

    /// Mroonga when the MariaDB server has it loaded; ngram on MySQL 8 or later; else the trigram table.
    func detectSearchIndex() async throws -> SearchIndexKind {
        let version =
            try await db.raw("SELECT VERSION() AS v").first()?.decode(column: "v", as: String.self) ?? ""
        if version.localizedCaseInsensitiveContains("mariadb") {
            let support = try await db.raw(
                "SELECT SUPPORT AS s FROM information_schema.ENGINES WHERE ENGINE = 'Mroonga'"
            ).first()?.decode(column: "s", as: String.self)
            return support == "YES" || support == "DEFAULT" ? .mroonga : .trigramTable
        }
        let major = Int(version.prefix { $0.isNumber }) ?? 0
        return major >= 8 ? .ngram : .trigramTable
    }

    /// Whether the structure of `kind` exists (a setting alone could outlive a dropped table).
    private func searchIndexPresent(_ kind: SearchIndexKind) async throws -> Bool {
        let count: SQLQueryString
        switch kind {
        case .mroonga, .trigramTable:
            let table = kind == .mroonga ? "message_search" : "message_trigrams"
            count = """
                SELECT COUNT(*) AS n FROM information_schema.TABLES \
                WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = \(bind: table)
                """
        case .ngram:
            count = """
                SELECT COUNT(*) AS n FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
                AND TABLE_NAME = 'messages' AND INDEX_NAME = 'ft_messages_content'
                """
        case .fts5, .like:
            return true
        }
        return try await db.raw(count).first()?.decode(column: "n", as: Int.self) ?? 0 > 0
    }

    /// The collation of `messages.content`: the side tables compare text as the LIKE scan does.
    private func contentCollation() async throws -> String {
        try await db.raw(
            """
            SELECT COLLATION_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
            AND TABLE_NAME = 'messages' AND COLUMN_NAME = 'content'
            """
        ).first()?.decode(column: "c", as: String?.self) ?? "utf8mb4_unicode_ci"
    }

    /// Creates `kind`'s index afresh (a side table left from an earlier use of it may have missed writes) and
    /// indexes every finished message; drops the other side tables, which nothing keeps any more.
    private func buildSearchIndex(_ kind: SearchIndexKind) async throws {
        var collation = try await contentCollation()
        if !collation.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) { collation = "utf8mb4_unicode_ci" }
        let charset = collation.prefix { $0 != "_" }
        try await db.raw("DROP TABLE IF EXISTS message_search").run()
        try await db.raw("DROP TABLE IF EXISTS message_trigrams").run()
        switch kind {
        case .mroonga:
            try await db.raw(
                """
                CREATE TABLE message_search (id BIGINT NOT NULL PRIMARY KEY, \
                content MEDIUMTEXT CHARACTER SET \(unsafeRaw: String(charset)) COLLATE \(unsafeRaw: collation) NOT NULL, \
                FULLTEXT INDEX ft_message_search (content) COMMENT 'tokenizer "TokenBigramSplitSymbolAlphaDigit"') \
                ENGINE=Mroonga DEFAULT CHARSET=\(unsafeRaw: String(charset))
                """
            ).run()
            // In id ranges: one statement over a million messages would outlast the client's read timeout.
            let top =
                try await db.raw("SELECT MAX(id) AS n FROM messages").first()?.decode(column: "n", as: Int64?.self)
                ?? nil
            var from: Int64 = 0
            while let top, from < top {
                try await db.raw(
                    """
                    INSERT INTO message_search (id, content) SELECT id, content FROM messages \
                    WHERE id > \(bind: from) AND id <= \(bind: from + 20_000) AND status != 'processing'
                    """
                ).run()
                from += 20_000
            }
        case .ngram:
            if !(try await searchIndexPresent(.ngram)) {
                // Stopwords are read when the index is built, from this session: without them every bigram is
                // indexed (with them, each one holding the stopword "a" or "i" would be left out).
                try await db.withSession { conn in
                    try await conn.raw("SET SESSION innodb_ft_enable_stopword = OFF").run()
                    try await conn.raw(
                        "ALTER TABLE messages ADD FULLTEXT INDEX ft_messages_content (content) WITH PARSER ngram"
                    ).run()
                }
            }
        case .trigramTable:
            try await db.raw(
                """
                CREATE TABLE message_trigrams (\
                trigram VARCHAR(3) CHARACTER SET \(unsafeRaw: String(charset)) COLLATE \(unsafeRaw: collation) NOT NULL, \
                message_id BIGINT NOT NULL, PRIMARY KEY (trigram, message_id), \
                KEY ix_message_trigrams_message (message_id), \
                CONSTRAINT fk_message_trigrams_message FOREIGN KEY (message_id) REFERENCES messages(id) \
                ON DELETE CASCADE) ENGINE=InnoDB DEFAULT CHARSET=\(unsafeRaw: String(charset))
                """
            ).run()
            var after: Int64 = 0
            while true {
                let last = try await transaction { conn -> Int64? in
                    let ids = try await conn.raw(
                        """
                        SELECT id FROM messages WHERE id > \(bind: after) AND status != 'processing' \
                        ORDER BY id LIMIT 500
                        """
                    ).all().map { try $0.decode(column: "id", as: Int64.self) }
                    guard let first = ids.first, let last = ids.last else { return nil }
                    try await indexMessages(
                        where: "id BETWEEN \(bind: first) AND \(bind: last)", kind: .trigramTable, on: conn)
                    return last
                }
                guard let last else { break }
                after = last
            }
        case .fts5, .like:
            break
        }
    }

    // MARK: keeping the index

    /// Indexes (again) the finished messages that `condition` selects, in the side table of the index in use;
    /// runs on `conn`, in the caller's transaction. Messages still processing are left out (searches scan them).
    /// Nothing to do on SQLite (triggers), for `ngram` (InnoDB keeps it) and `like`.
    func indexMessages(where condition: SQLQueryString, on conn: any SQLDatabase) async throws {
        try await indexMessages(where: condition, kind: searchIndex.kind, on: conn)
    }

    private func indexMessages(where condition: SQLQueryString, kind: SearchIndexKind, on conn: any SQLDatabase)
        async throws
    {
        switch kind {
        case .mroonga:
            // Mroonga is not transactional: the row is there at once, even if the caller's transaction rolls
            // back. A row too many costs nothing (candidates are checked against `messages`).
            try await conn.raw(
                SQLQueryString(
                    "REPLACE INTO message_search (id, content) SELECT id, content FROM messages WHERE status != 'processing' AND ("
                ) + condition + ")"
            ).run()
        case .trigramTable:
            let rows = try await conn.raw(
                SQLQueryString("SELECT id, content FROM messages WHERE status != 'processing' AND (") + condition
                    + ")"
            ).all()
            var pending: [(Int64, String)] = []
            func flush() async throws {
                guard !pending.isEmpty else { return }
                var insert = SQLQueryString("INSERT IGNORE INTO message_trigrams (trigram, message_id) VALUES ")
                for (index, (id, gram)) in pending.enumerated() {
                    insert += index == 0 ? "(\(bind: gram), \(bind: id))" : ", (\(bind: gram), \(bind: id))"
                }
                try await conn.raw(insert).run()
                pending.removeAll(keepingCapacity: true)
            }
            for row in rows {
                let id = try row.decode(column: "id", as: Int64.self)
                let content = try row.decode(column: "content", as: String.self)
                try await conn.raw("DELETE FROM message_trigrams WHERE message_id = \(bind: id)").run()
                for gram in Self.trigrams(content) {
                    pending.append((id, gram))
                    if pending.count >= 1_000 { try await flush() }
                }
            }
            try await flush()
        case .fts5, .ngram, .like:
            break
        }
    }

    /// Before deleting messages: the ids of those `condition` selects that the Mroonga table holds rows of
    /// (the foreign key's cascade removes trigram rows; ngram and FTS5 follow the table). Pass them to
    /// `dropSearchRows` once the delete is committed: Mroonga is not transactional, and a row removed before a
    /// delete that then fails would hide a message from search.
    func searchRowsToDrop(where condition: SQLQueryString) async throws -> [Int64] {
        guard searchIndex.kind == .mroonga else { return [] }
        return try await db.raw(SQLQueryString("SELECT id FROM messages WHERE ") + condition).all()
            .map { try $0.decode(column: "id", as: Int64.self) }
    }

    /// Removes the Mroonga rows of deleted messages (`searchRowsToDrop`); a failure leaves rows that cost
    /// nothing but space, and is logged.
    func dropSearchRows(_ ids: [Int64]) async {
        guard !ids.isEmpty else { return }
        do {
            for start in stride(from: 0, to: ids.count, by: 1_000) {
                let chunk: [any Encodable & Sendable] = ids[start..<min(start + 1_000, ids.count)].map { $0 }
                try await db.raw("DELETE FROM message_search WHERE id IN (\(binds: chunk))").run()
            }
        } catch {
            logger.warning("could not remove deleted messages from the search index: \(error)")
        }
    }

    // MARK: searching

    /// The ids of messages (any user's) that may contain `query`, from the index in use: a superset of the finished
    /// messages whose content LIKE matches it. Nil when the index cannot narrow this search: no index (SQLite
    /// has its own path), a query shorter than three characters or with no run of two letters or digits for a
    /// word index, or more than `limit` candidates (the scan, newest first, is then faster).
    func indexedCandidates(_ query: String, limit: Int) async throws -> [Int64]? {
        guard limit >= 0, query.unicodeScalars.count >= 3, !query.unicodeScalars.contains("\0") else { return nil }
        let cap = min(limit, Int.max - 1) + 1
        let ids: [Int64]
        switch searchIndex.kind {
        case .mroonga, .ngram:
            guard let words = Self.booleanPhrases(query) else { return nil }
            let table = searchIndex.kind == .mroonga ? "message_search" : "messages"
            // Counted first: Mroonga counts from the index alone, where reading 5,000 ids of a common word would
            // cost more than the scan it is about to fall back to.
            let count =
                try await db.raw(
                    """
                    SELECT COUNT(*) AS n FROM \(unsafeRaw: table) \
                    WHERE MATCH(content) AGAINST(\(bind: words) IN BOOLEAN MODE)
                    """
                ).first()?.decode(column: "n", as: Int.self) ?? 0
            if count > limit { return nil }
            if count == 0 { return [] }
            ids = try await db.raw(
                """
                SELECT id FROM \(unsafeRaw: table) WHERE MATCH(content) AGAINST(\(bind: words) IN BOOLEAN MODE) \
                LIMIT \(bind: cap)
                """
            ).all().map { try $0.decode(column: "id", as: Int64.self) }
        case .trigramTable:
            guard let found = try await trigramCandidates(query, cap: cap) else { return nil }
            ids = found
        case .fts5, .like:
            return nil
        }
        return ids.count > limit ? nil : ids
    }

    /// Messages holding every trigram of `query`: the rarest trigram's messages (if at most `cap`), each checked
    /// for the others by primary key.
    private func trigramCandidates(_ query: String, cap: Int) async throws -> [Int64]? {
        var grams = Array(Self.trigrams(query))
        guard !grams.isEmpty else { return nil }
        var counts: [String: Int] = [:]
        for gram in grams {
            counts[gram] =
                try await db.raw(
                    """
                    SELECT COUNT(*) AS n FROM (SELECT 1 FROM message_trigrams WHERE trigram = \(bind: gram) \
                    LIMIT \(bind: cap)) x
                    """
                ).first()?.decode(column: "n", as: Int.self) ?? 0
            if counts[gram] == 0 { return [] }
        }
        grams.sort { counts[$0]! < counts[$1]! }
        guard counts[grams[0]]! < cap else { return nil }
        var sql = SQLQueryString("SELECT t0.message_id AS id FROM message_trigrams t0 WHERE t0.trigram = ")
        sql += "\(bind: grams[0])"
        for (index, gram) in grams.dropFirst().prefix(15).enumerated() {
            sql += """
                 AND EXISTS (SELECT 1 FROM message_trigrams t\(unsafeRaw: "\(index + 1)") \
                WHERE t\(unsafeRaw: "\(index + 1)").trigram = \(bind: gram) \
                AND t\(unsafeRaw: "\(index + 1)").message_id = t0.message_id)
                """
        }
        return try await db.raw(sql).all().map { try $0.decode(column: "id", as: Int64.self) }
    }

    /// Every distinct run of three unicode scalars (as MySQL counts characters) of `text`.
    static func trigrams(_ text: String) -> Set<String> {
        let scalars = Array(text.unicodeScalars)
        guard scalars.count >= 3 else { return [] }
        var grams = Set<String>()
        for start in 0...(scalars.count - 3) {
            var gram = String.UnicodeScalarView()
            gram.append(contentsOf: scalars[start..<start + 3])
            grams.insert(String(gram))
        }
        return grams
    }

    /// The query for a word index (Mroonga, InnoDB ngram) in boolean mode: each run of two or more letters and
    /// digits of `text` as a required phrase (`+"run"`). Spaces, punctuation, symbols, emoji and marks are left
    /// out, as are single letters: what the index finds is then a superset of the LIKE matches whatever the
    /// tokenizer does with them (and no operator or quote of the query syntax reaches it). Nil when no run is left.
    static func booleanPhrases(_ text: String) -> String? {
        var runs: [String] = []
        var run = String.UnicodeScalarView()
        func close() {
            if run.count >= 2 { runs.append(String(run)) }
            run = String.UnicodeScalarView()
        }
        for scalar in text.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .otherLetter, .decimalNumber:
                run.append(scalar)
            default:
                close()
            }
        }
        close()
        return runs.isEmpty ? nil : runs.map { "+\"\($0)\"" }.joined(separator: " ")
    }
}
