import Foundation
import NIOCore
import NIOPosix
import SQLKit
import SQLiteNIO
import Testing

@testable import Chatbox

/// The SQLite connections (`SQLiteHandle` under `SQLitePool`): values come back as stored, failures leave the
/// connection usable, and a transaction runs on the writer's own thread.
@Suite("SQLite driver: values, failures, transactions on the writer's thread")
struct SQLiteDriverTests {
    private func open(_ name: String) async throws -> OpenDatabase {
        let path = TestConfig.temporaryDirectory().appendingPathComponent("\(name).sqlite").path
        let database = try await OpenDatabase.open(.sqlite(path: path), mysqlPoolSize: 1, logger: .init(label: "test"))
        try await database.sql.raw("CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, d REAL, s TEXT, b BLOB)").run()
        return database
    }

    @Test func valuesComeBackExactlyAsStored() async throws {
        let database = try await open("values")
        defer { Task { await database.close() } }
        let text = "naïve \"quoted\" 'single' \\ 表情 😀 \n\t end"
        let blob = Data([0, 1, 2, 255, 0])
        try await database.sql.raw(
            """
            INSERT INTO t (id, i, d, s, b) VALUES (1, \(bind: Int64.max), \(bind: -0.125), \(bind: text), \(bind: blob))
            """
        ).run()
        try await database.sql.raw("INSERT INTO t (id, i) VALUES (2, \(bind: Int64.min))").run()
        // Binds of the types bound straight to their value (`fastEncode`), optional or not, and nil ones.
        try await database.sql.raw(
            """
            INSERT INTO t (id, i, d, s) VALUES (\(bind: 3), \(bind: Int64?(7)), \(bind: Double?.none), \
            \(bind: String?("x")))
            """
        ).run()
        try await database.sql.raw("INSERT INTO t (id, i, s) VALUES (4, \(bind: Int?.none), \(bind: "y"))").run()
        let rows = try await database.sql.raw("SELECT id, i, d, s, b FROM t ORDER BY id").all()
        #expect(rows.count == 4)
        #expect(try rows[2].decode(column: "i", as: Int.self) == 7)
        #expect(try rows[2].decode(column: "s", as: String.self) == "x")
        #expect(try rows[2].decodeNil(column: "d") && rows[3].decodeNil(column: "i"))
        #expect(try rows[3].decode(column: "s", as: String.self) == "y")
        #expect(try rows[0].decode(column: "i", as: Int64.self) == Int64.max)
        #expect(try rows[0].decode(column: "d", as: Double.self) == -0.125)
        #expect(try rows[0].decode(column: "s", as: String.self) == text)
        #expect(try rows[0].decode(column: "b", as: Data.self) == blob)
        #expect(try rows[1].decode(column: "i", as: Int64.self) == Int64.min)
        #expect(try rows[1].decodeNil(column: "s"))
        #expect(try rows[1].decode(column: "s", as: String?.self) == nil)
        // The types read straight from the value (`SQLiteValuesRow.fastDecode`), optional or not.
        #expect(try rows[0].decode(column: "s", as: String?.self) == text)
        #expect(try rows[0].decode(column: "i", as: Int64?.self) == Int64.max)
        #expect(try rows[0].decode(column: "d", as: Double?.self) == -0.125)
        #expect(try rows[1].decode(column: "d", as: Double?.self) == nil)
        #expect(try rows[0].decode(column: "id", as: Int.self) == 1)
        #expect(try rows[1].decode(column: "id", as: Int?.self) == 2)
        #expect(try rows[1].decode(column: "s", as: Int64?.self) == nil)
        #expect(try rows[1].decode(column: "s", as: Int?.self) == nil)
        #expect(throws: (any Error).self, "a NULL is no String") { try rows[1].decode(column: "s", as: String.self) }
        #expect(rows[0].allColumns == ["id", "i", "d", "s", "b"])
        #expect(throws: (any Error).self) { try rows[0].decode(column: "missing", as: Int.self) }
    }

    @Test func aRefusedStatementLeavesTheConnectionAndTheStatementUsable() async throws {
        let database = try await open("refused")
        defer { Task { await database.close() } }
        let insert: (Int) async throws -> Void = { id in
            try await database.sql.raw("INSERT INTO t (id, s) VALUES (\(bind: id), 'x')").run()
        }
        try await insert(1)
        await #expect {
            try await insert(1)
        } throws: { error in
            (error as? SQLiteFailure)?.isConstraint == true
        }
        await #expect(throws: SQLiteFailure.self) { try await database.sql.raw("SELEC nonsense").run() }
        try await insert(2)  // the same cached statement, reset after its failure
        let count = try await database.sql.raw("SELECT COUNT(*) AS n FROM t").first()?.decode(column: "n", as: Int.self)
        #expect(count == 2)
    }

    @Test func moreDistinctStatementsThanTheCacheHoldsAllRun() async throws {
        let database = try await open("cache")
        defer { Task { await database.close() } }
        for id in 1...300 {
            // A different SQL text each time (the id is a literal): the statement cache is emptied as it fills.
            try await database.sql.raw(
                SQLQueryString("INSERT INTO t (id, i) VALUES (" + String(id) + ", " + String(id * 2) + ")")
            ).run()
        }
        let sum = try await database.sql.raw("SELECT SUM(i) AS n FROM t").first()?.decode(column: "n", as: Int.self)
        #expect(sum == 300 * 301)
    }

    @Test func aStatementWhosePlanLooksAtItsBindsIsNotPreparedAgainForEachRun() async throws {
        let path = TestConfig.temporaryDirectory().appendingPathComponent("reprepare.sqlite").path
        let handle = try await SQLiteHandle.open(path: path, on: MultiThreadedEventLoopGroup.singleton.any())
        let create = "CREATE TABLE m (id INTEGER PRIMARY KEY, c INTEGER NOT NULL, s TEXT NOT NULL, n INTEGER)"
        try await handle.run(create, []) { _ in }
        try await handle.run("CREATE INDEX m_c ON m (c, id)", []) { _ in }
        // SQLite plans `n = ?3` with its value and `LIMIT ?4` with its value: both mark their statement to be
        // prepared again when a value that changes its plan is bound (a LIMIT that changes; an equality that
        // changes to or from 0 or 1), and sqlite3_clear_bindings would expire it every time.
        let select = "SELECT id, s FROM m WHERE c = ?1 AND s <> ?2 AND n = ?3 ORDER BY id DESC LIMIT ?4"
        let counts = try await handle.onThread {
            for row in 1...20 {
                try handle.runHere(
                    "INSERT INTO m (c, s, n) VALUES (?1, ?2, ?3)",
                    [.integer(row % 3 + 3), .text(String(repeating: "x", count: row)), .integer(7)]
                ) { _ in }
            }
            var found: [Int] = []
            for c in 3..<6 {
                var rows = 0
                try handle.runHere(select, [.integer(c), .text("x"), .integer(7), .integer(50)]) { _ in rows += 1 }
                found.append(rows)
            }
            return (found, handle.timesPreparedAgain(select))
        }
        try await handle.close()
        #expect(counts.0 == [6, 6, 7], "c = 3, 4 (but not row 1's \"x\"), 5")
        #expect((counts.1 ?? 99) <= 1, "prepared again at most once, for the first values bound; not for each run")
    }

    @Test func aTransactionRunsOnTheWritersThreadAndRollsBackWhenItThrows() async throws {
        let database = try await open("transaction")
        defer { Task { await database.close() } }
        struct Refused: Error {}
        await #expect(throws: Refused.self) {
            try await database.sql.transaction { conn in
                #expect(conn.eventLoop.inEventLoop, "the body runs on the connection's thread: no hop per statement")
                try await conn.raw("INSERT INTO t (id) VALUES (1)").run()
                throw Refused()
            }
        }
        let ids = try await database.sql.transaction { conn in
            try await conn.raw("INSERT INTO t (id) VALUES (2)").run()
            return try await conn.raw("SELECT id FROM t").all().map { try $0.decode(column: "id", as: Int.self) }
        }
        #expect(ids == [2], "the first transaction was rolled back")
    }

    @Test func concurrentTransactionsAndReadsAllLand() async throws {
        let database = try await open("concurrent")
        defer { Task { await database.close() } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for id in 0..<100 {
                group.addTask {
                    try await database.sql.transaction { conn in
                        try await conn.raw("INSERT INTO t (id, i) VALUES (\(bind: id * 2), 1)").run()
                        try await conn.raw("INSERT INTO t (id, i) VALUES (\(bind: id * 2 + 1), 1)").run()
                    }
                }
                group.addTask { _ = try await database.sql.raw("SELECT COUNT(*) AS n FROM t").all() }
            }
            try await group.waitForAll()
        }
        let count = try await database.sql.raw("SELECT COUNT(*) AS n FROM t").first()?.decode(column: "n", as: Int.self)
        #expect(count == 200)
    }

    /// The commit that fills the WAL does not copy it back into the database (that took a turn's write from ~0.15 to
    /// 2–5 ms): the writer leaves it to a reader's checkpoint every second, and checkpoints by itself only past
    /// `writerCheckpointPages`.
    @Test func theWALIsCheckpointedInTheBackgroundNotByTheCommitThatFillsIt() async throws {
        let path = TestConfig.temporaryDirectory().appendingPathComponent("checkpoint.sqlite").path
        let database = try await OpenDatabase.open(.sqlite(path: path), mysqlPoolSize: 1, logger: .init(label: "test"))
        defer { Task { await database.close() } }
        let limit = try await database.sql.raw("PRAGMA wal_autocheckpoint").first()?.decode(
            column: "wal_autocheckpoint", as: Int.self)
        #expect(limit == SQLitePool.writerCheckpointPages)
        func fileSize() throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        }
        try await database.sql.raw("CREATE TABLE big (s TEXT)").run()
        // ~2 MB in 500 commits: past the 1,000 pages at which SQLite's default would checkpoint in a commit, far
        // below the writer's own limit. The database file grows only when a checkpoint copies the WAL into it, so
        // its growth is the background checkpoint's doing. (Not asserted: that the file has not grown right after
        // the commits; a slow machine may take a second over them.)
        let row = String(repeating: "x", count: 4_000)
        let before = try fileSize()
        for _ in 0..<500 { try await database.sql.raw("INSERT INTO big (s) VALUES (\(bind: row))").run() }
        let copied = try await eventually(timeout: .seconds(10)) { try fileSize() - before > 1_900_000 }
        #expect(copied, "a background checkpoint copied the WAL into the database file")
    }
}
