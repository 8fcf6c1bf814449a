import Foundation
import Logging

/// One model users may pick: its id (unique across connections), the provider's name for it, and its connection.
public struct CatalogModel: Sendable, Equatable {
    public let id: String
    /// The provider's own model id (what is sent to it).
    public let name: String
    public let connectionID: Int64
    /// The connection's name.
    public let connection: String
}

/// Every model on offer, over the admin's connections and the one from the start-up settings.
///
/// - The start-up connection (id 0, read-only) comes from `ModelSettings`: a command, an OpenAI-compatible
///   endpoint (its configured model plus whatever its `/models` lists), or the demo. It is listed first.
/// - Each connection's model list is fetched lazily on first need and kept in memory: again when the admin asks
///   (`refresh`), and in the background once it is older than `listLifetime`. A failed fetch keeps the last good
///   list and records the error's sentence for the admin page. Manual model ids are always offered.
/// - Model ids are unique: the provider's id as is, or `"{connection name}/{model}"` when an earlier connection
///   (lower id) already has that id.
/// - The admin's choices (default model, title model, hidden models) are settings (`default_model`,
///   `title_model`, `hidden_models` as a JSON array).
/// - Several instances on one database: every change of connections or choices writes a new `catalog_version`
///   setting, and each catalog reads that setting in the background as it serves from its cache (one primary-key
///   read, at most every `versionCheckInterval`, 2 s by default); when it changed, the connections and choices are
///   read again and the lists of the connections that changed are forgotten. Another instance's change is thus
///   seen within that interval (plus the read itself). A list fetched again by another instance (`refresh`) is not
///   a change: each instance fetches its own lists, again after `listLifetime`.
///
/// API keys never leave the connections: no view carries them and log lines name the connection only.
public actor ModelCatalog: ModelDirectory {
    /// The start-up connection's id.
    public static let startupID: Int64 = 0
    /// A fetched model list is fetched again in the background after this long.
    public static let listLifetime: Duration = .seconds(600)
    /// The setting every instance's change of connections or choices renews (a random token).
    static let versionSetting = "catalog_version"

    let store: any ConnectionStore & SettingsStore
    let connector: ModelConnector
    /// The connection from the `CHATBOX_LLM_*` settings.
    public let startup: ModelConnection
    /// The title model of the `CHATBOX_LLM_TITLE_*` settings, used when the admin chose none.
    let startupTitleModel: (any ChatModel)?
    let logger: Logger

    /// The stored connections, oldest first; nil until first read.
    var stored: [ModelConnection]?
    var lists: [Int64: Listing] = [:]
    /// Fetches under way, by connection; a result is kept only when its token is still the current one (a change
    /// of the connection meanwhile makes it stale).
    var fetches: [Int64: (token: Int, task: Task<Void, Never>)] = [:]
    var nextToken = 0
    /// Models made for turns (see `chatModel(for:)`), at most `madeModelsKept`.
    var made: [MadeModel.Key: MadeModel] = [:]
    static let madeModelsKept = 256
    /// The admin's choices; nil until first read.
    var choices: Choices?
    /// How often at most the `catalog_version` setting is read.
    let versionCheckInterval: Duration
    /// The `catalog_version` the cache was read under (`.some(nil)`: none written yet); nil until first read.
    var knownVersion: String??
    var lastVersionCheck: ContinuousClock.Instant?

    /// What is known of one connection's own model list.
    struct Listing: Sendable {
        var models: [String] = []
        var error: String?
        var refreshedAt: Millis?
        var fetchedAt: ContinuousClock.Instant
    }

    /// A model made from a connection as it was then.
    struct MadeModel: Sendable {
        struct Key: Hashable {
            let connectionID: Int64
            let name: String
        }
        let connection: ModelConnection
        let model: any ChatModel
    }

    /// The admin's settings about models.
    struct Choices: Sendable {
        var defaultModel: String?
        var titleModel: String?
        var hidden: [String] = []
    }

    public init(
        settings: ModelSettings, store: any ConnectionStore & SettingsStore, httpClients: ModelHTTPClients,
        logger: Logger, versionCheckInterval: Duration = .seconds(2)
    ) {
        self.store = store
        self.logger = logger
        self.versionCheckInterval = versionCheckInterval
        self.connector = ModelConnector(
            httpClients: httpClients, logger: logger, commandEnvironment: settings.commandEnvironment,
            demoTokenDelay: settings.demoTokenDelay)
        self.startup = Self.startupConnection(settings)
        if settings.titleModel != nil || settings.titleBaseURL != nil,
            let baseURL = settings.titleBaseURL ?? settings.baseURL, let model = settings.titleModel ?? settings.model
        {
            startupTitleModel = OpenAICompatibleModel(
                baseURL: baseURL, apiKey: settings.titleAPIKey ?? settings.apiKey, model: model,
                extraHeaders: settings.headers, httpClients: httpClients, logger: logger)
        } else {
            startupTitleModel = nil
        }
    }

    /// The connection the start-up settings describe: a command (its one model named as today, e.g.
    /// `command: python3`), an OpenAI-compatible endpoint named by its host, or the demo.
    static func startupConnection(_ settings: ModelSettings) -> ModelConnection {
        if let command = settings.command {
            let name = CommandModel(command: command, environment: [:]).displayName
            return ModelConnection(id: startupID, name: name, kind: .command, command: command)
        }
        if let baseURL = settings.baseURL, let model = settings.model {
            let host = URLComponents(string: baseURL)?.host.flatMap { $0.isEmpty ? nil : $0 }
            return ModelConnection(
                id: startupID, name: host ?? "Server", kind: .openaiCompatible, baseURL: baseURL,
                apiKey: settings.apiKey, headers: settings.headers.map { .init(name: $0.0, value: $0.1) },
                manualModels: [model])
        }
        return ModelConnection(id: startupID, name: "Demo", kind: .demo)
    }

    // MARK: ModelDirectory

    public func chatModel(id: String?) async throws -> ResolvedModel {
        let visible = try await visibleModels()
        guard let id = id ?? visible.defaultID else { throw ChatError.noModel }
        guard let model = visible.models.first(where: { $0.id == id }) else { throw ChatError.modelUnavailable(id) }
        return ResolvedModel(id: model.id, model: try await chatModel(for: model))
    }

    public func isAvailable(_ id: String) async -> Bool {
        do { return try await visibleModels().models.contains { $0.id == id } } catch {
            logger.error("reading the model connections failed: \(error)")
            return false
        }
    }

    public func titleModel() async -> (any ChatModel)? {
        do {
            if let id = try await loadedChoices().titleModel,
                let model = try await visibleModels().models.first(where: { $0.id == id })
            {
                return try await chatModel(for: model)
            }
        } catch {
            logger.error("reading the title model failed: \(error)")
        }
        return startupTitleModel
    }

    public func defaultModelID() async -> String? {
        do { return try await visibleModels().defaultID } catch {
            logger.error("reading the model connections failed: \(error)")
            return nil
        }
    }

    // MARK: what users see

    /// The models users may pick (hidden ones left out), by connection then model, and the default: the admin's
    /// if visible, else the first, else nil.
    public func visibleModels() async throws -> (models: [CatalogModel], defaultID: String?) {
        let all = try await allModels()
        let choices = try await loadedChoices()
        let hidden = Set(choices.hidden)
        let visible = all.filter { !hidden.contains($0.id) }
        let defaultID = choices.defaultModel.flatMap { id in visible.contains { $0.id == id } ? id : nil }
        return (visible, defaultID ?? visible.first?.id)
    }

    /// Every model, hidden ones too, with unique ids.
    func allModels() async throws -> [CatalogModel] {
        let connections = try await allConnections()
        await ensureLists(connections)
        var taken = Set<String>()
        var models: [CatalogModel] = []
        for connection in connections {
            for name in modelNames(of: connection) {
                var id = name
                if taken.contains(id) { id = "\(connection.name)/\(name)" }
                guard taken.insert(id).inserted else { continue }
                models.append(
                    CatalogModel(id: id, name: name, connectionID: connection.id, connection: connection.name))
            }
        }
        return models
    }

    /// A connection's model names: its fetched list and its manual ids, each once, sorted.
    func modelNames(of connection: ModelConnection) -> [String] {
        Array(Set((lists[connection.id]?.models ?? []) + connection.manualModels)).sorted()
    }

    /// The start-up connection first, then the stored ones by id.
    func allConnections() async throws -> [ModelConnection] {
        [startup] + (try await storedConnections())
    }

    func storedConnections() async throws -> [ModelConnection] {
        await checkVersion()
        if let stored { return stored }
        let loaded = try await store.connections()
        if let stored { return stored }  // another caller loaded (and maybe changed) them meanwhile
        stored = loaded
        return loaded
    }

    func connection(id: Int64) async throws -> ModelConnection? {
        try await allConnections().first { $0.id == id }
    }

    /// The model, made once and kept while its connection is unchanged (making one parses its URL and gathers the
    /// secrets its errors hide: ~0.04 ms of a turn's start otherwise).
    private func chatModel(for model: CatalogModel) async throws -> any ChatModel {
        guard let connection = try await connection(id: model.connectionID) else {
            throw ChatError.modelUnavailable(model.id)
        }
        let key = MadeModel.Key(connectionID: connection.id, name: model.name)
        if let kept = made[key], kept.connection == connection { return kept.model }
        let new = connector.model(connection, name: model.name)
        if made.count >= Self.madeModelsKept { made.removeAll() }
        made[key] = MadeModel(connection: connection, model: new)
        return new
    }

    // MARK: model lists

    /// Fetches the lists never fetched (and waits for them) and, in the background, those older than
    /// `listLifetime`.
    func ensureLists(_ connections: [ModelConnection]) async {
        var waiting: [Task<Void, Never>] = []
        let now = ContinuousClock.now
        for connection in connections {
            if let listing = lists[connection.id] {
                if now - listing.fetchedAt > Self.listLifetime { _ = fetchList(connection) }
            } else {
                waiting.append(fetchList(connection))
            }
        }
        for task in waiting { await task.value }
    }

    /// Starts fetching a connection's list, or joins the fetch under way.
    func fetchList(_ connection: ModelConnection) -> Task<Void, Never> {
        if let running = fetches[connection.id] { return running.task }
        nextToken += 1
        let token = nextToken
        let connector = self.connector
        let task = Task {
            let result: Result<[String], any Error>
            do { result = .success(try await connector.listModels(connection)) } catch { result = .failure(error) }
            self.finishFetch(connection, token: token, result)
        }
        fetches[connection.id] = (token, task)
        return task
    }

    private func finishFetch(_ connection: ModelConnection, token: Int, _ result: Result<[String], any Error>) {
        guard fetches[connection.id]?.token == token else { return }
        fetches[connection.id] = nil
        let now = ContinuousClock.now
        switch result {
        case .success(let models):
            lists[connection.id] = Listing(models: models, error: nil, refreshedAt: .now(), fetchedAt: now)
        case .failure(let error):
            let message =
                (error as? ModelError)?.message
                ?? "The model list could not be fetched (\(describeConnectError(error)))."
            logger.warning("listing the models of a connection failed", metadata: ["connection": "\(connection.name)"])
            var listing = lists[connection.id] ?? Listing(fetchedAt: now)
            listing.error = message
            listing.fetchedAt = now
            lists[connection.id] = listing
        }
    }

    /// Forgets a connection's list (it changed or is gone); a fetch under way is ignored when it ends.
    func forgetList(_ id: Int64) {
        fetches[id] = nil
        lists[id] = nil
    }

    // MARK: the admin's choices

    func loadedChoices() async throws -> Choices {
        await checkVersion()
        if let choices { return choices }
        var loaded = Choices()
        loaded.defaultModel = try await store.setting(Self.defaultModelSetting).flatMap { $0.isEmpty ? nil : $0 }
        loaded.titleModel = try await store.setting(Self.titleModelSetting).flatMap { $0.isEmpty ? nil : $0 }
        if let text = try await store.setting(Self.hiddenModelsSetting) {
            loaded.hidden = (try? JSONDecoder().decode([String].self, from: Data(text.utf8))) ?? []
        }
        if let choices { return choices }
        choices = loaded
        return loaded
    }

    static let defaultModelSetting = "default_model"
    static let titleModelSetting = "title_model"
    static let hiddenModelsSetting = "hidden_models"

    // MARK: changes made by other instances

    /// At most every `versionCheckInterval`, reads `catalog_version` (see `readVersion`). In the background: the
    /// caller, a turn's start perhaps, is served from the cache at once instead of waiting for a database read, and
    /// callers after the read see what it found. Only the first check, before anything is cached, is waited for.
    func checkVersion() async {
        let now = ContinuousClock.now
        if let last = lastVersionCheck, now - last < versionCheckInterval { return }
        lastVersionCheck = now  // before the read: callers meanwhile serve from the cache
        guard knownVersion != nil else { return await readVersion() }
        Task { await readVersion() }
    }

    /// Reads `catalog_version` and, when another instance (or this one) changed the catalog since the cache was
    /// read, reads the connections and choices again and forgets the lists of connections that changed or went. A
    /// failed read keeps the cache (and is logged).
    private func readVersion() async {
        let version: String?
        do { version = try await store.setting(Self.versionSetting) } catch {
            logger.warning("reading the catalog version failed: \(error)")
            return
        }
        guard let known = knownVersion else {
            knownVersion = .some(version)  // first read: whatever is loaded from now on is at least this new
            return
        }
        guard known != version else { return }
        knownVersion = .some(version)
        choices = nil
        guard let old = stored else { return }
        do {
            let fresh = try await store.connections()
            for connection in old where !fresh.contains(connection) { forgetList(connection.id) }
            stored = fresh
        } catch {
            stored = nil  // read again on next need
            logger.warning("reading the changed connections failed: \(error)")
        }
    }

    /// After a change of connections or choices: a new `catalog_version`, so that every instance (this one too,
    /// harmlessly) reads the catalog again within `versionCheckInterval`. A failure is logged, not thrown: the
    /// change itself is made.
    func announceChange() async {
        do { try await store.setSetting(Self.versionSetting, value: UUID().uuidString) } catch {
            logger.error("writing the catalog version failed; other instances may not see the change: \(error)")
        }
    }
}
