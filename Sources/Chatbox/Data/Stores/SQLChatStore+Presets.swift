import SQLKit

/// Users' presets: a name with a model, system prompt and temperature to start a chat with.
extension SQLChatStore: PresetStore {
    static let presetColumns = "id, user_id, name, model, system_prompt, temperature, created_at, updated_at"

    public func presets(userID: Int64) async throws -> [Preset] {
        try await db.raw(
            """
            SELECT \(unsafeRaw: Self.presetColumns) FROM presets WHERE user_id = \(bind: userID) ORDER BY name, id
            """
        ).all().map(Self.preset)
    }

    public func preset(id: Int64, userID: Int64) async throws -> Preset? {
        try await db.raw(
            """
            SELECT \(unsafeRaw: Self.presetColumns) FROM presets WHERE id = \(bind: id) AND user_id = \(bind: userID)
            """
        ).first().map(Self.preset)
    }

    public func createPreset(_ preset: Preset) async throws -> Preset {
        let now = Millis.now()
        var stored = preset
        stored.createdAt = now
        stored.updatedAt = now
        stored.id = try await insert(
            """
            INSERT INTO presets (user_id, name, model, system_prompt, temperature, created_at, updated_at) \
            VALUES (\(bind: preset.userID), \(bind: preset.name), \(bind: preset.model), \
            \(bind: preset.systemPrompt), \(bind: preset.temperature), \(bind: now), \(bind: now))
            """)
        return stored
    }

    public func updatePreset(_ preset: Preset) async throws -> Preset {
        // Not `changeOne`: MariaDB counts only rows whose values changed, and an unchanged save is no error.
        try await db.raw(
            """
            UPDATE presets SET name = \(bind: preset.name), model = \(bind: preset.model), \
            system_prompt = \(bind: preset.systemPrompt), temperature = \(bind: preset.temperature), \
            updated_at = \(bind: Millis.now()) WHERE id = \(bind: preset.id) AND user_id = \(bind: preset.userID)
            """
        ).run()
        guard let stored = try await self.preset(id: preset.id, userID: preset.userID) else {
            throw StoreError.notFound
        }
        return stored
    }

    public func deletePreset(id: Int64, userID: Int64) async throws {
        try await changeOne("DELETE FROM presets WHERE id = \(bind: id) AND user_id = \(bind: userID)")
    }

    static func preset(_ row: any SQLRow) throws -> Preset {
        Preset(
            id: try row.decode(column: "id", as: Int64.self),
            userID: try row.decode(column: "user_id", as: Int64.self),
            name: try row.decode(column: "name", as: String.self),
            model: try row.decode(column: "model", as: String?.self),
            systemPrompt: try row.decode(column: "system_prompt", as: String?.self),
            temperature: try row.decode(column: "temperature", as: Double?.self),
            createdAt: try row.decode(column: "created_at", as: Int64.self),
            updatedAt: try row.decode(column: "updated_at", as: Int64.self))
    }
}
