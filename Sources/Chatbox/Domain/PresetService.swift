import Foundation

/// A signed-in user's presets: saved chat settings (model, system prompt, temperature) under a name. Another
/// user's preset is simply not found; a preset may only name a model users can pick now.
public struct PresetService: Sendable {
    let store: any PresetStore
    let models: any ModelDirectory

    public static let nameMaxCharacters = 100

    public init(store: any PresetStore, models: any ModelDirectory) {
        self.store = store
        self.models = models
    }

    /// What a preset holds besides its name: what a conversation can set (nil: nothing set, the conversation's
    /// defaults apply).
    public typealias Settings = ChatSettings

    /// The user's presets, by name.
    public func list(userID: Int64) async throws -> [Preset] {
        try await store.presets(userID: userID)
    }

    public func create(userID: Int64, name: String, settings: Settings) async throws -> Preset {
        var preset = Preset(userID: userID, name: try Self.checkedName(name))
        try await apply(
            model: settings.model, systemPrompt: settings.systemPrompt, temperature: settings.temperature,
            to: &preset)
        return try await store.createPreset(preset)
    }

    /// Changes a preset: nil keeps a field, `.some(nil)` clears it.
    public func update(
        id: Int64, userID: Int64, name: String?, model: String??, systemPrompt: String??, temperature: Double??
    ) async throws -> Preset {
        guard var preset = try await store.preset(id: id, userID: userID) else { throw NotFound("Preset") }
        if let name { preset.name = try Self.checkedName(name) }
        try await apply(
            model: model ?? preset.model, systemPrompt: systemPrompt ?? preset.systemPrompt,
            temperature: temperature ?? preset.temperature, to: &preset, checkingModel: model != nil)
        do { return try await store.updatePreset(preset) } catch StoreError.notFound { throw NotFound("Preset") }
    }

    public func delete(id: Int64, userID: Int64) async throws {
        do { try await store.deletePreset(id: id, userID: userID) } catch StoreError.notFound {
            throw NotFound("Preset")
        }
    }

    private func apply(
        model: String?, systemPrompt: String?, temperature: Double?, to preset: inout Preset,
        checkingModel: Bool = true
    ) async throws {
        if let model, !model.isEmpty, checkingModel {
            _ = try Rules.modelID(model)
            if !(await models.isAvailable(model)) { throw ValidationError("The model \(model) is not available.") }
        }
        if let systemPrompt { _ = try Rules.systemPrompt(systemPrompt) }
        if let temperature { _ = try Rules.temperature(temperature) }
        preset.model = model.flatMap { $0.isEmpty ? nil : $0 }
        preset.systemPrompt = systemPrompt.flatMap { $0.isEmpty ? nil : $0 }
        preset.temperature = temperature
    }

    private static func checkedName(_ raw: String) throws -> String {
        try Rules.noNUL(raw, field: "name")
        let name = Rules.oneLine(raw)
        guard !name.isEmpty else { throw ValidationError("Name must not be empty.") }
        guard name.count <= nameMaxCharacters else {
            throw ValidationError("Name must be at most \(nameMaxCharacters) characters.")
        }
        return name
    }
}
