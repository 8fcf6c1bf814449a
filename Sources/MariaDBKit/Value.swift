import Foundation

/// A value sent as a bind parameter or read from a result column.
public enum MariaDBValue: Sendable, Equatable, CustomStringConvertible {
    case null
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case text(String)
    case blob([UInt8])

    public var description: String {
        switch self {
        case .null: "NULL"
        case .int(let v): "\(v)"
        case .uint(let v): "\(v)"
        case .double(let v): "\(v)"
        case .text(let s): "text(\(s.utf8.count) bytes)"
        case .blob(let b): "blob(\(b.count) bytes)"
        }
    }

    /// Converts a SQLKit bind. Supported: String, all fixed-width integers, Double,
    /// Float, Bool (as 0/1), Data and [UInt8] (as BLOB), UUID (as its string), nil/Optional.none (NULL),
    /// and any Encodable that encodes a single such value (String/Int-raw-value enums, wrappers).
    /// Date is refused on purpose: store timestamps as Int64 milliseconds.
    public init(bind value: any Encodable) throws(BindError) {
        switch value {
        case let v as String: self = .text(v)
        case let v as Int: self = .int(Int64(v))
        case let v as Int64: self = .int(v)
        case let v as Int32: self = .int(Int64(v))
        case let v as Int16: self = .int(Int64(v))
        case let v as Int8: self = .int(Int64(v))
        case let v as UInt: self = .uint(UInt64(v))
        case let v as UInt64: self = .uint(v)
        case let v as UInt32: self = .int(Int64(v))
        case let v as UInt16: self = .int(Int64(v))
        case let v as UInt8: self = .int(Int64(v))
        case let v as Bool: self = .int(v ? 1 : 0)
        case let v as Double: self = .double(v)
        case let v as Float: self = .double(Double(v))
        case let v as Data: self = .blob([UInt8](v))
        case let v as [UInt8]: self = .blob(v)
        case let v as UUID: self = .text(v.uuidString)
        case is Date:
            throw BindError(message: "cannot bind a Date to MySQL: store timestamps as Int64 milliseconds")
        default:
            let encoder = SingleValueCapture()
            do {
                try value.encode(to: encoder)
            } catch let error as BindError {
                throw error
            } catch {
                throw BindError(message: "cannot bind \(type(of: value)) to MySQL: \(error)")
            }
            guard let captured = encoder.value else {
                throw BindError(message: "cannot bind \(type(of: value)) to MySQL: it encoded no value")
            }
            self = captured
        }
    }

    /// A bind of an unsupported type.
    public struct BindError: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { message }
    }
}

/// An `Encoder` that accepts exactly one single value (what enums with raw values and simple wrappers encode)
/// and records it. Keyed and unkeyed containers are refused: a row value must be a single scalar.
private final class SingleValueCapture: Encoder, SingleValueEncodingContainer {
    var value: MariaDBValue?
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(RefusingKeyed<Key>())
    }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { RefusingUnkeyed() }
    func singleValueContainer() -> any SingleValueEncodingContainer { self }

    private func set(_ v: MariaDBValue) throws {
        guard value == nil else { throw MariaDBValue.BindError(message: "a bind must encode one value, not several") }
        value = v
    }
    func encodeNil() throws { try set(.null) }
    func encode(_ v: Bool) throws { try set(.int(v ? 1 : 0)) }
    func encode(_ v: String) throws { try set(.text(v)) }
    func encode(_ v: Double) throws { try set(.double(v)) }
    func encode(_ v: Float) throws { try set(.double(Double(v))) }
    func encode(_ v: Int) throws { try set(.int(Int64(v))) }
    func encode(_ v: Int8) throws { try set(.int(Int64(v))) }
    func encode(_ v: Int16) throws { try set(.int(Int64(v))) }
    func encode(_ v: Int32) throws { try set(.int(Int64(v))) }
    func encode(_ v: Int64) throws { try set(.int(v)) }
    func encode(_ v: UInt) throws { try set(.uint(UInt64(v))) }
    func encode(_ v: UInt8) throws { try set(.int(Int64(v))) }
    func encode(_ v: UInt16) throws { try set(.int(Int64(v))) }
    func encode(_ v: UInt32) throws { try set(.int(Int64(v))) }
    func encode(_ v: UInt64) throws { try set(.uint(v)) }
    func encode<T: Encodable>(_ v: T) throws {
        guard value == nil else { throw MariaDBValue.BindError(message: "a bind must encode one value, not several") }
        value = try MariaDBValue(bind: v)
    }
}

private struct RefusingKeyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
    var codingPath: [any CodingKey] { [] }
    private func refuse() -> MariaDBValue.BindError {
        MariaDBValue.BindError(message: "cannot bind a keyed (struct/dictionary) value to MySQL; encode it first")
    }
    mutating func encodeNil(forKey key: Key) throws { throw refuse() }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { throw refuse() }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    { KeyedEncodingContainer(RefusingKeyed<NestedKey>()) }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { RefusingUnkeyed() }
    mutating func superEncoder() -> any Encoder { SingleValueCapture() }
    mutating func superEncoder(forKey key: Key) -> any Encoder { SingleValueCapture() }
}

private struct RefusingUnkeyed: UnkeyedEncodingContainer {
    var codingPath: [any CodingKey] { [] }
    var count: Int { 0 }
    private func refuse() -> MariaDBValue.BindError {
        MariaDBValue.BindError(message: "cannot bind an array to MySQL (only [UInt8]/Data as BLOB); encode it first")
    }
    mutating func encodeNil() throws { throw refuse() }
    mutating func encode<T: Encodable>(_ value: T) throws { throw refuse() }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
        -> KeyedEncodingContainer<NestedKey>
    { KeyedEncodingContainer(RefusingKeyed<NestedKey>()) }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { RefusingUnkeyed() }
    mutating func superEncoder() -> any Encoder { SingleValueCapture() }
}
