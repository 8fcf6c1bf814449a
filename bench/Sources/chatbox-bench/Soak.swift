import Chatbox
import Foundation
import Logging
import SQLKit
import Synchronization

/// One turn of the soak as sent and seen.
private struct SoakTurn: Sendable {
    let user: Int
    let turn: Int
    let question: String
    let expected: String
    let result: TurnResult
}

/// The answer the fake upstream is told to stream for user `u`, turn `t`: Chinese, English, quotes, a backslash,
/// markup, an emoji and a line break, so any escaping or splitting bug shows up in the audit.
func soakReply(_ u: Int, _ t: Int, tokens: Int) -> String {
    let pieces = [
        "第\(t)轮", "answer", "for", "user\(u):", "数据库", "\"quoted\"", "back\\slash", "<b>tag</b>",
        "🚀", "café", "line\nbreak", "搜索历史", "tokens"
    ]
    return (0..<max(tokens, 1)).map { pieces[$0 % pieces.count] }.joined(separator: " ")
}

/// `text` as a directive's quoted value (\" \\ \n).
private func directiveQuoted(_ text: String) -> String {
    text.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n")
}

/// N users each hold a conversation of many turns against a slow upstream for a fixed time; then the database
/// is audited directly: user messages == questions accepted, nothing left `processing`, every answer's stored
/// content equals what was streamed (and what the upstream was told to send).
func soakScenario(_ b: Bench) async throws {
    let users = b.size("soak-users", full: 200, quick: 50)
    let seconds = b.size("soak-seconds", full: 180, quick: 30)
    let tokens = b.size("soak-tokens", full: 20, quick: 10)
    let delay = b.size("soak-delay-ms", full: 250, quick: 100)
    let onMySQL = b.options.string("soak-database", "sqlite") == "mysql"
    let url: String
    if onMySQL, let mysql = b.options.values["mysql-url"] ?? ProcessInfo.processInfo.environment["BENCH_MYSQL_URL"] {
        url = mysql
    } else {
        url = b.freshSQLite("soak")
    }
    let server = try await b.startServer("soak", databaseURL: url)
    let turns = Locked<[SoakTurn]>([])
    let gauges = StreamGauges()
    var samples: [Sample] = []
    let started = nowNanos()
    do {
        let slots = try await prepareSlots(server.api, streams: users, users: users, prefix: "soak-u")
        log("soak: \(users) users, \(seconds) s, \(tokens) tokens \(delay) ms apart per answer")
        let sampler = Sampler(every: .seconds(1), limit: .seconds(seconds + 300), gauges: gauges) { server.rssMB() }
        let end = ContinuousClock.now + .seconds(seconds)
        let api = server.api
        await withTaskGroup(of: Void.self) { group in
            for u in 0..<users {
                group.addTask {
                    try? await Task.sleep(for: .milliseconds(Int64(delay * tokens) * Int64(u) / Int64(users)))
                    var t = 0
                    while ContinuousClock.now < end, t < 100_000 {
                        let expected = soakReply(u, t, tokens: tokens)
                        let question =
                            "[[fake reply=\"\(directiveQuoted(expected))\" delay_ms=\(delay)]] "
                            + "用户 \(u) 的第 \(t) 个问题: how is the \"soak\" going?"
                        let result = await api.turn(
                            token: slots[u].token, conversation: slots[u].conversation, content: question,
                            keepText: true, gauges: gauges)
                        turns.withLock {
                            $0.append(
                                SoakTurn(user: u, turn: t, question: question, expected: expected, result: result))
                        }
                        t += 1
                    }
                }
            }
        }
        samples = await sampler.stop()
        let peakRSS = server.peakRSSMB()
        await server.stop()
        let all = turns.value
        let summary = LoadSummary(all.map(\.result), wallSeconds: ms(nowNanos() - started) / 1000)
        log("soak: \(summary.line)")
        let audit = try await auditSoak(url: url, slots: slots, turns: all)
        let steady = samples.dropFirst(samples.count / 5).dropLast(samples.count / 5)
        let held = steady.map(\.open).min() ?? 0
        b.report.add(
            "soak (\(onMySQL ? "MySQL" : "SQLite")): \(users) users × many turns for \(seconds) s, slow upstream "
                + "(\(tokens) tokens, \(delay) ms apart)",
            target: "0 errors, p50/p99 first token, RSS",
            measured: "\(summary.turns) turns, \(summary.errors) errors"
                + (summary.errorSamples.first.map { " (e.g. \($0.prefix(100)))" } ?? "")
                + "; concurrency held \(held)–\(gauges.open.peak) streams; first token p50 "
                + "\(fmt(percentile(summary.ttft, 50), 2)) ms, p99 \(fmt(percentile(summary.ttft, 99), 2)) ms; "
                + "server RSS peak \(fmt(peakRSS, 0)) MB",
            ok: summary.errors == 0)
        b.report.add(
            "soak audit of the database", target: "user messages = questions; none `processing`; content = streamed",
            measured: audit.line, ok: audit.clean)
    } catch {
        await server.stop()
        throw error
    }
}

private struct SoakAudit {
    var questionsAccepted = 0
    var userMessages = 0
    var assistantMessages = 0
    var processing = 0
    var contentMismatches = 0
    var streamMismatches = 0
    var orderMismatches = 0
    var examples: [String] = []

    var clean: Bool {
        questionsAccepted == userMessages && processing == 0 && contentMismatches == 0 && streamMismatches == 0
            && orderMismatches == 0
    }
    var line: String {
        "\(questionsAccepted) questions accepted, \(userMessages) user messages stored, \(assistantMessages) answers; "
            + "\(processing) processing; \(contentMismatches) stored ≠ expected, \(streamMismatches) streamed ≠ stored, "
            + "\(orderMismatches) out of order"
            + (examples.isEmpty ? "" : " (e.g. \(examples.joined(separator: "; ")))")
    }
}

private func auditSoak(url: String, slots: [StreamSlot], turns: [SoakTurn]) async throws -> SoakAudit {
    var logger = Logger(label: "audit")
    logger.logLevel = .warning
    let database = try await OpenDatabase.open(try DatabaseLocation(url: url), mysqlPoolSize: 2, logger: logger)
    var audit = SoakAudit()
    do {
        let db = database.sql
        audit.processing =
            try await db.raw("SELECT COUNT(*) AS n FROM messages WHERE status = 'processing'")
            .first()?.decode(column: "n", as: Int.self) ?? -1
        let byUser = Dictionary(grouping: turns, by: \.user)
        for (u, slot) in slots.enumerated() {
            let rows = try await db.raw(
                """
                SELECT role, content, status FROM messages WHERE conversation_id = \(bind: slot.conversation) ORDER BY id
                """
            ).all()
            let stored = try rows.map {
                (
                    role: try $0.decode(column: "role", as: String.self),
                    content: try $0.decode(column: "content", as: String.self),
                    status: try $0.decode(column: "status", as: String.self)
                )
            }
            audit.userMessages += stored.filter { $0.role == "user" }.count
            audit.assistantMessages += stored.filter { $0.role == "assistant" }.count
            let accepted = (byUser[u] ?? []).sorted { $0.turn < $1.turn }.filter { $0.result.status == 200 }
            audit.questionsAccepted += accepted.count
            for (k, turn) in accepted.enumerated() {
                guard 2 * k + 1 < stored.count, stored[2 * k].role == "user", stored[2 * k + 1].role == "assistant",
                    stored[2 * k].content == turn.question
                else {
                    audit.orderMismatches += 1
                    if audit.examples.count < 3 {
                        audit.examples.append("user \(u) turn \(turn.turn): rows out of step")
                    }
                    continue
                }
                let answer = stored[2 * k + 1]
                if answer.content != turn.expected || answer.status != "completed" {
                    audit.contentMismatches += 1
                    if audit.examples.count < 3 {
                        audit.examples.append(
                            "user \(u) turn \(turn.turn): \(answer.status), \(answer.content.count) chars")
                    }
                }
                if turn.result.text != answer.content || turn.result.doneContent != answer.content {
                    audit.streamMismatches += 1
                }
            }
        }
    } catch {
        await database.close()
        throw error
    }
    await database.close()
    return audit
}
