import Hummingbird

/// `/healthz` and `/api/config`: what monitoring and the page need to know about the server.
struct SystemController {
    let system: SystemService
    let model: ModelInfo
    /// This instance's name (`CHATBOX_INSTANCE_ID`), in `/healthz`.
    let instanceID: String

    /// The chat model as the page may show it.
    struct ModelInfo: Sendable {
        let name: String
        let isDemo: Bool
        /// The operator's own program: its name is shown only to signed-in users.
        let isCommand: Bool
    }

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("healthz", use: health)
        router.get("api/config", use: config)
    }

    struct Health: ResponseEncodable {
        let status: String
        let instance: String
        /// The full-text index message search uses: fts5, mroonga, ngram, trigram_table or like.
        let search: String
    }

    struct Config: ResponseEncodable {
        struct Model: Encodable {
            let name: String
            let isDemo: Bool
            enum CodingKeys: String, CodingKey { case name, isDemo = "is_demo" }
        }
        let model: Model
        let registrationOpen: Bool
        let version: String
        enum CodingKeys: String, CodingKey { case model, registrationOpen = "registration_open", version }
    }

    @Sendable func health(_ request: Request, context: AppRequestContext) async throws -> Response {
        do {
            try await system.checkHealth()
            return try Health(status: "ok", instance: instanceID, search: system.searchIndex).response(
                from: request, context: context)
        } catch {
            context.logger.warning("health check: database unavailable: \(error)")
            throw HTTPError(.serviceUnavailable, message: "The database is unavailable.")
        }
    }

    @Sendable func config(_ request: Request, context: AppRequestContext) async throws -> Config {
        let name = model.isCommand && context.auth == nil ? "command" : model.name
        return Config(
            model: .init(name: name, isDemo: model.isDemo), registrationOpen: try await system.registrationOpen(),
            version: ChatboxInfo.version)
    }
}

public enum ChatboxInfo {
    public static let version = "0.1.0"
}
