import FakeUpstream
import Chatbox
import Foundation
import Logging
import SQLKit

/// Fills a database with conversations and messages for the history figures: batched multi-row INSERTs in
/// transactions straight through SQLKit (not the HTTP API), the schema made by `SQLChatStore.migrate()`.
///
/// Users `bench_heavy` (owns `heavyShare` of the conversations, including conversation 1 with
/// `longConversation` messages, the newest) and `bench_u1…`; every password is `bench-password`.
/// Text is Chinese or English (some mixed), questions 1–4 sentences, answers 2–12 with some Markdown code;
/// `zanzibar` and `量子纠缠` are rare (about one message in 2,000), `database` and `数据库` common.
struct SeedPlan: Sendable {
    var conversations = 100_000
    var messages = 1_000_000
    var users = 10
    var heavyShare = 0.2
    var longConversation = 1_000
    static let password = "bench-password"
    static let heavyUser = "bench_heavy"
}

struct SeedResult: Sendable {
    var seconds: Double
    var reused: Bool
    var conversations: Int
    var messages: Int
    var bytes: Int
}

func seedDatabase(url: String, plan: SeedPlan) async throws -> SeedResult {
    var logger = Logger(label: "seed")
    logger.logLevel = .warning
    let database = try await OpenDatabase.open(try DatabaseLocation(url: url), mysqlPoolSize: 2, logger: logger)
    do {
        let result = try await seed(database, plan: plan, logger: logger)
        await database.close()
        return result
    } catch {
        await database.close()
        throw error
    }
}

private func count(_ db: any SQLDatabase, _ table: String) async throws -> Int {
    try await db.raw("SELECT COUNT(*) AS n FROM \(unsafeRaw: table)").first()?.decode(column: "n", as: Int.self) ?? 0
}

private func seed(_ database: OpenDatabase, plan: SeedPlan, logger: Logger) async throws -> SeedResult {
    let started = nowNanos()
    let db = database.sql
    let store = SQLChatStore(db: db, flavor: database.flavor, logger: logger)
    try await store.migrate()
    let existing = try await count(db, "conversations")
    if existing > 0 {
        let messages = try await count(db, "messages")
        guard existing == plan.conversations, messages == plan.messages else {
            throw API.Failure(
                description: "the database already holds \(existing) conversations and \(messages) "
                    + "messages (not the plan's \(plan.conversations)/\(plan.messages)); give an empty one")
        }
        return SeedResult(seconds: 0, reused: true, conversations: existing, messages: messages, bytes: 0)
    }

    let hash = try await PasswordHasher(cost: 4).hash(SeedPlan.password)
    var userIDs: [Int64] = []
    for i in 0..<plan.users {
        let name = i == 0 ? SeedPlan.heavyUser : "bench_u\(i)"
        let user = try await store.createUser(
            username: name, usernameKey: Rules.usernameKey(name), passwordHash: hash, role: i == 0 ? .admin : .user)
        userIDs.append(user.id)
    }

    var random = SplitMix(seed: 42)
    let now = Millis.now()
    let heavyCount = max(1, Int(Double(plan.conversations) * plan.heavyShare))
    let otherMessages = plan.messages - plan.longConversation
    let others = plan.conversations - 1
    let begin: SQLQueryString = database.flavor == .sqlite ? "BEGIN IMMEDIATE" : "START TRANSACTION"
    let batchRows = 1_000
    let statementsPerTransaction = 20

    // Conversations: id 1 is the long one (newest); ids grow older from there.
    var conversationRows: [[any Encodable & Sendable]] = []
    var owners: [Int64] = []
    var stamps: [Millis] = []
    for c in 1...plan.conversations {
        let owner = c <= heavyCount ? userIDs[0] : userIDs[1 + (c % max(1, plan.users - 1))]
        let updated = now - Millis(c) * 30_000  // 30 s apart, newest first
        let english = random.next() % 2 == 0
        let title = c == 1 ? "Long conversation (\(plan.longConversation) messages)" : Text.title(english, &random)
        owners.append(owner)
        stamps.append(updated)
        conversationRows.append([Int64(c), owner, title, 0, updated - 3_600_000, updated])
    }
    try await insertBatches(
        db, begin: begin, table: "conversations",
        columns: ["id", "user_id", "title", "title_set_by_user", "created_at", "updated_at"],
        rows: conversationRows, batch: batchRows, perTransaction: statementsPerTransaction)
    conversationRows = []

    // Messages, conversation by conversation; the counts add up to exactly plan.messages.
    var remaining = otherMessages
    var pending: [[any Encodable & Sendable]] = []
    pending.reserveCapacity(batchRows * statementsPerTransaction)
    var bytes = 0
    var inserted = 0
    for c in 1...plan.conversations {
        let n: Int
        if c == 1 {
            n = plan.longConversation
        } else {
            let left = others - (c - 2)
            let mean = Double(remaining) / Double(left)
            n = left == 1 ? remaining : min(remaining - (left - 1), max(1, Int(mean) + Int(random.next() % 9) - 4))
            remaining -= n
        }
        let english = random.next() % 3 != 0
        let start = stamps[c - 1] - Millis(n) * 20_000
        for m in 0..<n {
            let isUser = m % 2 == 0
            let content = isUser ? Text.question(english, &random) : Text.answer(english, &random)
            bytes += content.utf8.count
            let at = start + Millis(m) * 20_000
            pending.append([Int64(c), isUser ? "user" : "assistant", content, "completed", at, at])
        }
        if pending.count >= batchRows * statementsPerTransaction || c == plan.conversations {
            try await insertBatches(
                db, begin: begin, table: "messages",
                columns: ["conversation_id", "role", "content", "status", "created_at", "updated_at"],
                rows: pending, batch: batchRows, perTransaction: statementsPerTransaction)
            inserted += pending.count
            pending.removeAll(keepingCapacity: true)
            if inserted % 100_000 < batchRows * statementsPerTransaction {
                log("seeded \(inserted) messages in \(fmt(ms(nowNanos() - started) / 1000)) s")
            }
        }
    }
    // Each conversation is one branch, as the server would have written it: every message follows the one before,
    // and the last one is the current leaf (the statements of schema 7's migration).
    if database.flavor == .sqlite {
        try await db.raw(
            """
            UPDATE messages SET parent_id = (SELECT MAX(p.id) FROM messages p \
            WHERE p.conversation_id = messages.conversation_id AND p.id < messages.id)
            """
        ).run()
    } else {
        try await db.raw(
            """
            UPDATE messages m JOIN (SELECT c.id, (SELECT MAX(p.id) FROM messages p \
            WHERE p.conversation_id = c.conversation_id AND p.id < c.id) AS parent FROM messages c) x \
            ON x.id = m.id SET m.parent_id = x.parent
            """
        ).run()
    }
    try await db.raw(
        """
        UPDATE conversations SET current_leaf_id = (SELECT MAX(m.id) FROM messages m \
        WHERE m.conversation_id = conversations.id)
        """
    ).run()
    if database.flavor == .sqlite {
        try await db.raw("ANALYZE").run()
    } else {
        try await db.raw("ANALYZE TABLE conversations, messages").run()
        // The rows went in beside the store: its MySQL search index (a side table) is built from them now.
        try await store.rebuildSearchIndex()
    }
    return SeedResult(
        seconds: ms(nowNanos() - started) / 1000, reused: false, conversations: plan.conversations,
        messages: inserted, bytes: bytes)
}

private func insertBatches(
    _ db: any SQLDatabase, begin: SQLQueryString, table: String, columns: [String],
    rows: [[any Encodable & Sendable]], batch: Int, perTransaction: Int
) async throws {
    var offset = 0
    while offset < rows.count {
        let end = min(rows.count, offset + batch * perTransaction)
        let slice = Array(rows[offset..<end])
        try await db.withSession { conn in
            try await conn.raw(begin).run()
            do {
                var i = 0
                while i < slice.count {
                    var insert = conn.insert(into: table).columns(columns)
                    for row in slice[i..<min(slice.count, i + batch)] { insert = insert.values(row) }
                    try await insert.run()
                    i += batch
                }
                try await conn.raw("COMMIT").run()
            } catch {
                try? await conn.raw("ROLLBACK").run()
                throw error
            }
        }
        offset = end
    }
}
