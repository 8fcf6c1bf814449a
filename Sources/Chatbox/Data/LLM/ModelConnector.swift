import Logging

/// Turns a connection into models: the `ChatModel` for one of its model names, and the names it offers.
struct ModelConnector: Sendable {
    let httpClients: ModelHTTPClients
    let logger: Logger
    /// Environment variables a command connection's program also gets (`CHATBOX_LLM_COMMAND_ENV`).
    var commandEnvironment: [String] = []
    var demoTokenDelay: Duration = .milliseconds(25)

    /// The model `name` of `connection`. A command connection has one model whatever the name; a demo one has
    /// `demo` and `demo-thinking` (a reasoning model).
    func model(_ connection: ModelConnection, name: String) -> any ChatModel {
        switch connection.kind {
        case .openaiCompatible:
            OpenAICompatibleModel(
                baseURL: connection.baseURL ?? "", apiKey: connection.apiKey, model: name,
                extraHeaders: connection.headerPairs, httpClients: httpClients, logger: logger)
        case .command:
            CommandModel(command: connection.command ?? "", passingEnvironment: commandEnvironment, logger: logger)
        case .demo:
            DemoModel(tokenDelay: demoTokenDelay, thinking: name == DemoModel.thinkingName)
        }
    }

    /// What the connection offers besides the admin's manual ids: an OpenAI-compatible provider's own list
    /// (`GET {base_url}/models`; throws `ModelError`), a command's one model named after the connection, the demo's two.
    func listModels(_ connection: ModelConnection) async throws -> [String] {
        switch connection.kind {
        case .openaiCompatible:
            try await ModelListing(
                baseURL: connection.baseURL ?? "", apiKey: connection.apiKey, headers: connection.headerPairs,
                httpClients: httpClients, logger: logger
            ).fetch()
        case .command: [connection.name]
        case .demo: ["demo", DemoModel.thinkingName]
        }
    }
}
