import Foundation
import SQLKit

/// Column names of a result set, shared by all its rows.
public final class MariaDBColumns: Sendable {
    public let names: [String]
    let index: [String: Int]

    init(_ names: [String]) {
        self.names = names
        var index: [String: Int] = [:]
        for (i, name) in names.enumerated() where index[name] == nil { index[name] = i }
        self.index = index
    }
}

/// One result row. Decodes String, Int*, UInt*, Double, Float, Bool (from 0/1), Data, [UInt8], UUID,
/// Optionals of those and anything whose `Decodable` reads one such value (e.g. String-raw-value enums).
public struct MariaDBRow: SQLRow, Sendable, CustomStringConvertible {
    public let columns: MariaDBColumns
    public let values: [MariaDBValue]

    public init(columns: MariaDBColumns, values: [MariaDBValue]) {
        self.columns = columns
        self.values = values
    }

    public var allColumns: [String] { columns.names }

    public func contains(column: String) -> Bool { columns.index[column] != nil }

    public func value(column: String) throws -> MariaDBValue {
        guard let i = columns.index[column] else {
            throw DecodingError.keyNotFound(
                ColumnKey(column),
                .init(codingPath: [], debugDescription: "no column '\(column)' in row (has \(columns.names))"))
        }
        return values[i]
    }

    public func decodeNil(column: String) throws -> Bool { try value(column: column) == .null }

    public func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        try ColumnDecoder(column: column, value: value(column: column)).decode(D.self)
    }

    public var description: String {
        "[" + zip(columns.names, values).map { "\($0): \($1)" }.joined(separator: ", ") + "]"
    }
}

struct ColumnKey: CodingKey {
    let stringValue: String
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    var intValue: Int? { nil }
    init?(intValue: Int) { nil }
}

/// A single-value `Decoder` over one column value.
struct ColumnDecoder: Decoder, SingleValueDecodingContainer {
    let column: String
    let value: MariaDBValue
    var codingPath: [any CodingKey] { [ColumnKey(column)] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        throw mismatch(type, "a keyed container")
    }
    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw mismatch([Any].self, "an unkeyed container")
    }
    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    private func mismatch(_ type: Any.Type, _ wanted: String? = nil) -> DecodingError {
        .typeMismatch(
            type,
            .init(
                codingPath: codingPath,
                debugDescription: "column '\(column)': cannot decode \(wanted ?? "\(type)") from \(value)"))
    }

    func decodeNil() -> Bool { value == .null }

    func decode(_ type: String.Type) throws -> String {
        switch value {
        case .text(let s): return s
        case .blob(let b): return String(decoding: b, as: UTF8.self)
        case .int(let v): return String(v)
        case .uint(let v): return String(v)
        case .double(let v): return String(v)
        case .null:
            throw DecodingError.valueNotFound(
                type,
                .init(
                    codingPath: codingPath, debugDescription: "column '\(column)' is NULL"))
        }
    }

    func decode(_ type: Double.Type) throws -> Double {
        switch value {
        case .double(let v): return v
        case .int(let v): return Double(v)
        case .uint(let v): return Double(v)
        case .text(let s): if let v = Double(s) { return v }
        default: break
        }
        throw nullOr(mismatch(type))
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }

    func decode(_ type: Bool.Type) throws -> Bool {
        switch value {
        case .int(let v): return v != 0
        case .uint(let v): return v != 0
        case .double(let v): return v != 0
        case .text(let s):
            switch s.lowercased() {
            case "1", "true": return true
            case "0", "false": return false
            default: break
            }
        default: break
        }
        throw nullOr(mismatch(type))
    }

    private func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        let result: T?
        switch value {
        case .int(let v): result = T(exactly: v)
        case .uint(let v): result = T(exactly: v)
        case .text(let s): result = T(s)
        case .double(let v): result = T(exactly: v)
        default: result = nil
        }
        guard let result else { throw nullOr(mismatch(type)) }
        return result
    }

    private func nullOr(_ error: DecodingError) -> DecodingError {
        guard value == .null else { return error }
        return .valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "column '\(column)' is NULL"))
    }

    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        switch type {
        case is Data.Type, is [UInt8].Type:
            let bytes: [UInt8]
            switch value {
            case .blob(let b): bytes = b
            case .text(let s): bytes = Array(s.utf8)
            default: throw nullOr(mismatch(type))
            }
            return (type == Data.self ? Data(bytes) as! T : bytes as! T)
        case is UUID.Type:
            guard let uuid = UUID(uuidString: try decode(String.self)) else { throw mismatch(type) }
            return uuid as! T
        case is MariaDBValue.Type:
            return value as! T
        default:
            return try T(from: self)
        }
    }
}
