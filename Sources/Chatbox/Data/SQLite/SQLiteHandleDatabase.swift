import Logging
import NIOCore
import SQLKit
import SQLiteKit

/// SQLKit over one `SQLiteHandle`: what a session or a transaction of `SQLitePool` uses. A caller already on the
/// connection's thread (a transaction runs there) runs each statement at once, without a hop.
struct SQLiteHandleDatabase: SQLDatabase {
    let handle: SQLiteHandle
    let logger: Logger
    var eventLoop: any EventLoop { handle.loop }
    var dialect: any SQLDialect { SQLiteDialect() }
    var queryLogLevel: Logger.Level? { nil }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void)
        -> EventLoopFuture<Void>
    {
        let promise = handle.loop.makePromise(of: Void.self)
        promise.completeWithTask { try await execute(sql: query, onRow) }
        return promise.futureResult
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        let (sql, binds) = try Self.prepare(query, on: self)
        try await handle.run(sql, binds, onRow)
    }

    func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await closure(self)
    }

    /// The SQL text and its binds as SQLite values.
    static func prepare(_ query: any SQLExpression, on database: any SQLDatabase) throws -> (String, [SQLiteData]) {
        let (sql, binds) = database.serialize(query)
        let encoder = SQLiteDataEncoder()
        return (sql, try binds.map { try fastEncode($0) ?? encoder.encode($0) })
    }

    /// The types the stores bind most, straight to their value: the same as the encoder gives, without its
    /// per-value set-up. Nil for anything else (a nil optional included), which the encoder encodes.
    @inline(__always)
    private static func fastEncode(_ value: any Encodable & Sendable) -> SQLiteData? {
        switch value {
        case let value as Int64: .integer(Int(value))
        case let value as Int: .integer(value)
        case let value as String: .text(value)
        default: nil
        }
    }
}

extension SQLiteHandle {
    /// Runs one statement on this connection's thread (at once when already there), each row to `onRow` as SQLKit's
    /// `SQLRow`.
    func run(_ sql: String, _ binds: [SQLiteData], _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        try await onThread { [self] in try runHere(sql, binds) { onRow(SQLiteValuesRow(row: $0)) } }
    }
}

/// A row of `SQLiteHandle` through SQLKit's `SQLRow`, decoded as SQLiteKit decodes.
struct SQLiteValuesRow: SQLRow {
    let row: SQLiteValues
    private static let decoder = SQLiteDataDecoder()

    var allColumns: [String] { row.columns.names }
    func contains(column: String) -> Bool { row.columns.index[column] != nil }
    func decodeNil(column: String) throws -> Bool { (row.value(column) ?? .null) == .null }
    func decode<D: Decodable>(column: String, as: D.Type) throws -> D {
        guard let value = row.value(column) else {
            throw DecodingError.keyNotFound(
                SQLiteColumnKey(column),
                .init(codingPath: [], debugDescription: "The result has no column \"\(column)\"."))
        }
        return try Self.fastDecode(D.self, value) ?? Self.decoder.decode(D.self, from: value)
    }

    /// The types the stores read most, straight from the value (a message row is a dozen of them): the same result
    /// as the decoder, without its per-value set-up. Nil for anything else, which the decoder decodes.
    @inline(__always)
    private static func fastDecode<D: Decodable>(_ type: D.Type, _ value: SQLiteData) -> D? {
        switch value {
        case .text(let text):
            if D.self == String.self || D.self == String?.self { return text as? D }
        case .integer(let integer):
            if D.self == Int64.self || D.self == Int64?.self { return Int64(integer) as? D }
            if D.self == Int.self || D.self == Int?.self { return integer as? D }
        case .float(let float):
            if D.self == Double.self || D.self == Double?.self { return float as? D }
        case .null:
            // A nil of the optional type D, as a D (returning nil itself would mean "not handled").
            if D.self == String?.self { return (String?.none as Any) as? D }
            if D.self == Int64?.self { return (Int64?.none as Any) as? D }
            if D.self == Int?.self { return (Int?.none as Any) as? D }
            if D.self == Double?.self { return (Double?.none as Any) as? D }
        default: break
        }
        return nil
    }
}

private struct SQLiteColumnKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
