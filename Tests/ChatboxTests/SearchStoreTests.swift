@testable import Chatbox
import FakeUpstream
import Foundation
import Logging
import Testing

/// Conversation search in the store. A search of 3+ characters goes through a full-text index (SQLite: the FTS5
/// trigram index of migration 3; MariaDB: Mroonga when the server has it, and the trigram side table, forced, so
/// both are covered; see `SQLChatStore+SearchIndex.swift`) and must return exactly what the LIKE scan returns;
/// every check below runs three ways on the same data: the index always, the LIKE scan always, and the probe
/// deciding (with a candidate limit of 2, so common words take the scan). Case: ASCII letters match in any case on both databases; other letters (É/é) match only
/// as written on SQLite (LIKE folds ASCII only, and the index's wider folding is narrowed back by the LIKE
/// recheck), while MariaDB's utf8mb4_unicode_ci folds every letter.
@Suite("Conversation search in the store, on every database")
struct SearchStoreTests {
    /// Titles found for `query`; fails unless the index, the scan and the probe agree (SQLite's FTS5, or the
    /// MySQL index `engine` uses).
    static func titles(
        _ store: SQLChatStore, _ userID: Int64, _ query: String, limit: Int = 50,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [String] {
        let found = try await store.conversations(userID: userID, limit: limit, after: nil, query: query)
            .conversations.map(\.title)
        do {
            for candidateLimit in [1_000_000_000, -1, 2] {
                let other = try await store.conversations(
                    userID: userID, limit: limit, after: nil, query: query, fullTextCandidateLimit: candidateLimit)
                #expect(
                    other.conversations.map(\.title) == found, "\(query) with candidate limit \(candidateLimit)",
                    sourceLocation: sourceLocation)
            }
        }
        return found
    }

    /// A conversation with one question and its answer, updated at `at`.
    @discardableResult
    static func conversation(
        _ store: SQLChatStore, _ userID: Int64, _ title: String, _ question: String, _ answer: String, at: Millis
    ) async throws -> (conversation: Conversation, answerID: Int64) {
        let conversation = try await store.createConversation(userID: userID, title: title)
        let turn = try await store.beginTurn(conversationID: conversation.id, userContent: question, now: at)
        try await store.finishMessage(
            messageID: turn.assistant.id, content: answer, status: .completed, error: nil, now: at)
        return (conversation, turn.assistant.id)
    }

    static func user(_ store: SQLChatStore, _ name: String) async throws -> Int64 {
        try await store.createUser(username: name, usernameKey: name, passwordHash: "h", role: .user).id
    }

    /// Messages the full-text index itself finds for `text`, to check what it holds, not just results.
    static func indexed(_ store: SQLChatStore, _ text: String) async throws -> Int {
        if store.flavor == .sqlite {
            return try await store.fullTextMatches(try #require(SQLChatStore.fullTextPhrase(text)), upTo: 1_000)
        }
        return try #require(try await store.indexedCandidates(text, limit: 1_000)).count
    }

    /// Whether the store searches through an index that `indexed` can ask.
    static func hasIndex(_ store: SQLChatStore) -> Bool { store.searchIndexName != "like" }

    @Test(arguments: SearchEngine.all)
    func chineseWordsOfThreeOrMoreCharacters(engine: SearchEngine) async throws {
        try await engine.withStore { store in
            let me = try await Self.user(store, "zh")
            let other = try await Self.user(store, "zh2")
            try await Self.conversation(store, me, "物理", "什么是量子纠缠？", "量子纠缠是一种关联。", at: 1_000)
            try await Self.conversation(store, me, "后端", "分布式数据库怎么选", "先看一致性需求。", at: 2_000)
            try await Self.conversation(store, me, "天文", "猎户座在哪里", "冬季夜空的南方。", at: 3_000)
            try await Self.conversation(store, other, "别人的", "我也问量子纠缠", "别人的回答", at: 4_000)
            #expect(try await Self.titles(store, me, "量子纠缠") == ["物理"])
            #expect(try await Self.titles(store, me, "纠缠是一种") == ["物理"])  // in the answer
            #expect(try await Self.titles(store, me, "数据库") == ["后端"])
            #expect(try await Self.titles(store, me, "麒麟座星云").isEmpty)
            #expect(try await Self.titles(store, me, "座在哪") == ["天文"])
            #expect(try await Self.titles(store, other, "量子纠缠") == ["别人的"])
            if Self.hasIndex(store) { #expect(try await Self.indexed(store, "量子纠缠") == 3) }
        }
    }

    @Test(arguments: SearchEngine.all)
    func englishWordsInAnyCaseAndOtherLettersAsEachDatabaseCompares(engine: SearchEngine) async throws {
        try await engine.withStore { store in
            let me = try await Self.user(store, "en")
            try await Self.conversation(
                store, me, "db", "Which Database should I use?", "PostgreSQL or SQLite.", at: 1_000)
            try await Self.conversation(
                store, me, "school", "Tell me about the École Normale", "It is in Paris.", at: 2_000)
            try await Self.conversation(store, me, "rocket", "launch 🚀🚀 done 😀", "🎉 congratulations", at: 3_000)
            for query in ["database", "DATABASE", "dAtAbAsE", "postgresql", "SQLITE."] {
                #expect(try await Self.titles(store, me, query) == ["db"], "\(query)")
            }
            #expect(try await Self.titles(store, me, "cole normale") == ["school"])  // ASCII part, other case
            #expect(try await Self.titles(store, me, "École") == ["school"])
            // É and é: different on SQLite (as LIKE has always been there), the same on MariaDB.
            let lowerAccent = try await Self.titles(store, me, "école normale")
            #expect(lowerAccent == (store.flavor == .sqlite ? [] : ["school"]))
            #expect(try await Self.titles(store, me, "🚀🚀 d") == ["rocket"])
            #expect(try await Self.titles(store, me, "🎉 CONGRAT") == ["rocket"])
            #expect(try await Self.titles(store, me, "🚀🚀🚀").isEmpty)
        }
    }

    @Test(arguments: SearchEngine.all)
    func fullTextOperatorsAndLikeWildcardsInTheQueryAreLiteral(engine: SearchEngine) async throws {
        try await engine.withStore { store in
            let me = try await Self.user(store, "ops")
            try await Self.conversation(store, me, "quoted", #"she said "hello" AND goodbye"#, "ok", at: 1_000)
            try await Self.conversation(store, me, "syntax", "use a* or -b NEAR(c d) col:umn ^start", "ok", at: 2_000)
            try await Self.conversation(store, me, "triple", #"he wrote """ok""" twice"#, "ok", at: 3_000)
            try await Self.conversation(store, me, "percent", "50% off_now! today", "ok", at: 4_000)
            try await Self.conversation(store, me, "dash", "off-now and 50 percent off", "ok", at: 5_000)
            #expect(try await Self.titles(store, me, #""hello" AND"#) == ["quoted"])
            #expect(try await Self.titles(store, me, "AND goodbye") == ["quoted"])
            #expect(try await Self.titles(store, me, "hello OR nothing").isEmpty)  // OR is text, not an operator
            #expect(try await Self.titles(store, me, "hello AND goodbye").isEmpty)  // a quote stands between them
            #expect(try await Self.titles(store, me, "NEAR(c d)") == ["syntax"])
            #expect(try await Self.titles(store, me, "a* or -b") == ["syntax"])
            #expect(try await Self.titles(store, me, "col:umn ^start") == ["syntax"])
            #expect(try await Self.titles(store, me, "use*").isEmpty)  // no prefix search
            #expect(try await Self.titles(store, me, #"""""#) == ["triple"])
            #expect(try await Self.titles(store, me, #""ok""#) == ["triple"])
            #expect(try await Self.titles(store, me, "ff_no") == ["percent"])  // _ is not "any character"
            #expect(try await Self.titles(store, me, "0% of") == ["percent"])
            #expect(try await Self.titles(store, me, "w! t") == ["percent"])  // LIKE's escape character
            #expect(try await Self.titles(store, me, "f%n").isEmpty)  // % is not "anything"
            #expect(try await Self.titles(store, me, "'; DROP TABLE messages; --").isEmpty)
            #expect(try await Self.titles(store, me, "off").count == 2)
        }
    }

    @Test(arguments: SearchEngine.all)
    func oneAndTwoCharacterQueriesAreStillFound(engine: SearchEngine) async throws {
        try await engine.withStore { store in
            let me = try await Self.user(store, "short")
            try await Self.conversation(store, me, "a", "量子 x", "ok", at: 1_000)
            try await Self.conversation(store, me, "b", "Go is fun", "🙂", at: 2_000)
            #expect(SQLChatStore.fullTextPhrase("量子") == nil && SQLChatStore.fullTextPhrase("go") == nil)
            #expect(try await Self.titles(store, me, "量") == ["a"])
            #expect(try await Self.titles(store, me, "量子") == ["a"])
            #expect(try await Self.titles(store, me, "GO") == ["b"])
            #expect(try await Self.titles(store, me, "🙂") == ["b"])
            #expect(try await Self.titles(store, me, "x").count == 1)
            #expect(try await Self.titles(store, me, "o").count == 2)
        }
    }

    @Test(arguments: SearchEngine.all)
    func anEditedAnswerIsFoundByItsNewTextAndARegeneratedOneByEitherVersion(engine: SearchEngine) async throws {
        try await engine.withStore { store in
            let me = try await Self.user(store, "edit")
            let (conversation, answerID) = try await Self.conversation(
                store, me, "zoo", "tell me about animals", "zebras are striped", at: 1_000)
            #expect(try await Self.titles(store, me, "zebras") == ["zoo"])
            // UPDATE of the content, same row.
            try await store.finishMessage(
                messageID: answerID, content: "giraffes are tall", status: .completed, error: nil, now: 2_000)
            #expect(try await Self.titles(store, me, "giraffes") == ["zoo"])
            #expect(try await Self.titles(store, me, "zebras").isEmpty)
            // Regeneration: a new answer beside the old one, which stays as the other version (and is found).
            let again = try #require(try await store.beginRegeneration(conversationID: conversation.id, now: 3_000))
            #expect(try await Self.titles(store, me, "giraffes") == ["zoo"])
            try await store.finishMessage(
                messageID: again.assistant.id, content: "okapis are shy", status: .completed, error: nil, now: 4_000)
            #expect(try await Self.titles(store, me, "okapis") == ["zoo"])
            #expect(try await Self.titles(store, me, "animals") == ["zoo"])
            if Self.hasIndex(store) {
                #expect(try await Self.indexed(store, "zebras") == 0)
                #expect(try await Self.indexed(store, "giraffes") == 1)
                #expect(try await Self.indexed(store, "okapis") == 1)
            }
        }
    }

    @Test(arguments: SearchEngine.all)
    func aDeletedConversationOrUserIsNoLongerFound(engine: SearchEngine) async throws {
        try await engine.withStore { store in
            let me = try await Self.user(store, "del")
            let gone = try await Self.user(store, "gone")
            let (conversation, _) = try await Self.conversation(
                store, me, "myth", "unicorn sighting", "rare", at: 1_000)
            try await Self.conversation(store, me, "kept", "unicorn again", "still here", at: 2_000)
            try await Self.conversation(store, gone, "theirs", "a unicorn too", "x", at: 3_000)
            #expect(try await Self.titles(store, me, "unicorn") == ["kept", "myth"])
            try await store.deleteConversation(id: conversation.id, userID: me)
            #expect(try await Self.titles(store, me, "unicorn") == ["kept"])
            #expect(try await Self.titles(store, me, "sighting").isEmpty)
            try await store.deleteUser(userID: gone)
            if Self.hasIndex(store) {
                #expect(try await Self.indexed(store, "sighting") == 0)
                #expect(try await Self.indexed(store, "unicorn") == 1)  // the cascades reached the index
            }
        }
    }

    @Test(arguments: SearchEngine.all)
    func pagesAreTheSameThroughTheIndexAndTheScan(engine: SearchEngine) async throws {
        try await engine.withStore { store in
            let me = try await Self.user(store, "pages")
            for index in 0..<23 {
                // Same timestamps in pairs, so the cursor's id tie-break matters.
                let text = index % 3 == 0 ? "nothing here" : "the Needle #\(index)"
                try await Self.conversation(store, me, "c\(index)", "q\(index)", text, at: 1_000 + Millis(index / 2))
            }
            _ = try await store.createConversation(userID: me, title: "needle in the title")
            let expected =
                ["needle in the title"]
                + (0..<23).reversed().filter { $0 % 3 != 0 }.map { "c\($0)" }
            let limits = [Self.fullTextCandidateLimitForTests, -1, 2]
            for candidateLimit in limits {
                var seen: [String] = []
                var cursor: PageCursor?
                repeat {
                    let page = try await store.conversations(
                        userID: me, limit: 4, after: cursor, query: "NEEDLE", fullTextCandidateLimit: candidateLimit)
                    seen += page.conversations.map(\.title)
                    cursor = page.next
                } while cursor != nil
                #expect(seen == expected, "candidate limit \(candidateLimit)")
            }
        }
    }

    static let fullTextCandidateLimitForTests = 1_000_000_000

    @Test(arguments: SearchEngine.all)
    func aDatabaseMigratedFromVersion2GetsItsMessagesIndexed(engine: SearchEngine) async throws {
        let logger = Logger(label: "search-test")
        let database = try await OpenDatabase.open(engine.backend.freshLocation(), mysqlPoolSize: 2, logger: logger)
        let store = SQLChatStore(
            db: database.sql, flavor: database.flavor, logger: logger, searchIndex: engine.index)
        do {
            try await Migrations.run(on: store.db, flavor: store.flavor, now: 1, through: 2)
            let me = try await Self.user(store, "old")
            // Written as that schema had it (today's store writes columns it does not have yet).
            try await store.db.raw(
                """
                INSERT INTO conversations (user_id, title, title_set_by_user, created_at, updated_at) \
                VALUES (\(bind: me), 'before', 1, 1000, 1000)
                """
            ).run()
            for (role, content) in [("user", "a message from before the index"), ("assistant", "墨卡托投影")] {
                try await store.db.raw(
                    """
                    INSERT INTO messages (conversation_id, role, content, status, created_at, updated_at) \
                    SELECT id, \(bind: role), \(bind: content), 'completed', 1000, 1000 FROM conversations \
                    WHERE title = 'before'
                    """
                ).run()
            }
            try await store.migrate()
            if Self.hasIndex(store) {
                #expect(try await Self.indexed(store, "before the index") == 1)
                #expect(try await Self.indexed(store, "墨卡托投影") == 1)
            }
            #expect(try await Self.titles(store, me, "BEFORE THE INDEX") == ["before"])
            #expect(try await Self.titles(store, me, "卡托投") == ["before"])
            try await Self.conversation(store, me, "after", "a message from after", "墨卡托", at: 2_000)
            #expect(try await Self.titles(store, me, "墨卡托") == ["after", "before"])
        } catch {
            await database.close()
            throw error
        }
        await database.close()
    }

    @Test(arguments: SearchEngine.all)
    func aStreamingAnswerIsFoundBeforeAndAfterItFinishes(engine: SearchEngine) async throws {
        try await engine.withStore { store in
            let me = try await Self.user(store, "stream")
            let conversation = try await store.createConversation(userID: me, title: "live")
            let turn = try await store.beginTurn(conversationID: conversation.id, userContent: "tell me", now: 1_000)
            try await store.saveProgress([.init(messageID: turn.assistant.id, content: "streaming 流式回答 so far")])
            #expect(try await Self.titles(store, me, "流式回答") == ["live"])
            #expect(try await Self.titles(store, me, "STREAMING") == ["live"])
            if Self.hasIndex(store) { #expect(try await Self.indexed(store, "流式回答") == 0) }
            try await store.saveProgress([
                .init(messageID: turn.assistant.id, content: "streaming 流式回答 so far, and more")
            ])
            #expect(try await Self.titles(store, me, "and more") == ["live"])
            var answer = turn.assistant
            answer.content = "streaming 流式回答 finished"
            answer.status = .completed
            try await store.finishAnswer(answer, now: 2_000)
            #expect(try await Self.titles(store, me, "流式回答") == ["live"])
            #expect(try await Self.titles(store, me, "and more").isEmpty)
            #expect(try await Self.titles(store, me, "finished") == ["live"])
            if Self.hasIndex(store) { #expect(try await Self.indexed(store, "流式回答") == 1) }
        }
    }

    @Test(arguments: SearchEngine.all)
    func anAnswerFailedWhileStreamingIsIndexed(engine: SearchEngine) async throws {
        try await engine.withStore { store in
            let me = try await Self.user(store, "orphan")
            let conversation = try await store.createConversation(userID: me, title: "cut")
            let turn = try await store.beginTurn(conversationID: conversation.id, userContent: "q", now: 1_000)
            try await store.saveProgress([.init(messageID: turn.assistant.id, content: "half an answer about otters")])
            _ = try await store.failOrphanedAnswers(error: "restarted", now: 2_000)
            #expect(try await Self.titles(store, me, "about otters") == ["cut"])
            if Self.hasIndex(store) { #expect(try await Self.indexed(store, "otters") == 1) }
        }
    }

    @Test(arguments: SearchEngine.all)
    func importedConversationsAreFound(engine: SearchEngine) async throws {
        try await engine.withStore { store in
            let me = try await Self.user(store, "import")
            let imported = (0..<3).map { index in
                ImportedConversation(
                    title: "imported \(index)", createdAt: 1_000 + Millis(index), updatedAt: 1_000 + Millis(index),
                    messages: [
                        .init(
                            role: .user, content: "问题 \(index) about lemurs", status: .completed, error: nil,
                            createdAt: 1),
                        .init(
                            role: .assistant, content: "回答 \(index): 狐猴 🐒 live in Madagascar", status: .completed,
                            error: nil, createdAt: 2)
                    ])
            }
            _ = try await store.importConversations(
                userID: me, imported, batching: .init(conversations: 2, messages: 3), afterBatch: { _ in })
            #expect(try await Self.titles(store, me, "lemurs") == ["imported 2", "imported 1", "imported 0"])
            #expect(try await Self.titles(store, me, "狐猴 🐒 live") == ["imported 2", "imported 1", "imported 0"])
            #expect(try await Self.titles(store, me, "1: 狐猴") == ["imported 1"])
            #expect(try await Self.titles(store, me, "MADAGASCAR") == ["imported 2", "imported 1", "imported 0"])
            if Self.hasIndex(store) { #expect(try await Self.indexed(store, "Madagascar") == 3) }
        }
    }

    /// Random substrings of mixed-script texts, in other cases too: the index must never miss what LIKE finds.
    @Test(arguments: SearchEngine.all)
    func randomSubstringsAreFoundExactlyAsByTheScan(engine: SearchEngine) async throws {
        try await engine.withStore { store in
            let me = try await Self.user(store, "random")
            let texts = [
                "Hello, World! The quick brown fox jumps over the lazy dog.",
                "我们用Swift写服务器，速度很快。数据库是MariaDB 10.11",
                "Ünïcödé façade — naïve café, Straße and STRASSE, ÆØÅ æøå",
                "emoji 😀 party 🎉 with 🚀🚀 and 👩‍👩‍👧 family; 100% done_ok \\ back\\slash",
                "日本語のテキスト、カタカナとひらがな。한국어 문장도 있어요.",
                "mixed123numbers456 and a1b2c3 codes, v2.0.1-beta+build",
                "tabs\tand  double  spaces\nnew lines; Ｆｕｌｌｗｉｄｔｈ ＡＢＣ",
                "Ελληνικά κείμενα και Кириллица тоже, ﬁ ligature"
            ]
            for (index, text) in texts.enumerated() {
                try await Self.conversation(store, me, "t\(index)", text, "answer \(index)", at: 1_000 + Millis(index))
            }
            var generator = SplitMix(seed: 17)
            for _ in 0..<60 {
                let text = Array(texts.randomElement(using: &generator)!)
                let length = Int.random(in: 3...9, using: &generator)
                let start = Int.random(in: 0...(text.count - length), using: &generator)
                var query = String(text[start..<start + length])
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: query = query.uppercased()
                case 1: query = query.lowercased()
                default: break
                }
                let found = try await Self.titles(store, me, query)
                if query == String(text[start..<start + length]) { #expect(!found.isEmpty, "\(query)") }
            }
        }
    }

    @Test(arguments: SearchEngine.all)
    func likeWildcardsAndTheEscapeCharacterInQueries(engine: SearchEngine) async throws {
        try await engine.withStore { store in
            let me = try await Self.user(store, "wild")
            try await Self.conversation(store, me, "path", #"C:\temp\new_file 100%"#, "ok", at: 1_000)
            try await Self.conversation(store, me, "plain", "C temp new file 1000", "ok", at: 2_000)
            #expect(try await Self.titles(store, me, #"\temp\"#) == ["path"])
            #expect(try await Self.titles(store, me, "new_file") == ["path"])
            #expect(try await Self.titles(store, me, "100%") == ["path"])
            #expect(try await Self.titles(store, me, "new%file").isEmpty)
            #expect(try await Self.titles(store, me, "___").isEmpty)
            #expect(try await Self.titles(store, me, "%%%").isEmpty)
            #expect(try await Self.titles(store, me, "!!!").isEmpty)
        }
    }

    /// An existing MariaDB database with data: searched by LIKE, then given the trigram table, then the engine the
    /// server offers; each rebuild indexes what is there, and the results never change.
    @Test(.enabled(if: Backend.mysqlURL != nil, "needs CHATBOX_TEST_MYSQL_URL"))
    func changingTheIndexOfAnExistingDatabaseRebuildsIt() async throws {
        let location = Backend.mariadb.freshLocation()
        var me: Int64 = 0
        try await Backend.mariadb.withStore(searchIndex: .like, location: location) { store in
            #expect(store.searchIndexName == "like")
            me = try await Self.user(store, "switch")
            try await Self.conversation(store, me, "old", "墨卡托投影 and Mercator", "projection", at: 1_000)
        }
        let indexes: [SearchIndexKind?] = [.trigramTable, nil, .trigramTable]
        for index in indexes {
            try await Backend.mariadb.withStore(searchIndex: index, location: location) { store in
                #expect(try await Self.titles(store, me, "卡托投") == ["old"])
                #expect(try await Self.titles(store, me, "mercator") == ["old"])
                #expect(try await Self.indexed(store, "卡托投") == 1)
                try await Self.conversation(store, me, "new \(store.searchIndexName)", "more 墨卡托", "x", at: 2_000)
            }
        }
    }

    @Test(.enabled(if: Backend.mysqlURL != nil, "needs CHATBOX_TEST_MYSQL_URL"))
    func mariaDBUsesMroongaWhenTheServerHasIt() async throws {
        try await Backend.mariadb.withStore { store in
            let mroonga =
                try await store.db.raw(
                    "SELECT COUNT(*) AS n FROM information_schema.ENGINES WHERE ENGINE = 'Mroonga' AND SUPPORT IN ('YES', 'DEFAULT')"
                ).first()?.decode(column: "n", as: Int.self) ?? 0
            #expect(store.searchIndexName == (mroonga > 0 ? "mroonga" : "trigram_table"))
        }
    }
}

/// A database with the search index it is tested with: SQLite (FTS5); MariaDB with the index the server offers
/// (Mroonga when loaded), with the trigram side table, and with none (the LIKE scan alone).
struct SearchEngine: CustomTestStringConvertible, Sendable {
    let backend: Backend
    let index: SearchIndexKind?

    static let all: [SearchEngine] = Backend.all.flatMap { backend -> [SearchEngine] in
        backend == .sqlite
            ? [SearchEngine(backend: backend, index: nil)]
            : [nil, .trigramTable, .like].map { SearchEngine(backend: backend, index: $0) }
    }

    var testDescription: String { backend.rawValue + (index.map { "/" + $0.rawValue } ?? "") }

    func withStore(_ body: (SQLChatStore) async throws -> Void) async throws {
        try await backend.withStore(searchIndex: index, body)
    }
}
