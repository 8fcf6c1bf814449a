import Chatbox
import Foundation
import Logging

/// The database's part of a turn's first token, without HTTP or a model: a turn stored with its reservation
/// (`beginTurn` with a claim, one transaction on SQLite's writer), then the history read of the next turn (with its
/// ownership check, `conversationWithMessages`), in a conversation that grows as a chat does. Not a target of its own: it says how much of "TTFT added" the store is.
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
        var (begin, read): ([Double], [Double]) = ([], [])
        let answerText = (1...200).map { "word\($0)" }.joined(separator: " ")
        while begin.count < turns {
            // A fresh conversation every 20 turns: histories of 0–38 messages.
            let id = try await store.createConversation(userID: user.id, title: "bench").id
            for _ in 0..<min(20, turns - begin.count) {
                var started = nowNanos()
                _ = try await store.conversationWithMessages(id: id, userID: user.id)
                read.append(ms(nowNanos() - started))
                let now = Millis.now()
                started = nowNanos()
                let stored = try await store.beginTurn(
                    conversationID: id, userContent: "question \(begin.count) with a few words in it",
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
        log("turn store: \(begin.count) turns, history read p50/p99 \(line(read)), turn stored \(line(begin))")
        b.report.add(
            "SQLite: a turn stored with its reservation, p50 / p99 (\(begin.count) turns)", target: "–",
            measured: line(begin), ok: nil)
        b.report.add(
            "SQLite: the conversation read before it, p50 / p99", target: "–", measured: line(read), ok: nil)
    } catch {
        await database.close()
        throw error
    }
    await database.close()
}
