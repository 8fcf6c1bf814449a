import Foundation
import Logging
import SQLKit
import Synchronization
import Testing

@testable import Chatbox

/// One answer the database refuses must not stop the progress of the others from being saved (a model can make
/// an answer too long for its column on MariaDB). The refusal is provoked the same way on both databases: a
/// trigger that rejects any content containing POISON.
@Suite("Progress saving survives one failing answer, on every database")
struct LLMProgressSaverTests {
    @Test(arguments: Backend.all)
    func oneFailingAnswerDoesNotStopTheOthers(backend: Backend) async throws {
        try await backend.withStore { store in
            try await Self.addPoisonTrigger(store)
            let logs = LogCollector()
            let generations = Generations(limits: .init(runningPerUser: 100, answerCharacters: 50_000_000))
            let saver = ProgressSaver(
                generations: generations, store: store, interval: .seconds(1), logger: logs.logger)
            var entries = try await Self.startTurns(9, username: "p", store: store, generations: generations)
            let bad = 4
            for (index, answer) in entries.enumerated() {
                answer.entry.append(index == bad ? "POISON part 1" : "answer \(index) part 1")
            }

            await saver.saveOnce()
            var saved = try await Self.contents(store, entries.map(\.id))
            for (index, content) in saved.enumerated() where index != bad {
                #expect(content == "answer \(index) part 1", "answer \(index)")
            }
            #expect(saved[bad] == "")
            #expect(logs.errors.count == 1, "\(logs.errors)")
            #expect(logs.errors.first?.contains("answer \(entries[bad].id)") == true)

            // The next rounds: the good answers are saved again, the bad one is not logged again.
            for round in 2...3 {
                for (index, answer) in entries.enumerated() {
                    answer.entry.append(" part \(round)")
                    _ = index
                }
                await saver.saveOnce()
            }
            saved = try await Self.contents(store, entries.map(\.id))
            for (index, content) in saved.enumerated() where index != bad {
                #expect(content == "answer \(index) part 1 part 2 part 3", "answer \(index)")
            }
            #expect(logs.errors.count == 1, "\(logs.errors)")
            #expect(logs.warnings.isEmpty, "\(logs.warnings)")

            // Once the database takes it, the bad answer is saved on its own again (within the retry interval).
            try await Self.dropPoisonTrigger(store)
            entries[bad].entry.append(" cured")
            for _ in 0..<FailingAnswers.retryEveryRounds { await saver.saveOnce() }
            saved = try await Self.contents(store, entries.map(\.id))
            #expect(saved[bad] == "POISON part 1 part 2 part 3 cured")
            #expect(saver.failing.round(seen: []).failing.isEmpty)
        }
    }

    @Test("long answers are cut into statements of at most 4 MiB of text; a longer one goes alone")
    func statementsAreBoundedInBytes() {
        let big = String(repeating: "x", count: 3 << 20)
        let answers = [big, "a", big, String(repeating: "y", count: 5 << 20), "b"].enumerated().map {
            AnswerProgress(messageID: Int64($0), content: $1)
        }
        #expect(SQLChatStore.progressBatches(answers).map { $0.map(\.messageID) } == [[0, 1], [2], [3], [4]])
        let many = (0..<450).map { AnswerProgress(messageID: Int64($0), content: "c") }
        #expect(SQLChatStore.progressBatches(many).map(\.count) == [200, 200, 50])
        #expect(SQLChatStore.progressBatches([]).isEmpty)
    }

    @Test(
        "on MariaDB, an answer longer than its MEDIUMTEXT column fails alone",
        .enabled(if: Backend.all.contains(.mariadb)))
    func tooLongForTheColumnOnMariaDB() async throws {
        try await Backend.mariadb.withStore { store in
            let logs = LogCollector()
            let generations = Generations(limits: .init(runningPerUser: 100, answerCharacters: 50_000_000))
            let saver = ProgressSaver(
                generations: generations, store: store, interval: .seconds(1), logger: logs.logger)
            let entries = try await Self.startTurns(3, username: "m", store: store, generations: generations)
            entries[0].entry.append("short 0")
            entries[1].entry.append(String(repeating: "z", count: (16 << 20) + 10))  // MEDIUMTEXT holds 16 MiB - 1
            entries[2].entry.append("short 2")
            await saver.saveOnce()
            let saved = try await Self.contents(store, entries.map(\.id))
            #expect(saved[0] == "short 0")
            #expect(saved[1] == "")
            #expect(saved[2] == "short 2")
            #expect(logs.errors.count == 1, "\(logs.errors)")
        }
    }

    // MARK: Helpers

    /// `count` stored turns of a new user, each in its own conversation, with a started generation: the answer's
    /// message id and its entry.
    static func startTurns(_ count: Int, username: String, store: SQLChatStore, generations: Generations)
        async throws -> [(id: Int64, entry: Generations.Entry)]
    {
        let user = try await store.createUser(username: username, usernameKey: username, passwordHash: "h", role: .user)
        var entries: [(id: Int64, entry: Generations.Entry)] = []
        for index in 0..<count {
            let conversation = try await store.createConversation(userID: user.id, title: "c\(index)")
            let turn = try await store.beginTurn(conversationID: conversation.id, userContent: "q", now: .now())
            let entry = try generations.reserve(conversation.id, userID: user.id)
            generations.begin(
                entry, user: turn.user, assistant: turn.assistant, listener: try generations.openStream(userID: user.id)
            )
            entries.append((turn.assistant.id, entry))
        }
        return entries
    }

    static func contents(_ store: SQLChatStore, _ ids: [Int64]) async throws -> [String] {
        var result: [String] = []
        for id in ids {
            let row = try await store.db.raw("SELECT content FROM messages WHERE id = \(bind: id)").first()
            result.append(try row?.decode(column: "content", as: String.self) ?? "<missing>")
        }
        return result
    }

    static func addPoisonTrigger(_ store: SQLChatStore) async throws {
        if store.flavor == .sqlite {
            try await store.db.raw(
                """
                CREATE TRIGGER poison BEFORE UPDATE OF content ON messages WHEN NEW.content LIKE '%POISON%' \
                BEGIN SELECT RAISE(ABORT, 'poisoned answer'); END
                """
            ).run()
        } else {
            try await store.db.raw(
                """
                CREATE TRIGGER poison BEFORE UPDATE ON messages FOR EACH ROW \
                BEGIN IF NEW.content LIKE '%POISON%' THEN \
                SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'poisoned answer'; END IF; END
                """
            ).run()
        }
    }

    static func dropPoisonTrigger(_ store: SQLChatStore) async throws {
        try await store.db.raw("DROP TRIGGER poison").run()
    }
}

/// Collects what a logger was told at warning level and above.
final class LogCollector: Sendable {
    private let entries = Mutex<[(Logger.Level, String)]>([])

    var logger: Logger {
        Logger(label: "test-collector") { _ in Handler(collector: self) }
    }
    var errors: [String] { entries.withLock { $0.filter { $0.0 >= .error }.map(\.1) } }
    var warnings: [String] { entries.withLock { $0.filter { $0.0 == .warning }.map(\.1) } }

    fileprivate func add(_ level: Logger.Level, _ message: String) { entries.withLock { $0.append((level, message)) } }

    private struct Handler: LogHandler {
        let collector: LogCollector
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(
            level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
            file: String, function: String, line: UInt
        ) {
            collector.add(level, "\(message)")
        }
    }
}
