import Foundation

/// A signed-in user's conversations: list and search, create, read with messages, rename, delete. Another
/// user's conversation is simply not found.
public struct ConversationService: Sendable {
    let store: any ConversationStore
    let models: any ModelDirectory

    public init(store: any ConversationStore, models: any ModelDirectory) {
        self.store = store
        self.models = models
    }

    /// The longest search text, in characters.
    public static let maxQueryCharacters = 200

    /// A page of the user's conversations, newest first; `query` (trimmed) matches titles and message text.
    public func list(userID: Int64, limit: Int, after cursor: PageCursor?, query: String?) async throws
        -> ConversationPage
    {
        let search = query.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        if let search, search.count > Self.maxQueryCharacters {
            throw ValidationError("Search text must be at most \(Self.maxQueryCharacters) characters.")
        }
        return try await store.conversations(userID: userID, limit: limit, after: cursor, query: search)
    }

    /// A new conversation, titled as given (checked by the rules) or untitled, with the settings given. Without a
    /// model it gets the user's last choice that is still offered, else the default model.
    public func create(userID: Int64, title: String?, settings: ChatSettings = ChatSettings()) async throws
        -> Conversation
    {
        let title = try title.map { try Rules.title($0) } ?? ""
        var settings = try await checked(settings)
        if settings.model == nil { settings.model = try await lastChoice(userID: userID) }
        return try await store.createConversation(userID: userID, title: title, settings: settings)
    }

    /// Changes the title (as the user's own), model, system prompt or temperature; null resets the last three.
    public func update(id: Int64, userID: Int64, change: ConversationChange) async throws -> Conversation {
        var change = change
        change.title = try change.title.map { try Rules.title($0) }
        if case .some(.some(let model)) = change.model { change.model = .some(try await available(model)) }
        if case .some(.some(let prompt)) = change.systemPrompt {
            change.systemPrompt = .some(try Rules.systemPrompt(prompt))
        }
        if case .some(.some(let value)) = change.temperature {
            change.temperature = .some(try Rules.temperature(value))
        }
        return try await notFoundAsConversation {
            try await store.updateConversation(id: id, userID: userID, change: change)
        }
    }

    /// `settings` checked by the rules; a model must be offered now.
    public func checked(_ settings: ChatSettings) async throws -> ChatSettings {
        var settings = settings
        if let model = settings.model { settings.model = try await available(model) }
        settings.systemPrompt = try settings.systemPrompt.map { try Rules.systemPrompt($0) }
        settings.temperature = try settings.temperature.map { try Rules.temperature($0) }
        return settings
    }

    private func available(_ model: String) async throws -> String {
        let model = try Rules.modelID(model)
        guard await models.isAvailable(model) else { throw ValidationError("The model \"\(model)\" is not available.") }
        return model
    }

    /// The model of the user's most recently used conversation that is still offered, else the default.
    private func lastChoice(userID: Int64) async throws -> String? {
        for model in try await store.recentModels(userID: userID, limit: 5) where await models.isAvailable(model) {
            return model
        }
        return await models.defaultModelID()
    }

    /// One of the user's conversations; `NotFound("Conversation")` otherwise.
    public func conversation(id: Int64, userID: Int64) async throws -> Conversation {
        guard let conversation = try await store.conversation(id: id, userID: userID) else {
            throw NotFound("Conversation")
        }
        return conversation
    }

    /// One of the user's conversations with its messages, oldest first.
    public func withMessages(id: Int64, userID: Int64) async throws -> (Conversation, [Message]) {
        guard let read = try await store.conversationWithMessages(id: id, userID: userID) else {
            throw NotFound("Conversation")
        }
        return read
    }

    /// Deletes the conversation and its messages.
    public func delete(id: Int64, userID: Int64) async throws {
        try await notFoundAsConversation { try await store.deleteConversation(id: id, userID: userID) }
    }

    private func notFoundAsConversation<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch StoreError.notFound { throw NotFound("Conversation") } catch StoreError
            .badReference
        {
            throw ValidationError("current_leaf_id must be a message of this conversation.")
        }
    }
}
