import Foundation

/// Why an admin's change of connections was refused.
public enum ConnectionError: Error, Equatable, UserFacingError {
    case readOnly
    case nameTaken(String)
    case notFound

    public var kind: ErrorKind {
        switch self {
        case .readOnly, .nameTaken: .conflict
        case .notFound: .notFound
        }
    }

    public var message: String {
        switch self {
        case .readOnly:
            "The start-up connection comes from the server's CHATBOX_LLM_* settings; change those to change it."
        case .nameTaken(let name): "A connection named \"\(name)\" already exists."
        case .notFound: "Connection not found."
        }
    }
}

/// An admin's connection as the admin page shows it: the connection (whose key is never shown), its models
/// (fetched and manual), the last listing error and when the list was last fetched.
public struct ConnectionView: Sendable {
    public let connection: ModelConnection
    public let models: [String]
    public let error: String?
    public let refreshedAt: Millis?
    public var readOnly: Bool { connection.id == ModelCatalog.startupID }
}

/// What an admin sends to add or change a connection; nil keeps what is there (on a new one: nothing).
/// `apiKey: ""` clears the key; `baseURL: ""` and `command: ""` clear those.
public struct ConnectionChanges: Sendable {
    public var name: String?
    public var kind: String?
    public var baseURL: String?
    public var apiKey: String?
    public var headers: [ModelConnection.Header]?
    public var command: String?
    public var models: [String]?

    public init(
        name: String? = nil, kind: String? = nil, baseURL: String? = nil, apiKey: String? = nil,
        headers: [ModelConnection.Header]? = nil, command: String? = nil, models: [String]? = nil
    ) {
        self.name = name
        self.kind = kind
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.headers = headers
        self.command = command
        self.models = models
    }
}

/// Every model with whether it is hidden, and the admin's default and title models as set.
public struct ModelChoices: Sendable {
    public let models: [(model: CatalogModel, hidden: Bool)]
    public let defaultModel: String?
    public let titleModel: String?
}

/// The admin's side: connections and the choices about models.
extension ModelCatalog {
    public static let nameMaxCharacters = 64
    public static let maxManualModels = 500
    public static let maxHeaders = 50

    /// Every connection as the admin sees it, the start-up one first.
    public func connectionViews() async throws -> [ConnectionView] {
        let connections = try await allConnections()
        await ensureLists(connections)
        return connections.map(view)
    }

    public func connectionView(id: Int64) async throws -> ConnectionView {
        guard let connection = try await connection(id: id) else { throw ConnectionError.notFound }
        await ensureLists([connection])
        return view(connection)
    }

    public func createConnection(_ changes: ConnectionChanges) async throws -> ConnectionView {
        var connection = ModelConnection(name: "", kind: .demo)
        try apply(changes, to: &connection, creating: true)
        try await checkNameFree(connection.name, except: nil)
        let created = try await mapStoreErrors(name: connection.name) {
            try await store.createConnection(connection)
        }
        stored = try await storedConnections().filter { $0.id != created.id } + [created]
        await announceChange()
        logger.info("connection added", metadata: ["connection": "\(created.name)"])
        return try await connectionView(id: created.id)
    }

    public func updateConnection(id: Int64, _ changes: ConnectionChanges) async throws -> ConnectionView {
        if id == Self.startupID { throw ConnectionError.readOnly }
        guard var connection = try await storedConnections().first(where: { $0.id == id }) else {
            throw ConnectionError.notFound
        }
        try apply(changes, to: &connection, creating: false)
        try await checkNameFree(connection.name, except: id)
        let updated = try await mapStoreErrors(name: connection.name) {
            try await store.updateConnection(connection)
        }
        stored = try await storedConnections().map { $0.id == id ? updated : $0 }
        forgetList(id)
        await announceChange()
        logger.info("connection changed", metadata: ["connection": "\(updated.name)"])
        return try await connectionView(id: id)
    }

    public func deleteConnection(id: Int64) async throws {
        if id == Self.startupID { throw ConnectionError.readOnly }
        let name = try await storedConnections().first { $0.id == id }?.name
        try await mapStoreErrors(name: "") { try await store.deleteConnection(id: id) }
        stored = try await storedConnections().filter { $0.id != id }
        forgetList(id)
        await announceChange()
        logger.info("connection deleted", metadata: ["connection": "\(name ?? String(id))"])
    }

    /// Fetches the connection's list again now; a failure is recorded on the connection, not thrown.
    public func refresh(id: Int64) async throws -> ConnectionView {
        guard let connection = try await connection(id: id) else { throw ConnectionError.notFound }
        await fetchList(connection).value
        return view(connection)
    }

    /// Every model (hidden ones too) and the admin's choices.
    public func modelChoices() async throws -> ModelChoices {
        let all = try await allModels()
        let choices = try await loadedChoices()
        let hidden = Set(choices.hidden)
        return ModelChoices(
            models: all.map { ($0, hidden.contains($0.id)) }, defaultModel: choices.defaultModel,
            titleModel: choices.titleModel)
    }

    /// Changes the admin's choices: for `defaultModel` and `titleModel`, nil keeps and `.some(nil)` clears; an id
    /// no connection offers is refused. `hidden` replaces the hidden ids.
    public func setModelChoices(defaultModel: String??, titleModel: String??, hidden: [String]?) async throws
        -> ModelChoices
    {
        let ids = Set(try await allModels().map(\.id))
        for case let id?? in [defaultModel, titleModel] where !ids.contains(id) {
            throw ValidationError("The model \(id) is not available.")
        }
        var choices = try await loadedChoices()
        if let hidden {
            var seen = Set<String>()
            let unique = hidden.filter { seen.insert($0).inserted }
            try await store.setSetting(
                Self.hiddenModelsSetting, value: String(decoding: try JSONEncoder().encode(unique), as: UTF8.self))
            choices.hidden = unique
        }
        if let defaultModel {
            try await store.setSetting(Self.defaultModelSetting, value: defaultModel ?? "")
            choices.defaultModel = defaultModel
        }
        if let titleModel {
            try await store.setSetting(Self.titleModelSetting, value: titleModel ?? "")
            choices.titleModel = titleModel
        }
        self.choices = choices
        await announceChange()
        return try await modelChoices()
    }

    // MARK: helpers

    func view(_ connection: ModelConnection) -> ConnectionView {
        let listing = lists[connection.id]
        return ConnectionView(
            connection: connection, models: modelNames(of: connection), error: listing?.error,
            refreshedAt: listing?.refreshedAt)
    }

    private func checkNameFree(_ name: String, except id: Int64?) async throws {
        let key = name.lowercased()
        if try await allConnections().contains(where: { $0.id != id && $0.name.lowercased() == key }) {
            throw ConnectionError.nameTaken(name)
        }
    }

    private func mapStoreErrors<T>(name: String, _ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch StoreError.duplicate {
            throw ConnectionError.nameTaken(name)
        } catch StoreError.notFound { throw ConnectionError.notFound }
    }

    /// Checks and applies an admin's changes; a new connection must name everything its kind needs.
    private func apply(_ changes: ConnectionChanges, to connection: inout ModelConnection, creating: Bool) throws {
        if let name = changes.name {
            try Rules.noNUL(name, field: "name")
            let clean = Rules.oneLine(name)
            guard !clean.isEmpty else { throw ValidationError("Name must not be empty.") }
            guard clean.count <= Self.nameMaxCharacters else {
                throw ValidationError("Name must be at most \(Self.nameMaxCharacters) characters.")
            }
            connection.name = clean
        } else if creating {
            throw ValidationError("Name is required.")
        }
        if let kind = changes.kind {
            switch kind.trimmingCharacters(in: .whitespaces).lowercased() {
            case "openai_compatible", "openai": connection.kind = .openaiCompatible
            case "command": connection.kind = .command
            case "demo": connection.kind = .demo
            default: throw ValidationError("Kind must be openai_compatible, command or demo (not \"\(kind)\").")
            }
        } else if creating {
            throw ValidationError("Kind is required: openai_compatible, command or demo.")
        }
        if let baseURL = changes.baseURL {
            let trimmed = baseURL.trimmingCharacters(in: .whitespacesAndNewlines)
            connection.baseURL = trimmed.isEmpty ? nil : try Self.checkedBaseURL(trimmed)
        }
        if let apiKey = changes.apiKey {
            let trimmed = apiKey.trimmingCharacters(in: .whitespacesAndNewlines)
            guard trimmed.count <= 4096,
                !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else { throw ValidationError("The API key must be one line of at most 4096 characters.") }
            connection.apiKey = trimmed.isEmpty ? nil : trimmed
        }
        if let headers = changes.headers { connection.headers = try Self.checkedHeaders(headers) }
        if let command = changes.command {
            try Rules.noNUL(command, field: "command")
            let trimmed = command.trimmingCharacters(in: .whitespacesAndNewlines)
            guard trimmed.count <= 4096 else { throw ValidationError("The command must be at most 4096 characters.") }
            connection.command = trimmed.isEmpty ? nil : trimmed
        }
        if let models = changes.models { connection.manualModels = try Self.checkedModelIDs(models) }
        switch connection.kind {
        case .openaiCompatible where connection.baseURL == nil:
            throw ValidationError("An OpenAI-compatible connection needs a base URL (http or https).")
        case .command where connection.command == nil:
            throw ValidationError("A command connection needs a command.")
        default: break
        }
    }

    static func checkedBaseURL(_ text: String) throws -> String {
        guard text.count <= 2000, let components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = components.host, !host.isEmpty
        else { throw ValidationError("The base URL must be an http or https URL, e.g. https://api.deepseek.com/v1.") }
        return text
    }

    static func checkedHeaders(_ headers: [ModelConnection.Header]) throws -> [ModelConnection.Header] {
        guard headers.count <= maxHeaders else { throw ValidationError("At most \(maxHeaders) extra headers.") }
        let token = CharacterSet(
            charactersIn: "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        return try headers.map { header in
            let name = header.name.trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, name.count <= 100, name.unicodeScalars.allSatisfy(token.contains) else {
                throw ValidationError("\"\(header.name)\" is not a valid HTTP header name.")
            }
            let value = header.value.trimmingCharacters(in: .whitespaces)
            guard value.count <= 4096,
                !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else { throw ValidationError("The value of header \(name) must be one line of at most 4096 characters.") }
            return .init(name: name, value: value)
        }.sorted { $0.name.lowercased() < $1.name.lowercased() }
    }

    static func checkedModelIDs(_ ids: [String]) throws -> [String] {
        guard ids.count <= maxManualModels else { throw ValidationError("At most \(maxManualModels) model ids.") }
        var seen = Set<String>()
        return try ids.map { id in
            let clean = id.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !clean.isEmpty, clean.count <= 200,
                !clean.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else { throw ValidationError("Model ids must be one line of 1 to 200 characters.") }
            return clean
        }.filter { seen.insert($0).inserted }
    }
}
