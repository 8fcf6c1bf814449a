import Foundation
import SQLKit

/// The MySQL/MariaDB SQL dialect for SQLKit (sql-kit ships none).
///
/// Column types: SQLKit's `.text` becomes `VARCHAR(255)` (MySQL cannot index, key or default a TEXT column
/// without a prefix length), `.real` becomes `DOUBLE`, `.blob` stays `BLOB` (64 KB). For long text or data
/// use `SQLDataType.mediumText` / `.longText` / `.mediumBlob` (SQLite reads those names as TEXT/BLOB too, so the
/// same schema code runs on both).
public struct MySQLDialect: SQLDialect {
    public init() {}

    public var name: String { "mysql" }
    public var identifierQuote: any SQLExpression { SQLRaw("`") }
    public var literalStringQuote: any SQLExpression { SQLRaw("'") }
    public var supportsAutoIncrement: Bool { true }
    public var autoIncrementClause: any SQLExpression { SQLRaw("AUTO_INCREMENT") }
    public func bindPlaceholder(at position: Int) -> any SQLExpression { SQLRaw("?") }
    public func literalBoolean(_ value: Bool) -> any SQLExpression { SQLRaw(value ? "1" : "0") }
    public var supportsIfExists: Bool { true }
    public var enumSyntax: SQLEnumSyntax { .inline }
    public var supportsDropBehavior: Bool { true }
    /// MariaDB 10.5+ has INSERT/DELETE … RETURNING but not UPDATE … RETURNING, MySQL has none: read
    /// `SELECT LAST_INSERT_ID()` in the same session/transaction instead.
    public var supportsReturning: Bool { false }
    public var upsertSyntax: SQLUpsertSyntax { .mysqlLike }
    public var alterTableSyntax: SQLAlterTableSyntax {
        .init(alterColumnDefinitionClause: SQLRaw("MODIFY COLUMN"), allowsBatch: false)
    }
    public var unionFeatures: SQLUnionFeatures {
        [.union, .unionAll, .intersect, .intersectAll, .except, .exceptAll, .explicitDistinct, .parenthesizedSubqueries]
    }
    public var sharedSelectLockExpression: (any SQLExpression)? { SQLRaw("LOCK IN SHARE MODE") }
    public var exclusiveSelectLockExpression: (any SQLExpression)? { SQLRaw("FOR UPDATE") }

    public func customDataType(for dataType: SQLDataType) -> (any SQLExpression)? {
        switch dataType {
        case .text: SQLRaw("VARCHAR(255)")
        case .real: SQLRaw("DOUBLE")
        default: nil
        }
    }

    /// MySQL identifiers are at most 64 characters: longer generated constraint names are shortened to
    /// 47 characters + `_` + a 16-digit hash, so they stay unique and stable.
    public func normalizeSQLConstraint(identifier: any SQLExpression) -> any SQLExpression {
        guard let id = identifier as? SQLIdentifier, id.string.utf8.count > 64 else { return identifier }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a, 64-bit
        for byte in id.string.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        let hex = String(hash, radix: 16)
        let padded = String(repeating: "0", count: 16 - hex.count) + hex
        return SQLIdentifier(String(id.string.prefix(47)) + "_" + padded)
    }

    /// `JSON_EXTRACT(column, '$.a.b')`.
    public func nestedSubpathExpression(in column: any SQLExpression, for path: [String]) -> (any SQLExpression)? {
        guard !path.isEmpty else { return nil }
        let jsonPath =
            "$."
            + path.map { "\"\($0.replacingOccurrences(of: "\"", with: "\\\""))\"" }
            .joined(separator: ".")
        return SQLFunction("JSON_EXTRACT", args: column, SQLLiteral.string(jsonPath))
    }
}

extension SQLDataType {
    /// `MEDIUMTEXT` (16 MB) on MySQL; TEXT affinity on SQLite.
    public static var mediumText: SQLDataType { .custom(SQLRaw("MEDIUMTEXT")) }
    /// `LONGTEXT` (4 GB) on MySQL; TEXT affinity on SQLite.
    public static var longText: SQLDataType { .custom(SQLRaw("LONGTEXT")) }
    /// `MEDIUMBLOB` (16 MB) on MySQL; BLOB affinity on SQLite.
    public static var mediumBlob: SQLDataType { .custom(SQLRaw("MEDIUMBLOB")) }
}
