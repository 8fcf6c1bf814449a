import Chatbox
import Foundation
import Logging

/// The database's part of a turn's first token, without HTTP or a model: a turn stored with its reservation
/// (`beginTurn` with a claim, one transaction on SQLite's writer), then the history read of the next turn (with its
/// ownership check: `conversationWithPath` as a turn reads it, within the server's default context of 24,000
/// characters; and beside it the whole conversation then its context window, as a turn read it before), in a
/// conversation that grows as a chat does (`--turn-store-length` turns, 20 by default). Not a target of its own: it
/// says how much of "TTFT added" the store is.
func turnStoreScenario(_ b: Bench) async throws {
    let turns = b.size("turn-store-turns", full: 2_000, quick: 500)
    let path = b.paths.work + "/turn-store.sqlite"
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    var logger = Logger(label: "turn-store")
    logger.logLevel = .warning
    let database = try await OpenDatabase.open(
        try DatabaseLocation(url: "sqlite://" + path), mysqlPoolSize: 1, logger: logger)
    do {
        let store = SQLChatStore(db: database.sql, flavor: database.flavor, logger: logger)
        try await store.migrate()
        let user = try await store.createUser(username: "bench", usernameKey: "bench", passwordHash: "-", role: .user)
        let length = max(1, b.options.int("turn-store-length", 20))
        var (begin, read, whole): ([Double], [Double], [Double]) = ([], [], [])
        let answerText = (1...200).map { "word\($0)" }.joined(separator: " ")
        while begin.count < turns {
            // A fresh conversation every `length` turns: histories of 0 to 2 × (length - 1) messages.
            let id = try await store.createConversation(userID: user.id, title: "bench").id
            for _ in 0..<min(length, turns - begin.count) {
                let question = "question \(begin.count) with a few words in it"
                // The path as a turn reads it, and the whole conversation then its context as the turn read it before
                // (here the conversation is one path), each timed when it is the first read after the last turn's
                // writes, as in the server: the first read after a write pays for the pages the write changed.
                let readPath = {
                    let started = nowNanos()
                    _ = try await store.conversationWithPath(
                        id: id, userID: user.id,
                        walk: TurnHistory(.question(question, .afterCurrentLeaf), budget: 24_000))
                    return ms(nowNanos() - started)
                }
                let readWhole = {
                    let started = nowNanos()
                    if let (_, messages) = try await store.conversationWithMessages(id: id, userID: user.id) {
                        let question = Message(
                            id: 0, conversationID: id, role: .user, content: question, status: .completed,
                            error: nil, createdAt: 0)
                        _ = ContextWindow(systemPrompt: nil, budget: 24_000).messages(from: messages + [question])
                    }
                    return ms(nowNanos() - started)
                }
                if begin.count.isMultiple(of: 2) {
                    read.append(try await readPath())
                    _ = try await readWhole()
                } else {
                    whole.append(try await readWhole())
                    _ = try await readPath()
                }
                let now = Millis.now()
                let started = nowNanos()
                let stored = try await store.beginTurn(
                    conversationID: id, userContent: question,
                    place: .afterCurrentLeaf, model: "m", now: now,
                    claim: AnswerClaim(userID: user.id, instanceID: "bench", limit: 3, at: now))
                begin.append(ms(nowNanos() - started))
                var answer = stored.assistant
                // As long as the bench model's answers (200 numbered words): ~1,400 characters.
                (answer.content, answer.status) = (answerText, .completed)
                try await store.finishAnswer(answer, now: now)
                try await store.releaseAnswer(conversationID: id, instanceID: "bench", reservedAt: now)
            }
        }
        let line = { (values: [Double]) in
            "\(fmt(percentile(values, 50), 3)) / \(fmt(percentile(values, 99), 3)) ms"
        }
        log(
            "turn store: \(begin.count) turns, \(length) a conversation, history read p50/p99 \(line(read)) "
                + "(the whole conversation and its context \(line(whole))), turn stored \(line(begin))")
        b.report.add(
            "SQLite: a turn stored with its reservation, p50 / p99 (\(begin.count) turns)", target: "–",
            measured: line(begin), ok: nil)
        b.report.add(
            "SQLite: the conversation read before it (its path within the context; \(length) turns a conversation), "
                + "p50 / p99",
            target: "–", measured: "\(line(read)) (the whole conversation, then its context: \(line(whole)))", ok: nil)
    } catch {
        await database.close()
        throw error
    }
    await database.close()
}
