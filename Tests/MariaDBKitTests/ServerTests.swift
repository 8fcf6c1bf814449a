import Foundation
@testable import MariaDBKit
import SQLKit
import Testing

struct Everything: Codable, Sendable, Equatable {
    var id: Int64?
    var name: String
    var count: Int
    var big: Int64
    var small: Int32
    var tiny: UInt8
    var huge: UInt64
    var ratio: Double
    var ratio32: Float
    var flag: Bool
    var data: Data
    var bytes: [UInt8]
    var note: String?
    var mood: Mood
    var maybeMood: Mood?
}

@Suite("MariaDBDatabase against a real server (CHATBOX_TEST_MYSQL_URL)", .enabled(if: hasTestServer))
struct ServerTests {
    @Test("createDatabaseIfNeeded creates a missing utf8mb4 database and is idempotent")
    func createsDatabase() async throws {
        let name = "mdbkit_create_\(UInt32.random(in: 0...UInt32.max))"
        let db = MariaDBDatabase(configuration: try Support.configuration(database: name), logger: Support.logger)
        do {
            try await db.createDatabaseIfNeeded()
            try await db.createDatabaseIfNeeded()
            let row = try await db.raw("SELECT DATABASE() AS db, @@character_set_database AS cs").first()
            #expect(try row?.decode(column: "db", as: String.self) == name)
            #expect(try row?.decode(column: "cs", as: String.self) == "utf8mb4")
            try await db.raw("DROP DATABASE \(ident: name)").run()
        } catch {
            await db.shutdown()
            throw error
        }
        await db.shutdown()
    }

    @Test("createDatabaseIfNeeded needs no CREATE privilege when the database exists, and says so when it is missing")
    func createDatabaseWithLimitedUser() async throws {
        let suffix = UInt32.random(in: 0...UInt32.max)
        let name = "mdbkit_limited_\(suffix)"
        let user = "mdbkit_u\(suffix % 100_000)"
        try await Support.withDatabase { admin in
            try await admin.raw("CREATE DATABASE \(ident: name)").run()
            try await admin.raw("CREATE USER \(literal: user)@'%' IDENTIFIED BY 'limited-pw'").run()
            try await admin.raw("GRANT ALL PRIVILEGES ON \(ident: name).* TO \(literal: user)@'%'").run()
            var configuration = try Support.configuration(database: name)
            configuration.user = user
            configuration.password = "limited-pw"
            let db = MariaDBDatabase(configuration: configuration, logger: Support.logger)
            try await db.createDatabaseIfNeeded()
            #expect(try await db.raw("SELECT DATABASE() AS d").first(decodingColumn: "d", as: String.self) == name)
            await db.shutdown()
            configuration.database = name + "_missing"
            let missing = MariaDBDatabase(configuration: configuration, logger: Support.logger)
            let (error, _) = await Support.elapsedError { try await missing.createDatabaseIfNeeded() }
            await missing.shutdown()
            let e = try #require(error as? MariaDBError)
            #expect(e.code == 1044)
            #expect(e.description.contains("Access denied for user '\(user)'"))
            try await admin.raw("DROP USER \(literal: user)@'%'").run()
            try await admin.raw("DROP DATABASE \(ident: name)").run()
        }
    }

    @Test("DDL (CREATE TABLE/INDEX, DROP) and a round trip of every bind type through SQLKit builders")
    func crudRoundTrip() async throws {
        try await Support.withDatabase { db in
            let table = Support.tableName("everything")
            try await db.create(table: table).ifNotExists()
                .column("id", type: .bigint, .primaryKey(autoIncrement: true))
                .column("name", type: .text, .notNull)
                .column("count", type: .int, .notNull)
                .column("big", type: .bigint, .notNull)
                .column("small", type: .int, .notNull)
                .column("tiny", type: .custom(SQLRaw("TINYINT UNSIGNED")), .notNull)
                .column("huge", type: .custom(SQLRaw("BIGINT UNSIGNED")), .notNull)
                .column("ratio", type: .real, .notNull)
                .column("ratio32", type: .custom(SQLRaw("FLOAT")), .notNull)
                .column("flag", type: .custom(SQLRaw("BOOLEAN")), .notNull)
                .column("data", type: .blob, .notNull)
                .column("bytes", type: .mediumBlob, .notNull)
                .column("note", type: .text)
                .column("mood", type: .text, .notNull)
                .column("maybeMood", type: .text)
                .run()
            try await db.create(table: table).ifNotExists().column("id", type: .bigint).run()  // no-op
            try await db.create(index: "\(table)_name").on(table).column("name").run()

            let a = Everything(
                id: nil, name: "first ✓", count: -42, big: Int64.max, small: Int32.min, tiny: 255, huge: UInt64.max,
                ratio: 3.141592653589793, ratio32: 0.5, flag: true, data: Data([0, 1, 2, 0xFF]),
                bytes: [0xDE, 0xAD, 0x00, 0xBE, 0xEF], note: nil, mood: .happy, maybeMood: nil)
            var b = a
            b.name = "second"
            b.flag = false
            b.note = "a note"
            b.maybeMood = .grumpy
            b.data = Data()
            try await db.insert(into: table).model(a, nilEncodingStrategy: .asNil).run()
            try await db.insert(into: table).model(b, nilEncodingStrategy: .asNil).run()

            let rows = try await db.select().columns("*").from(table).orderBy("id").all(decoding: Everything.self)
            #expect(rows.count == 2)
            var expectedA = a
            expectedA.id = rows.first?.id
            var expectedB = b
            expectedB.id = rows.last?.id
            #expect(rows.first == expectedA)
            #expect(rows.last == expectedB)

            // Raw SQL with interpolated binds, UPDATE counts and per-column decoding.
            try await db.raw(
                "UPDATE \(ident: table) SET note = \(bind: "changed"), count = \(bind: 7) WHERE name = \(bind: "second")"
            ).run()
            let row = try await db.raw(
                "SELECT note, count, flag, mood, maybeMood FROM \(ident: table) WHERE name = \(bind: "second")"
            ).first()
            #expect(try row?.decode(column: "note", as: String.self) == "changed")
            #expect(try row?.decode(column: "count", as: Int.self) == 7)
            #expect(try row?.decode(column: "flag", as: Bool.self) == false)
            #expect(try row?.decode(column: "mood", as: Mood.self) == .happy)
            #expect(try row?.decode(column: "maybeMood", as: Mood?.self) == .grumpy)
            let nullBind: String? = nil
            let nulls = try await db.raw("SELECT COUNT(*) AS n FROM \(ident: table) WHERE note <=> \(bind: nullBind)")
                .first()
            #expect(try nulls?.decode(column: "n", as: Int.self) == 1)  // the first row's note is NULL

            try await db.delete(from: table).where("name", .equal, "first ✓").run()
            let count = try await db.raw("SELECT COUNT(*) AS n FROM \(ident: table)").first(
                decodingColumn: "n", as: Int.self)
            #expect(count == 1)
            try await db.drop(table: table).run()
        }
    }

    @Test("4-byte UTF-8 (emoji, CJK) and a 1 MB+ MEDIUMTEXT round-trip exactly")
    func unicodeAndLongText() async throws {
        try await Support.withDatabase { db in
            let table = Support.tableName("texts")
            try await db.create(table: table)
                .column("id", type: .int, .primaryKey(autoIncrement: false))
                .column("body", type: .mediumText, .notNull)
                .run()
            let short = "emoji 😀🎉👩‍👩‍👧 中文字符 𝄞 𠜎 ünïcödé"
            let chunk = "汉字😀abc🚀é\n"
            let long = String(repeating: chunk, count: 1_200_000 / chunk.utf8.count)
            #expect(long.utf8.count > 1_000_000)
            try await db.insert(into: table).columns("id", "body").values(SQLBind(1), SQLBind(short)).run()
            try await db.insert(into: table).columns("id", "body").values(SQLBind(2), SQLBind(long)).run()
            let rows = try await db.raw(
                "SELECT id, body, CHAR_LENGTH(body) AS chars, LENGTH(body) AS bytes FROM \(ident: table) ORDER BY id"
            ).all()
            #expect(try rows[0].decode(column: "body", as: String.self) == short)
            #expect(try rows[0].decode(column: "chars", as: Int.self) == short.unicodeScalars.count)
            let back = try rows[1].decode(column: "body", as: String.self)
            #expect(back.utf8.count == long.utf8.count)
            #expect(back == long)
            #expect(try rows[1].decode(column: "bytes", as: Int.self) == long.utf8.count)
            // Found again by an equality search with a 4-byte bind.
            let found = try await db.select().column("id").from(table).where("body", .equal, short).first(
                decodingColumn: "id", as: Int.self)
            #expect(found == 1)
            try await db.drop(table: table).run()
        }
    }

    @Test("a duplicate key fails with isDuplicateKey, SQLSTATE 23000 and a one-line message")
    func duplicateKey() async throws {
        try await Support.withDatabase { db in
            let table = Support.tableName("users")
            try await db.create(table: table)
                .column("id", type: .bigint, .primaryKey(autoIncrement: true))
                .column("email", type: .text, .notNull, .unique)
                .run()
            try await db.insert(into: table).columns("email").values(SQLBind("a@example.com")).run()
            do {
                try await db.insert(into: table).columns("email").values(SQLBind("a@example.com")).run()
                Issue.record("second insert succeeded")
            } catch let error as MariaDBError {
                #expect(error.isDuplicateKey)
                #expect(!error.isConnectionError)
                #expect(error.code == 1062)
                #expect(error.sqlState == "23000")
                #expect(error.description.hasPrefix("MySQL at 127.0.0.1:"))
                #expect(error.description.contains("Duplicate entry 'a@example.com'"))
                #expect(!error.description.contains("\n"))
            }
            // The connection that failed is still fine.
            #expect(
                try await db.raw("SELECT COUNT(*) AS n FROM \(ident: table)").first(decodingColumn: "n", as: Int.self)
                    == 1)
            try await db.drop(table: table).run()
        }
    }

    @Test("transaction commits on success and rolls back on error, all on one connection")
    func transactions() async throws {
        try await Support.withDatabase { db in
            let table = Support.tableName("tx")
            try await db.create(table: table)
                .column("id", type: .bigint, .primaryKey(autoIncrement: true))
                .column("title", type: .text, .notNull)
                .run()
            let (id, connectionIDs) = try await db.transaction { tx -> (Int64, Set<Int>) in
                var ids = Set<Int>()
                ids.insert(try await tx.raw("SELECT CONNECTION_ID() AS c").first(decodingColumn: "c", as: Int.self)!)
                try await tx.raw("INSERT INTO \(ident: table) (title) VALUES (\(bind: "kept"))").run()
                ids.insert(try await tx.raw("SELECT CONNECTION_ID() AS c").first(decodingColumn: "c", as: Int.self)!)
                let id = try await tx.raw("SELECT LAST_INSERT_ID() AS id").first(decodingColumn: "id", as: Int64.self)!
                #expect((tx as? MariaDBSession)?.lastInsertID == UInt64(id))
                #expect(try await tx.raw("SELECT @@in_transaction AS t").first(decodingColumn: "t", as: Int.self) == 1)
                return (id, ids)
            }
            #expect(connectionIDs.count == 1)
            #expect(id > 0)

            struct Boom: Error {}
            await #expect(throws: Boom.self) {
                try await db.transaction { tx in
                    try await tx.raw("INSERT INTO \(ident: table) (title) VALUES (\(bind: "dropped"))").run()
                    throw Boom()
                }
            }
            let titles = try await db.select().column("title").from(table).all(decodingColumn: "title", as: String.self)
            #expect(titles == ["kept"])
            try await db.drop(table: table).run()
        }
    }

    @Test("a statement on its own that loses a lock wait (1205) is run again and succeeds once the row is free")
    func autocommitConflictIsRunAgain() async throws {
        try await Support.withDatabase { db in
            let table = Support.tableName("conflict")
            try await db.raw("CREATE TABLE \(ident: table) (id INT PRIMARY KEY, n INT NOT NULL) ENGINE=InnoDB").run()
            try await db.raw("INSERT INTO \(ident: table) (id, n) VALUES (1, 0)").run()
            // Another connection holds the row for 1.5 s; each try of the statement waits at most 1 s for it.
            let (held, hold) = AsyncStream<Void>.makeStream()
            async let holder: Void = {
                defer { hold.finish() }  // a holder that failed first ends the wait too
                try await db.transaction { tx in
                    try await tx.raw("SELECT n FROM \(ident: table) WHERE id = 1 FOR UPDATE").run()
                    hold.yield()
                    try await tx.raw("DO SLEEP(1.5)").run()
                }
            }()
            for await _ in held { break }
            try await db.raw(
                "SET STATEMENT innodb_lock_wait_timeout = 1 FOR UPDATE \(ident: table) SET n = n + 1 WHERE id = 1"
            ).run()
            try await holder
            #expect(try await db.raw("SELECT n FROM \(ident: table)").first(decodingColumn: "n", as: Int.self) == 1)
            // Inside a transaction the caller owns the unit: the same loss is thrown at once. (The row is held
            // until then: a DO SLEEP could end first on a busy machine.)
            let (heldAgain, holdAgain) = AsyncStream<Void>.makeStream()
            let (released, release) = AsyncStream<Void>.makeStream()
            async let holderAgain: Void = {
                defer { holdAgain.finish() }
                try await db.transaction { tx in
                    try await tx.raw("SELECT n FROM \(ident: table) WHERE id = 1 FOR UPDATE").run()
                    holdAgain.yield()
                    for await _ in released { break }
                }
            }()
            for await _ in heldAgain { break }
            await #expect {
                try await db.transaction { tx in
                    try await tx.raw(
                        "SET STATEMENT innodb_lock_wait_timeout = 1 FOR UPDATE \(ident: table) SET n = n + 1 WHERE id = 1"
                    ).run()
                }
            } throws: { ($0 as? MariaDBError)?.isLockWaitTimeout == true }
            release.finish()
            try await holderAgain
            try await db.drop(table: table).run()
        }
    }

    @Test("a connection gives up a lock wait (1205, retried) before its read timeout would cut it off")
    func lockWaitEndsBeforeTheReadTimeout() async throws {
        let configuration = try Support.configuration()
        try await Support.withDatabase { db in
            let wait = try await db.raw("SELECT @@SESSION.innodb_lock_wait_timeout AS t")
                .first(decodingColumn: "t", as: Int.self)
            #expect(wait == configuration.lockWaitTimeoutSeconds)
            #expect(configuration.lockWaitTimeoutSeconds < configuration.readWriteTimeoutSeconds)
        }
    }

    @Test("withSession keeps raw START TRANSACTION … COMMIT/ROLLBACK and LAST_INSERT_ID on one connection")
    func sessions() async throws {
        try await Support.withDatabase(poolSize: 3) { db in
            let table = Support.tableName("sess")
            try await db.create(table: table)
                .column("id", type: .bigint, .primaryKey(autoIncrement: true))
                .column("title", type: .text, .notNull)
                .run()
            let id = try await db.withSession { conn in
                try await conn.raw("START TRANSACTION").run()
                try await conn.raw("INSERT INTO \(ident: table) (title) VALUES (\(bind: "one"))").run()
                let id = try await conn.raw("SELECT LAST_INSERT_ID() AS id").first(decodingColumn: "id", as: Int64.self)
                try await conn.raw("COMMIT").run()
                return id
            }
            #expect(id != nil)
            try await db.withSession { conn in
                try await conn.raw("START TRANSACTION").run()
                try await conn.raw("INSERT INTO \(ident: table) (title) VALUES (\(bind: "two"))").run()
                try await conn.raw("ROLLBACK").run()
            }
            // A session that forgets to finish its transaction is rolled back, not leaked to the next user.
            try await db.withSession { conn in
                try await conn.raw("START TRANSACTION").run()
                try await conn.raw("INSERT INTO \(ident: table) (title) VALUES (\(bind: "forgotten"))").run()
            }
            for _ in 0..<6 {
                #expect(try await db.raw("SELECT @@in_transaction AS t").first(decodingColumn: "t", as: Int.self) == 0)
            }
            let titles = try await db.select().column("title").from(table).all(decodingColumn: "title", as: String.self)
            #expect(titles == ["one"])
            // Using the session after its closure returned is refused.
            let escaped = try await db.withSession { $0 }
            await #expect(throws: MariaDBError.self) { try await escaped.raw("SELECT 1").run() }
            try await db.drop(table: table).run()
        }
    }

    @Test("ROW_COUNT() in a session counts matched rows (an UPDATE to the same value is 1, as on SQLite)")
    func rowCountInSession() async throws {
        try await Support.withDatabase { db in
            let table = Support.tableName("rc")
            try await db.create(table: table)
                .column("id", type: .bigint, .primaryKey(autoIncrement: true))
                .column("title", type: .text, .notNull)
                .run()
            try await db.raw("INSERT INTO \(ident: table) (title) VALUES ('a'), ('b')").run()
            for round in 0..<3 {  // first round prepares, later ones reuse cached statements
                let counts = try await db.withSession { conn -> [Int] in
                    var counts: [Int] = []
                    try await conn.raw("UPDATE \(ident: table) SET title = \(bind: "a") WHERE id = \(bind: 1)").run()
                    counts.append(
                        try await conn.raw("SELECT ROW_COUNT() AS n").first(decodingColumn: "n", as: Int.self) ?? -1)
                    counts.append(Int((conn as? MariaDBSession)?.affectedRows ?? 99))
                    try await conn.raw("UPDATE \(ident: table) SET title = \(bind: "zz") WHERE id = \(bind: 999)").run()
                    counts.append(
                        try await conn.raw("SELECT ROW_COUNT() AS n").first(decodingColumn: "n", as: Int.self) ?? -1)
                    try await conn.raw("INSERT INTO \(ident: table) (title) VALUES (\(bind: "r\(round)"))").run()
                    let id =
                        try await conn.raw("SELECT LAST_INSERT_ID() AS id").first(decodingColumn: "id", as: Int64.self)
                        ?? -1
                    try await conn.raw("DELETE FROM \(ident: table) WHERE id = \(bind: id)").run()
                    counts.append(
                        try await conn.raw("SELECT ROW_COUNT() AS n").first(decodingColumn: "n", as: Int.self) ?? -1)
                    return counts
                }
                #expect(counts == [1, 1, 0, 1], "round \(round)")
            }
            try await db.drop(table: table).run()
        }
    }

    @Test("a session's insertID is the id its last statement generated, as LAST_INSERT_ID() says, and 0 after others")
    func insertIDFromTheProtocol() async throws {
        try await Support.withDatabase { db in
            let table = Support.tableName("iid")
            try await db.create(table: table)
                .column("id", type: .bigint, .primaryKey(autoIncrement: true))
                .column("title", type: .text, .notNull)
                .run()
            for round in 0..<2 {  // first round prepares, the second reuses cached statements
                let ids = try await db.withSession { conn -> [Int64] in
                    let session = try #require(conn as? MariaDBSession)
                    var ids: [Int64] = []
                    try await conn.raw("INSERT INTO \(ident: table) (title) VALUES (\(bind: "one \(round)"))").run()
                    ids.append(Int64(session.insertID))
                    ids.append(
                        try await conn.raw("SELECT LAST_INSERT_ID() AS id").first(decodingColumn: "id", as: Int64.self)
                            ?? -1)
                    try await conn.raw("INSERT INTO \(ident: table) (title) VALUES ('a'), ('b'), ('c')").run()
                    ids.append(Int64(session.insertID))  // the first row's
                    try await conn.raw("UPDATE \(ident: table) SET title = 'x' WHERE id = \(bind: ids[0])").run()
                    ids.append(Int64(session.insertID))
                    return ids
                }
                #expect(ids[0] > 0 && ids[0] == ids[1], "round \(round): \(ids)")
                #expect(ids[2] > ids[0])
                #expect(ids[3] == 0, "an UPDATE generates no id")
                let titles = try await db.raw("SELECT title FROM \(ident: table) WHERE id = \(bind: ids[2])").first(
                    decodingColumn: "title", as: String.self)
                #expect(titles == "a")
            }
            try await db.drop(table: table).run()
        }
    }

    @Test("a pool of 2 serves 50 concurrent queries, never opening more than 2 connections")
    func poolUnderLoad() async throws {
        try await Support.withDatabase(poolSize: 2, poolTimeout: 30) { db in
            let results = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for i in 0..<50 {
                    group.addTask {
                        let n = try await db.raw("SELECT \(bind: i) AS n, SLEEP(0.01) AS s").first(
                            decodingColumn: "n", as: Int.self)
                        return (i, n ?? -1)
                    }
                }
                var all: [(Int, Int)] = []
                for try await r in group { all.append(r) }
                return all
            }
            #expect(results.count == 50)
            #expect(results.allSatisfy { $0.0 == $0.1 })
            let stats = db.pool.statistics
            #expect(stats.open <= 2)
            #expect(stats.waiting == 0)
        }
    }

    @Test("when every connection stays busy, a waiter fails after poolTimeout with a clear error")
    func poolTimeout() async throws {
        try await Support.withDatabase(poolSize: 1, poolTimeout: 1) { db in
            // The holder says when it has the only connection (a fixed pause can end first on a busy machine).
            let (held, hold) = AsyncStream<Void>.makeStream()
            async let holder: Void = {
                defer { hold.finish() }  // a holder that failed first ends the wait too
                try await db.withSession { conn in
                    hold.yield()
                    try await conn.raw("SELECT SLEEP(5)").run()
                }
            }()
            for await _ in held { break }
            let (error, seconds) = await Support.elapsedError { try await db.raw("SELECT 1").run() }
            let mariaError = try #require(error as? MariaDBError)
            #expect(mariaError.isPoolTimeout)
            #expect(mariaError.description.contains("no free connection within 1 s (all 1 pooled connections busy)"))
            #expect(
                seconds >= 0.9 && seconds < 8.0,
                "waited \(seconds) s (about the 1 s pool timeout; generous for a loaded machine)")
            try await holder
            #expect(try await db.raw("SELECT 1 AS one").first(decodingColumn: "one", as: Int.self) == 1)
        }
    }

    @Test("a wrong password fails with a one-line 'Access denied' naming the server, without the password")
    func wrongPassword() async throws {
        var configuration = try Support.configuration()
        configuration.password = "Wr0ng-Passw0rd-XYZ"
        let db = MariaDBDatabase(configuration: configuration, logger: Support.logger)
        let (error, _) = await Support.elapsedError { try await db.raw("SELECT 1").run() }
        await db.shutdown()
        let e = try #require(error as? MariaDBError)
        #expect(e.code == 1045)
        #expect(e.description.hasPrefix("MySQL at \(configuration.endpoint): Access denied for user 'root'@"))
        #expect(!e.description.contains("Wr0ng-Passw0rd-XYZ"))
        #expect(!String(reflecting: e).contains("Wr0ng-Passw0rd-XYZ"))
        #expect(!e.description.contains("\n"))
    }

    @Test("statements that cannot be prepared still run through the text protocol when they have no binds")
    func unpreparableStatements() async throws {
        try await Support.withDatabase { db in
            let name = Support.tableName("proc")
            try await db.raw("CREATE PROCEDURE \(ident: name)() SELECT 41 + 1 AS answer").run()
            let answer = try await db.raw("CALL \(ident: name)()").first(decodingColumn: "answer", as: Int.self)
            #expect(answer == 42)
            try await db.raw("DROP PROCEDURE \(ident: name)").run()
        }
    }
}
