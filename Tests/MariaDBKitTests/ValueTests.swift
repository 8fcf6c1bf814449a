import Foundation
@testable import MariaDBKit
import SQLKit
import Testing

enum Mood: String, Codable, Sendable { case happy, grumpy }
struct Wrapped: Codable, Sendable, Equatable {
    let raw: String
    init(_ raw: String) { self.raw = raw }
    init(from decoder: any Decoder) throws { raw = try decoder.singleValueContainer().decode(String.self) }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(raw)
    }
}

@Suite("Binds, row decoding and the MySQL dialect (no server needed)")
struct ValueTests {
    @Test("every supported Swift type becomes the expected bind value")
    func bindConversions() throws {
        let none: Int? = nil
        let some: Int? = 5
        let cases: [(any Encodable, MariaDBValue)] = [
            ("héllo 😀", .text("héllo 😀")),
            (Int(-7), .int(-7)), (Int64.max, .int(.max)), (Int32(-3), .int(-3)), (Int16(4), .int(4)),
            (Int8(-1), .int(-1)), (UInt8(255), .int(255)), (UInt16(9), .int(9)), (UInt32.max, .int(Int64(UInt32.max))),
            (UInt64.max, .uint(.max)), (UInt(3), .uint(3)),
            (1.5, .double(1.5)), (Float(0.25), .double(0.25)),
            (true, .int(1)), (false, .int(0)),
            (Data([0, 1, 255]), .blob([0, 1, 255])), ([UInt8]([9, 8]), .blob([9, 8])),
            (none, .null), (some, .int(5)),
            (Mood.grumpy, .text("grumpy")), (Wrapped("w"), .text("w")),
            (Optional(Mood.happy), .text("happy")),
            (UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")!, .text("E621E1F8-C36C-495A-93FC-0C247A3E6E5F"))
        ]
        for (value, expected) in cases {
            #expect(try MariaDBValue(bind: value) == expected, "\(type(of: value))")
        }
    }

    @Test("Date and structured values are refused with a clear message")
    func refusedBinds() {
        #expect(throws: MariaDBValue.BindError.self) { try MariaDBValue(bind: Date()) }
        do { _ = try MariaDBValue(bind: Date()) } catch { #expect(error.message.contains("Int64 milliseconds")) }
        struct Pair: Encodable { let a = 1, b = 2 }
        #expect(throws: MariaDBValue.BindError.self) { try MariaDBValue(bind: Pair()) }
        #expect(throws: MariaDBValue.BindError.self) { try MariaDBValue(bind: [1, 2]) }
    }

    @Test("rows decode scalars, optionals, booleans from 0/1, blobs and raw-value enums")
    func rowDecoding() throws {
        let row = MariaDBRow(
            columns: MariaDBColumns(["s", "i", "u", "d", "b", "n", "blob", "e", "dec"]),
            values: [
                .text("x"), .int(42), .uint(7), .double(2.5), .int(1), .null, .blob([1, 2]), .text("happy"),
                .text("12.50")
            ])
        #expect(row.allColumns.count == 9)
        #expect(row.contains(column: "s") && !row.contains(column: "zz"))
        #expect(try row.decode(column: "s", as: String.self) == "x")
        #expect(try row.decode(column: "i", as: Int.self) == 42)
        #expect(try row.decode(column: "i", as: Int64.self) == 42)
        #expect(try row.decode(column: "i", as: Int32.self) == 42)
        #expect(try row.decode(column: "u", as: Int.self) == 7)
        #expect(try row.decode(column: "i", as: Double.self) == 42)
        #expect(try row.decode(column: "d", as: Double.self) == 2.5)
        #expect(try row.decode(column: "b", as: Bool.self) == true)
        #expect(try row.decodeNil(column: "n"))
        #expect(try row.decode(column: "n", as: String?.self) == nil)
        #expect(try row.decode(column: "i", as: Int?.self) == 42)
        #expect(try row.decode(column: "blob", as: Data.self) == Data([1, 2]))
        #expect(try row.decode(column: "blob", as: [UInt8].self) == [1, 2])
        #expect(try row.decode(column: "e", as: Mood.self) == .happy)
        #expect(try row.decode(column: "e", as: Mood?.self) == .happy)
        #expect(try row.decode(column: "dec", as: Double.self) == 12.5)
        #expect(throws: DecodingError.self) { try row.decode(column: "n", as: String.self) }
        #expect(throws: DecodingError.self) { try row.decode(column: "s", as: Int.self) }
        #expect(throws: DecodingError.self) { try row.decode(column: "missing", as: Int.self) }
        struct Model: Decodable {
            let s: String
            let i: Int
            let n: Int?
            let e: Mood
            let b: Bool
        }
        let m = try row.decode(model: Model.self)
        #expect(m.s == "x" && m.i == 42 && m.n == nil && m.e == .happy && m.b)
    }

    @Test("the dialect writes backquoted identifiers, ? binds, AUTO_INCREMENT and ON DUPLICATE KEY UPDATE")
    func dialectSerialization() async throws {
        let db = MariaDBDatabase(
            configuration: MariaDBConfiguration(
                host: "127.0.0.1", port: 1, user: "u", password: "p", database: "d", poolSize: 1))
        defer { Task { await db.shutdown() } }
        let create = db.create(table: "users")
            .ifNotExists()
            .column("id", type: .bigint, .primaryKey(autoIncrement: true))
            .column("email", type: .text, .notNull, .unique)
            .column("body", type: .mediumText)
            .column("score", type: .real)
        #expect(
            db.serialize(create.query).sql == "CREATE TABLE IF NOT EXISTS `users` (`id` BIGINT PRIMARY KEY "
                + "AUTO_INCREMENT, `email` VARCHAR(255) NOT NULL UNIQUE, `body` MEDIUMTEXT, `score` DOUBLE)")
        let upsert = db.insert(into: "users").columns("email", "score").values(SQLBind("a@b"), SQLBind(1.0))
            .onConflict(with: ["email"]) { $0.set(excludedValueOf: "score") }
        let (sql, binds) = db.serialize(upsert.query)
        #expect(
            sql == "INSERT INTO `users` (`email`, `score`) VALUES (?, ?) ON DUPLICATE KEY UPDATE "
                + "`score` = VALUES(`score`)")
        #expect(binds.count == 2)
        let select = db.select().column("id").from("users").where("email", .equal, "x").limit(1)
        #expect(db.serialize(select.query).sql == "SELECT `id` FROM `users` WHERE `email` = ? LIMIT 1")
        #expect(db.serialize(SQLLiteral.boolean(true)).sql == "1")
    }

    @Test("long generated constraint names are shortened to 64 characters, stably")
    func constraintNames() {
        let long = String(repeating: "a", count: 80)
        let d = MySQLDialect()
        let a = d.normalizeSQLConstraint(identifier: SQLIdentifier(long)) as? SQLIdentifier
        let b = d.normalizeSQLConstraint(identifier: SQLIdentifier(long)) as? SQLIdentifier
        #expect(a?.string.count == 64)
        #expect(a?.string == b?.string)
        #expect((d.normalizeSQLConstraint(identifier: SQLIdentifier("short")) as? SQLIdentifier)?.string == "short")
    }

    @Test("MariaDBError reads as one line naming the server, and classifies codes")
    func errorDescriptions() {
        let denied = MariaDBError(
            code: 1045, sqlState: "28000",
            message: "Access denied for user 'root'@'localhost' (using password: YES)", endpoint: "127.0.0.1:3306")
        #expect(
            denied.description
                == "MySQL at 127.0.0.1:3306: Access denied for user 'root'@'localhost' (using password: YES)")
        let down = MariaDBError(
            code: 2002, message: "Can't connect to server on '127.0.0.1' (111)", endpoint: "127.0.0.1:3306")
        #expect(
            down.description == "MySQL at 127.0.0.1:3306 is unreachable (Can't connect to server on '127.0.0.1' (111))")
        #expect(down.isConnectionError && !down.isDuplicateKey)
        #expect(MariaDBError(code: 1062, message: "Duplicate entry", endpoint: "x").isDuplicateKey)
        #expect(
            MariaDBError(code: 2013, message: "Lost connection\nto server", endpoint: "x").description
                == "MySQL at x: Lost connection to server")
    }
}
