import Configuration
import Hummingbird
import Logging
import ServiceLifecycle

/// Reads the configuration (CLI flags, then `CHATBOX_*` environment variables, then defaults) and builds the app.
public func buildApplication(reader: ConfigReader) async throws -> some ApplicationProtocol {
    try await buildApplication(config: AppConfig(reader: reader))
}

/// The one place that wires the layers: database → store → services → controllers → router → application.
public func buildApplication(config: AppConfig) async throws -> some ApplicationProtocol {
    let logger = {
        var logger = Logger(label: "chatbox")
        logger.logLevel = config.logLevel
        logger[metadataKey: "instance"] = "\(config.instance)"
        return logger
    }()
    let database = try await OpenDatabase.open(config.database, mysqlPoolSize: config.mysqlPoolSize, logger: logger)
    let store = SQLChatStore(
        db: database.sql, flavor: database.flavor, logger: logger, searchIndex: config.searchIndex)
    let auth = makeAuthService(store: store, config: config, logger: logger)
    // Model streams (keep-alive connections per host, no limit on concurrent streams) and model listings.
    let httpClients = ModelHTTPClients(proxy: config.model.proxy, readPace: config.streamBatchInterval)
    let startup = startupModel(config.model, httpClients: httpClients, logger: logger)
    // Every model on offer: the start-up connection from the settings and the admin's connections.
    let catalog = ModelCatalog(settings: config.model, store: store, httpClients: httpClients, logger: logger)
    let generations = Generations(
        limits: .init(
            runningPerUser: config.maxRunningPerUser, streamsPerUser: config.maxStreamsPerUser,
            answerCharacters: config.maxAnswerChars))
    let answers = RunningAnswers(
        generations: generations, store: store, instanceID: config.instance, followInterval: config.followInterval,
        titleWait: config.model.titleTimeout + .seconds(5), logger: logger)
    let keeper = LeaseKeeper(
        answers: answers, store: store, lease: config.instanceLease, interval: config.flushInterval, logger: logger)
    let chat = ChatService(
        store: store, models: catalog,
        titles: TitleService(timeout: config.model.titleTimeout, logger: logger),
        answers: answers,
        context: ContextWindow(systemPrompt: config.model.systemPrompt, budget: config.model.contextChars),
        firstTokenTimeout: config.model.firstTokenTimeout, stallTimeout: config.model.stallTimeout,
        maxMessageCharacters: config.maxMessageChars, logger: logger)
    let router = buildRouter(
        config: config, store: store, auth: auth, chat: chat,
        catalog: catalog,
        model: .init(name: startup.displayName, isDemo: startup is DemoModel, isCommand: startup is CommandModel),
        instanceID: config.instance)
    logger.info("start-up model: \(startup.displayName)")
    if let proxy = config.model.proxy {
        let bypass = proxy.bypass.isEmpty ? "" : " (not for \(proxy.bypass.joined(separator: ", ")))"
        logger.info("models are reached through the proxy \(proxy.server.location)\(bypass)")
    }

    var app = Application(
        responder: ShortTaskResponder(router.buildResponder(), inShortTask: ChatController.answersWithStream),
        // Closes connections that send no request for this long (slow or absent headers); a response being
        // written (an answer's stream) is not idle.
        server: .http1(configuration: .init(idleTimeout: .nanoseconds(config.idleTimeout.wholeNanoseconds))),
        // A deep accept queue: a burst of new chats must wait for accept(), not overflow the queue (the kernel
        // then drops or resets connections). Linux caps it at net.core.somaxconn.
        configuration: .init(address: .hostname(config.host, port: config.port), serverName: "chatbox", backlog: 4096),
        services: [
            CloseOnShutdown(name: "database", close: database.close),
            CloseOnShutdown(
                name: "http client",
                close: {
                    do { try await httpClients.shutdown() } catch { logger.error("closing the HTTP clients: \(error)") }
                }),
            // Services stop in reverse order: the generations end (with their final saves) before the saver, and
            // the lease is renewed until they have ended.
            keeper,
            ProgressSaver(generations: generations, store: store, interval: config.flushInterval, logger: logger),
            CloseOnShutdown(
                name: "generations",
                close: {
                    if await !generations.waitForAll(timeout: config.shutdownGrace) {
                        logger.warning("stopping \(generations.count) unfinished answers for shutdown")
                        await generations.stopAll()
                    }
                })
        ],
        logger: logger)
    app.beforeServerStarts {
        let expired = try await store.retryingWriteConflicts {
            try await store.migrate()
            try await keeper.start()
            return try await store.deleteExpiredSessions(now: .now())
        }
        logger.info(
            "database ready", metadata: ["database": "\(config.database.redacted)", "expired_sessions": "\(expired)"])
    }
    return app
}

func makeAuthService(store: SQLChatStore, config: AppConfig, logger: Logger) -> AuthService {
    AuthService(
        store: store, hasher: PasswordHasher(cost: config.bcryptCost),
        // Counted in the database: every instance on it sees the same counts.
        throttle: LoginThrottle(
            store: store, perAccount: config.loginFailuresPerAccount, perAddress: config.loginFailuresPerAddress,
            registrationsPerAddress: config.registrationsPerAddress, window: config.loginWindow, logger: logger),
        sessionLifetime: config.sessionLifetime, sessionMaxAge: config.sessionMaxAge,
        settings: RuntimeSettings(store: store, registrationDefault: config.registrationOpen), logger: logger,
        sessionCache: config.sessionCache.milliseconds)
}

/// Routes and middleware; no logic lives here, only which controller answers what.
func buildRouter(
    config: AppConfig, store: SQLChatStore, auth: AuthService, chat: ChatService,
    catalog: ModelCatalog,
    model: SystemController.ModelInfo, instanceID: String
) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    let body = JSONBody(maxBytes: config.maxBodyBytes)
    router.addMiddleware {
        SecurityHeadersMiddleware(contentSecurityPolicy: WebPage.contentSecurityPolicy(webRoot: config.webRoot))
        HostCheckMiddleware(listeningOn: config.host, allowedHosts: config.allowedHosts)
        ErrorMiddleware()
        OriginCheckMiddleware(allowedOrigins: Set(config.allowedOrigins))
        WebAppMiddleware(root: config.webRoot)
        SessionMiddleware(auth: auth)
    }
    let cookies = SessionCookie(secure: config.secureCookies)
    SystemController(system: SystemService(store: store, settings: auth.settings), model: model, instanceID: instanceID)
        .addRoutes(to: router)
    AuthController(
        auth: auth, cookies: cookies, body: body, addresses: ClientAddress(trustForwardedFor: config.trustForwardedFor)
    ).addRoutes(to: router.group("api/auth"))
    let signedIn = router.group("api", context: AuthenticatedContext.self)
    ConversationController(conversations: ConversationService(store: store, models: chat.models), body: body).addRoutes(
        to: signedIn.group("conversations"))
    ChatController(chat: chat, body: body, batchInterval: config.streamBatchInterval).addRoutes(
        to: signedIn.group("conversations"))
    AccountController(
        account: AccountService(store: store, auth: auth, answers: chat.answers),
        transfer: TransferService(store: store, maxMessageCharacters: config.maxMessageChars), body: body,
        importBody: JSONBody(maxBytes: config.maxImportBytes), cookies: cookies
    ).addRoutes(to: signedIn.group("account"))
    AdminController(
        admin: AdminService(store: store, auth: auth, settings: auth.settings, answers: chat.answers),
        body: body
    )
    .addRoutes(to: signedIn.group("admin"))
    ConnectionsController(catalog: catalog, body: body).addRoutes(to: signedIn.group("admin"))
    ModelsController(catalog: catalog).addRoutes(to: signedIn.group("models"))
    PresetsController(presets: PresetService(store: store, models: catalog), body: body).addRoutes(
        to: signedIn.group("presets"))
    return router
}

/// The model the `CHATBOX_LLM_*` settings name (a command, an OpenAI-compatible endpoint, or the built-in demo):
/// what `GET /api/config` describes. The models on offer are the catalog's.
func startupModel(_ settings: ModelSettings, httpClients: ModelHTTPClients, logger: Logger) -> any ChatModel {
    if let command = settings.command {
        return CommandModel(command: command, passingEnvironment: settings.commandEnvironment, logger: logger)
    } else if let baseURL = settings.baseURL, let model = settings.model {
        return OpenAICompatibleModel(
            baseURL: baseURL, apiKey: settings.apiKey, model: model, extraHeaders: settings.headers,
            httpClients: httpClients, logger: logger)
    }
    return DemoModel(tokenDelay: settings.demoTokenDelay)
}

/// Closes a long-lived resource after the server has stopped taking requests.
struct CloseOnShutdown: Service {
    let name: String
    let close: @Sendable () async -> Void

    func run() async throws {
        try? await gracefulShutdown()
        await close()
    }
}
