import Hummingbird

/// `/api/presets` CRUD for the signed-in user; another user's preset is a 404.
struct PresetsController {
    let presets: PresetService
    let body: JSONBody

    func addRoutes(to group: RouterGroup<AuthenticatedContext>) {
        group.get(use: list)
            .post(use: create)
            .patch(":id", use: update)
            .delete(":id", use: delete)
    }

    struct PresetDTO: ResponseEncodable {
        let id: Int64
        let name: String
        @NullWhenAbsent var model: String?
        @NullWhenAbsent var systemPrompt: String?
        @NullWhenAbsent var temperature: Double?
        let createdAt: String

        init(_ preset: Preset) {
            id = preset.id
            name = preset.name
            model = preset.model
            systemPrompt = preset.systemPrompt
            temperature = preset.temperature
            createdAt = preset.createdAt.iso8601
        }

        enum CodingKeys: String, CodingKey {
            case id, name, model, systemPrompt = "system_prompt", temperature, createdAt = "created_at"
        }
    }

    struct List: ResponseEncodable {
        let presets: [PresetDTO]
    }

    struct NewPreset: Decodable {
        let name: String
        let model: String?
        let systemPrompt: String?
        let temperature: Double?
    }

    /// Absent keeps a field, null clears it.
    struct Change: Decodable {
        var name: String?
        var model: String??
        var systemPrompt: String??
        var temperature: Double??

        enum CodingKeys: String, CodingKey { case name, model, systemPrompt, temperature }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decodeIfPresent(String.self, forKey: .name)
            model = try container.decodePresence(String.self, forKey: .model)
            systemPrompt = try container.decodePresence(String.self, forKey: .systemPrompt)
            temperature = try container.decodePresence(Double.self, forKey: .temperature)
        }
    }

    @Sendable func list(_ request: Request, context: AuthenticatedContext) async throws -> List {
        List(presets: try await presets.list(userID: context.user.id).map(PresetDTO.init))
    }

    @Sendable func create(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let input = try await body.decode(NewPreset.self, from: request)
        let preset = try await presets.create(
            userID: context.user.id, name: input.name,
            settings: .init(model: input.model, systemPrompt: input.systemPrompt, temperature: input.temperature))
        return try PresetDTO(preset).created(from: request, context: context)
    }

    @Sendable func update(_ request: Request, context: AuthenticatedContext) async throws -> PresetDTO {
        let id = try pathID(context, of: "Preset")
        let input = try await body.decode(Change.self, from: request)
        return PresetDTO(
            try await presets.update(
                id: id, userID: context.user.id, name: input.name, model: input.model,
                systemPrompt: input.systemPrompt, temperature: input.temperature))
    }

    @Sendable func delete(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        try await presets.delete(id: try pathID(context, of: "Preset"), userID: context.user.id)
        return .noContent
    }
}
