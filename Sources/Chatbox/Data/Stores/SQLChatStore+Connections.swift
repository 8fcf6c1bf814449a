import Foundation
import SQLKit

/// The admin's model connections. Extra headers are kept as a JSON object's text, manual model ids as a JSON
/// array's text.
extension SQLChatStore: ConnectionStore {
    static let connectionColumns =
        "id, name, kind, base_url, api_key, headers, command, models, created_at, updated_at"

    public func connections() async throws -> [ModelConnection] {
        try await db.raw("SELECT \(unsafeRaw: Self.connectionColumns) FROM connections ORDER BY id").all()
            .map(Self.connection)
    }

    public func connection(id: Int64) async throws -> ModelConnection? {
        try await db.raw("SELECT \(unsafeRaw: Self.connectionColumns) FROM connections WHERE id = \(bind: id)")
            .first().map(Self.connection)
    }

    public func createConnection(_ connection: ModelConnection) async throws -> ModelConnection {
        let now = Millis.now()
        var stored = connection
        stored.createdAt = now
        stored.updatedAt = now
        stored.id = try await mapDuplicate {
            try await insert(
                """
                INSERT INTO connections (name, kind, base_url, api_key, headers, command, models, created_at, \
                updated_at) VALUES (\(bind: connection.name), \(bind: connection.kind.rawValue), \
                \(bind: connection.baseURL), \(bind: connection.apiKey), \
                \(bind: Self.headersJSON(connection.headers)), \(bind: connection.command), \
                \(bind: Self.modelsJSON(connection.manualModels)), \(bind: now), \(bind: now))
                """)
        }
        return stored
    }

    public func updateConnection(_ connection: ModelConnection) async throws -> ModelConnection {
        try await mapDuplicate {
            // Not `changeOne`: MariaDB counts only rows whose values changed, and an unchanged save is no error.
            try await db.raw(
                """
                UPDATE connections SET name = \(bind: connection.name), kind = \(bind: connection.kind.rawValue), \
                base_url = \(bind: connection.baseURL), api_key = \(bind: connection.apiKey), \
                headers = \(bind: Self.headersJSON(connection.headers)), command = \(bind: connection.command), \
                models = \(bind: Self.modelsJSON(connection.manualModels)), updated_at = \(bind: Millis.now()) \
                WHERE id = \(bind: connection.id)
                """
            ).run()
        }
        guard let stored = try await self.connection(id: connection.id) else { throw StoreError.notFound }
        return stored
    }

    public func deleteConnection(id: Int64) async throws {
        try await changeOne("DELETE FROM connections WHERE id = \(bind: id)")
    }

    static func connection(_ row: any SQLRow) throws -> ModelConnection {
        let kind = try row.decode(column: "kind", as: String.self)
        return ModelConnection(
            id: try row.decode(column: "id", as: Int64.self),
            name: try row.decode(column: "name", as: String.self),
            kind: ModelConnection.Kind(rawValue: kind) ?? .openaiCompatible,
            baseURL: try row.decode(column: "base_url", as: String?.self),
            apiKey: try row.decode(column: "api_key", as: String?.self),
            headers: headers(fromJSON: try row.decode(column: "headers", as: String.self)),
            command: try row.decode(column: "command", as: String?.self),
            manualModels: models(fromJSON: try row.decode(column: "models", as: String.self)),
            createdAt: try row.decode(column: "created_at", as: Int64.self),
            updatedAt: try row.decode(column: "updated_at", as: Int64.self))
    }

    /// `{"Name":"value",…}` in the connection's order.
    static func headersJSON(_ headers: [ModelConnection.Header]) -> String {
        let encoder = JSONEncoder()
        func quoted(_ text: String) -> String {
            (try? encoder.encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
        }
        return "{" + headers.map { quoted($0.name) + ":" + quoted($0.value) }.joined(separator: ",") + "}"
    }

    /// The headers of a stored JSON object, by name (an object keeps no order); nothing when it cannot be read.
    static func headers(fromJSON text: String) -> [ModelConnection.Header] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            return []
        }
        return object.compactMap { name, value in (value as? String).map { .init(name: name, value: $0) } }
            .sorted { $0.name.lowercased() < $1.name.lowercased() }
    }

    static func modelsJSON(_ models: [String]) -> String {
        (try? JSONEncoder().encode(models)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
    }

    static func models(fromJSON text: String) -> [String] {
        (try? JSONDecoder().decode([String].self, from: Data(text.utf8))) ?? []
    }
}
