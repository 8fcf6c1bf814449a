import Foundation

/// A signed-in user's conversations: list and search, create, read with messages, rename, delete. Another
/// user's conversation is simply not found.
public struct ConversationService: Sendable {
    let store: any ConversationStore

    public init(store: any ConversationStore) {
        self.store = store
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

    /// A new conversation, titled as given (checked by the rules) or untitled.
    public func create(userID: Int64, title: String?) async throws -> Conversation {
        let title = try title.map { try Rules.title($0) } ?? ""
        return try await store.createConversation(userID: userID, title: title)
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
        let conversation = try await conversation(id: id, userID: userID)
        return (conversation, try await store.messages(conversationID: conversation.id))
    }

    /// Renames as the user asked (a generated title never replaces it afterwards).
    public func rename(id: Int64, userID: Int64, title: String) async throws -> Conversation {
        let title = try Rules.title(title)
        return try await notFoundAsConversation {
            try await store.renameConversation(id: id, userID: userID, title: title)
        }
    }

    /// Deletes the conversation and its messages.
    public func delete(id: Int64, userID: Int64) async throws {
        try await notFoundAsConversation { try await store.deleteConversation(id: id, userID: userID) }
    }

    private func notFoundAsConversation<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch StoreError.notFound { throw NotFound("Conversation") }
    }
}
