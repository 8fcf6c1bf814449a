@testable import Chatbox
import Foundation
import Logging
import Testing

/// Conversation search in the store. On SQLite a search of 3+ characters goes through the FTS5 trigram index
/// (migration 3) and must return exactly what the LIKE scan returns; every SQLite check below runs three ways on the
/// same data: the index always, the LIKE scan always, and the probe deciding (with a candidate limit of 2, so common
/// words take the scan). Case: ASCII letters match in any case on both databases; other letters (É/é) match only
/// as written on SQLite (LIKE folds ASCII only, and the index's wider folding is narrowed back by the LIKE
/// recheck), while MariaDB's utf8mb4_unicode_ci folds every letter.
@Suite("Conversation search in the store, on every database")
struct SearchStoreTests {
    /// Titles found for `query`; on SQLite, fails unless the index, the scan and the probe agree.
    static func titles(
        _ store: SQLChatStore, _ userID: Int64, _ query: String, limit: Int = 50,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [String] {
        let found = try await store.conversations(userID: userID, limit: limit, after: nil, query: query)
            .conversations.map(\.title)
        if store.flavor == .sqlite {
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

    /// Messages the full-text index itself finds for `text` (SQLite), to check what it holds, not just results.
    static func indexed(_ store: SQLChatStore, _ text: String) async throws -> Int {
        try await store.fullTextMatches(try #require(SQLChatStore.fullTextPhrase(text)), upTo: 1_000)
    }

    @Test(arguments: Backend.all)
    func chineseWordsOfThreeOrMoreCharacters(backend: Backend) async throws {
        try await backend.withStore { store in
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
            if store.flavor == .sqlite { #expect(try await Self.indexed(store, "量子纠缠") == 3) }
        }
    }

    @Test(arguments: Backend.all)
    func englishWordsInAnyCaseAndOtherLettersAsEachDatabaseCompares(backend: Backend) async throws {
        try await backend.withStore { store in
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

    @Test(arguments: Backend.all)
    func fullTextOperatorsAndLikeWildcardsInTheQueryAreLiteral(backend: Backend) async throws {
        try await backend.withStore { store in
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

    @Test(arguments: Backend.all)
    func oneAndTwoCharacterQueriesAreStillFound(backend: Backend) async throws {
        try await backend.withStore { store in
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

    @Test(arguments: Backend.all)
    func anEditedAnswerIsFoundByItsNewTextAndARegeneratedOneByEitherVersion(backend: Backend) async throws {
        try await backend.withStore { store in
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
            if store.flavor == .sqlite {
                #expect(try await Self.indexed(store, "zebras") == 0)
                #expect(try await Self.indexed(store, "giraffes") == 1)
                #expect(try await Self.indexed(store, "okapis") == 1)
            }
        }
    }

    @Test(arguments: Backend.all)
    func aDeletedConversationOrUserIsNoLongerFound(backend: Backend) async throws {
        try await backend.withStore { store in
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
            if store.flavor == .sqlite {
                #expect(try await Self.indexed(store, "sighting") == 0)
                #expect(try await Self.indexed(store, "unicorn") == 1)  // the cascades reached the index
            }
        }
    }

    @Test(arguments: Backend.all)
    func pagesAreTheSameThroughTheIndexAndTheScan(backend: Backend) async throws {
        try await backend.withStore { store in
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
            let limits =
                store.flavor == .sqlite
                ? [Self.fullTextCandidateLimitForTests, -1, 2] : [SQLChatStore.fullTextCandidateLimit]
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

    @Test(arguments: Backend.all)
    func aDatabaseMigratedFromVersion2GetsItsMessagesIndexed(backend: Backend) async throws {
        let logger = Logger(label: "search-test")
        let database = try await OpenDatabase.open(backend.freshLocation(), mysqlPoolSize: 2, logger: logger)
        let store = SQLChatStore(db: database.sql, flavor: database.flavor, logger: logger)
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
            if store.flavor == .sqlite {
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
}
