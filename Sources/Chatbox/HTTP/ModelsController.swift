import Hummingbird

/// `GET /api/models`: the models any signed-in user may pick, and the default.
struct ModelsController {
    let catalog: ModelCatalog

    func addRoutes(to group: RouterGroup<AuthenticatedContext>) {
        group.get(use: list)
    }

    struct ModelDTO: Encodable {
        let id: String
        let name: String
        let connection: String
    }

    struct List: ResponseEncodable {
        let models: [ModelDTO]
        @NullWhenAbsent var defaultID: String?
        enum CodingKeys: String, CodingKey { case models, defaultID = "default" }
    }

    @Sendable func list(_ request: Request, context: AuthenticatedContext) async throws -> List {
        let visible = try await catalog.visibleModels()
        return List(
            models: visible.models.map { ModelDTO(id: $0.id, name: $0.name, connection: $0.connection) },
            defaultID: visible.defaultID)
    }
}
