/// A place models come from, managed by an admin: an OpenAI-compatible endpoint, a program, or the built-in demo.
/// The API key is kept here and in the database only: no response carries it and no log line names it.
public struct ModelConnection: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case openaiCompatible = "openai_compatible"
        case command
        case demo
    }

    /// One extra HTTP header sent with every request to the provider.
    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// 0 for the start-up connection (from the `CHATBOX_LLM_*` settings, never stored).
    public var id: Int64
    public var name: String
    public var kind: Kind
    public var baseURL: String?
    public var apiKey: String?
    public var headers: [Header]
    public var command: String?
    /// Model ids the admin added by hand (for providers that do not list theirs).
    public var manualModels: [String]
    public var createdAt: Millis
    public var updatedAt: Millis

    public init(
        id: Int64 = 0, name: String, kind: Kind, baseURL: String? = nil, apiKey: String? = nil, headers: [Header] = [],
        command: String? = nil, manualModels: [String] = [], createdAt: Millis = 0, updatedAt: Millis = 0
    ) {
        self.id = id
        self.name = name
        self.kind = kind
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.headers = headers
        self.command = command
        self.manualModels = manualModels
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// The headers as the model clients take them.
    public var headerPairs: [(String, String)] { headers.map { ($0.name, $0.value) } }
}

/// A user's saved chat settings: a name, and the model, system prompt and temperature a new chat starts with.
public struct Preset: Sendable, Equatable {
    public var id: Int64
    public var userID: Int64
    public var name: String
    public var model: String?
    public var systemPrompt: String?
    public var temperature: Double?
    public var createdAt: Millis
    public var updatedAt: Millis

    public init(
        id: Int64 = 0, userID: Int64, name: String, model: String? = nil, systemPrompt: String? = nil,
        temperature: Double? = nil, createdAt: Millis = 0, updatedAt: Millis = 0
    ) {
        self.id = id
        self.userID = userID
        self.name = name
        self.model = model
        self.systemPrompt = systemPrompt
        self.temperature = temperature
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
