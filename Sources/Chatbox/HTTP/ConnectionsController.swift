import Hummingbird

/// `/api/admin/connections` and `/api/admin/models`: the admin's model connections and choices about models, for
/// admins only (403 for others, 401 signed out). No response ever carries an API key (`api_key_set` says whether
/// one is set).
struct ConnectionsController {
    let catalog: ModelCatalog
    let body: JSONBody

    func addRoutes(to group: RouterGroup<AuthenticatedContext>) {
        group.add(middleware: AdminOnlyMiddleware())
            .get("connections", use: list)
            .post("connections", use: create)
            .patch("connections/:id", use: update)
            .delete("connections/:id", use: delete)
            .post("connections/:id/refresh", use: refresh)
            .get("models", use: models)
            .patch("models", use: updateModels)
    }

    struct ConnectionDTO: ResponseEncodable {
        let id: Int64
        let name: String
        let kind: String
        @NullWhenAbsent var baseURL: String?
        @NullWhenAbsent var command: String?
        let headers: [String: String]
        let apiKeySet: Bool
        let models: [String]
        let manualModels: [String]
        let readOnly: Bool
        @NullWhenAbsent var error: String?
        @NullWhenAbsent var refreshedAt: String?

        init(_ view: ConnectionView) {
            let connection = view.connection
            id = connection.id
            name = connection.name
            kind = connection.kind.rawValue
            baseURL = connection.baseURL
            command = connection.command
            headers = Dictionary(connection.headers.map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last })
            apiKeySet = !(connection.apiKey ?? "").isEmpty
            models = view.models
            manualModels = connection.manualModels
            readOnly = view.readOnly
            error = view.error
            refreshedAt = view.refreshedAt?.iso8601
        }

        enum CodingKeys: String, CodingKey {
            case id, name, kind, baseURL = "base_url", command, headers, apiKeySet = "api_key_set", models
            case manualModels = "manual_models", readOnly = "read_only", error, refreshedAt = "refreshed_at"
        }
    }

    struct List: ResponseEncodable {
        let connections: [ConnectionDTO]
    }

    /// The fields of a new connection or of a change (all optional on a change). Read with the Swift names: the
    /// request decoder converts snake_case keys.
    struct Input: Decodable {
        let name: String?
        let kind: String?
        let baseUrl: String?
        let apiKey: String?
        let headers: [String: String]?
        let command: String?
        let models: [String]?

        var changes: ConnectionChanges {
            ConnectionChanges(
                name: name, kind: kind, baseURL: baseUrl, apiKey: apiKey,
                headers: headers.map { $0.map { ModelConnection.Header(name: $0.key, value: $0.value) } },
                command: command, models: models)
        }
    }

    struct AdminModelDTO: Encodable {
        let id: String
        let name: String
        let connection: String
        let hidden: Bool
    }

    struct Models: ResponseEncodable {
        let models: [AdminModelDTO]
        @NullWhenAbsent var defaultModel: String?
        @NullWhenAbsent var titleModel: String?

        init(_ choices: ModelChoices) {
            models = choices.models.map {
                AdminModelDTO(id: $0.model.id, name: $0.model.name, connection: $0.model.connection, hidden: $0.hidden)
            }
            defaultModel = choices.defaultModel
            titleModel = choices.titleModel
        }

        enum CodingKeys: String, CodingKey { case models, defaultModel = "default_model", titleModel = "title_model" }
    }

    /// `{"default_model"?: id|null, "title_model"?: id|null, "hidden"?: [id]}`: absent keeps, null clears.
    struct ModelsUpdate: Decodable {
        var defaultModel: String??
        var titleModel: String??
        var hidden: [String]?

        enum CodingKeys: String, CodingKey { case defaultModel, titleModel, hidden }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            defaultModel = try container.decodePresence(String.self, forKey: .defaultModel)
            titleModel = try container.decodePresence(String.self, forKey: .titleModel)
            hidden = try container.decodeIfPresent([String].self, forKey: .hidden)
        }
    }

    @Sendable func list(_ request: Request, context: AuthenticatedContext) async throws -> List {
        List(connections: try await catalog.connectionViews().map(ConnectionDTO.init))
    }

    @Sendable func create(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let input = try await body.decode(Input.self, from: request)
        return try ConnectionDTO(try await catalog.createConnection(input.changes))
            .created(from: request, context: context)
    }

    @Sendable func update(_ request: Request, context: AuthenticatedContext) async throws -> ConnectionDTO {
        let id = try Self.connectionID(context)
        let input = try await body.decode(Input.self, from: request)
        return ConnectionDTO(try await catalog.updateConnection(id: id, input.changes))
    }

    @Sendable func delete(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        try await catalog.deleteConnection(id: try Self.connectionID(context))
        return .noContent
    }

    @Sendable func refresh(_ request: Request, context: AuthenticatedContext) async throws -> ConnectionDTO {
        ConnectionDTO(try await catalog.refresh(id: try Self.connectionID(context)))
    }

    @Sendable func models(_ request: Request, context: AuthenticatedContext) async throws -> Models {
        Models(try await catalog.modelChoices())
    }

    @Sendable func updateModels(_ request: Request, context: AuthenticatedContext) async throws -> Models {
        let input = try await body.decode(ModelsUpdate.self, from: request)
        return Models(
            try await catalog.setModelChoices(
                defaultModel: input.defaultModel, titleModel: input.titleModel, hidden: input.hidden))
    }

    /// `{id}` of a connection: a whole number from 0 (the start-up connection), else 404.
    static func connectionID(_ context: AuthenticatedContext) throws -> Int64 {
        guard let text = context.parameters.get("id"), let id = Int64(text), id >= 0 else {
            throw NotFound("Connection")
        }
        return id
    }
}

extension KeyedDecodingContainer {
    /// A field that may be absent (nil: keep), null (`.some(nil)`: clear) or a value.
    func decodePresence<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T?? {
        guard contains(key) else { return nil }
        if try decodeNil(forKey: key) { return .some(nil) }
        return .some(try decode(T.self, forKey: key))
    }
}
