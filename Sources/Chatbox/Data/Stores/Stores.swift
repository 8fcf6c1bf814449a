/// What the application keeps, one small protocol per aggregate: users, sessions, conversations (with their
/// messages), runtime settings, export/import, and the database's own upkeep. Services depend only on the ones
/// they use.
///
/// One SQL implementation (`SQLChatStore`) serves SQLite and MySQL. Methods that take a `userID` only ever see
/// that user's rows, so another user's conversation is simply not found.

/// Accounts.
public protocol UserStore: Sendable {
    /// Inserts a user; throws `StoreError.duplicate` when the case-folded name is taken.
    func createUser(username: String, usernameKey: String, passwordHash: String, role: Role) async throws -> User
    /// Inserts a user who is the admin if no user exists yet, else a plain user, decided atomically in the database
    /// (of any number of concurrent first sign-ups exactly one is the admin); `StoreError.duplicate` as above.
    func createUserAdminIfFirst(username: String, usernameKey: String, passwordHash: String) async throws -> User
    /// The user and password hash for a case-folded username, if any.
    func userCredentials(usernameKey: String) async throws -> (user: User, passwordHash: String)?
    /// The user with this id, if any.
    func user(id: Int64) async throws -> User?
    /// Replaces a user's password hash; throws `StoreError.notFound` for an unknown user.
    func setPasswordHash(userID: Int64, passwordHash: String) async throws
    /// Sets a user's role and/or disabled state in one transaction and returns the user as changed;
    /// `StoreError.notFound` for an unknown user, `StoreError.lastAdmin` (nothing changed) when it would leave no
    /// enabled admin.
    func updateUser(userID: Int64, role: Role?, disabled: Bool?) async throws -> User
    /// Deletes a user with their sessions, conversations and messages; `StoreError.notFound` if unknown,
    /// `StoreError.lastAdmin` (nothing deleted) when they are the last enabled admin.
    func deleteUser(userID: Int64) async throws
    /// How many users exist.
    func userCount() async throws -> Int
    /// How many enabled admins exist.
    func adminCount() async throws -> Int
    /// Users page by page (oldest first, after `afterID`), optionally those whose username key contains
    /// `usernameKey` (already case-folded by the caller).
    func users(limit: Int, afterID: Int64?, usernameKey: String?) async throws -> (users: [UserSummary], hasMore: Bool)
}

/// Signed-in sessions, stored under the hash of their token.
public protocol SessionStore: Sendable {
    /// Stores a new session under the hash of its token.
    func createSession(userID: Int64, tokenHash: String, expiresAt: Millis) async throws -> Session
    /// The live (unexpired) session for a token hash and its user.
    func session(tokenHash: String, now: Millis) async throws -> (session: Session, user: User)?
    /// A user's live sessions, most recently used first.
    func sessions(userID: Int64, now: Millis) async throws -> [Session]
    /// Moves a session's expiry (sliding expiry) and records its use.
    func touchSession(id: Int64, now: Millis, expiresAt: Millis) async throws
    /// Deletes the session with this token hash (logout).
    func deleteSession(tokenHash: String) async throws
    /// Deletes one of a user's sessions; throws `StoreError.notFound` when it isn't theirs.
    func deleteSession(id: Int64, userID: Int64) async throws
    /// Deletes every session of a user except, optionally, one.
    func deleteSessions(userID: Int64, except sessionID: Int64?) async throws
    /// Deletes sessions that expired before `now`; returns how many.
    func deleteExpiredSessions(now: Millis) async throws -> Int
}

/// Conversations with their messages: listing and search, the chat turn, and answers' progress.
public protocol ConversationStore: Sendable {
    /// A user's conversations, newest `updated_at` first, after `cursor`; `query` matches titles and message text.
    func conversations(userID: Int64, limit: Int, after cursor: PageCursor?, query: String?) async throws
        -> ConversationPage
    /// Creates a conversation for a user with its model, system prompt and temperature.
    func createConversation(userID: Int64, title: String, settings: ChatSettings) async throws -> Conversation
    /// One of the user's conversations, if it exists.
    func conversation(id: Int64, userID: Int64) async throws -> Conversation?
    /// Changes what `change` gives (model, system prompt, temperature; a title as a user's rename) in one
    /// statement and returns the conversation; `StoreError.notFound` when it isn't the user's.
    func updateConversation(id: Int64, userID: Int64, change: ConversationChange) async throws -> Conversation
    /// The models of the user's conversations, most recently updated first (distinct, at most `limit`).
    func recentModels(userID: Int64, limit: Int) async throws -> [String]
    /// Sets a generated title unless the user has named the conversation; returns whether it was set.
    func setGeneratedTitle(conversationID: Int64, title: String) async throws -> Bool
    /// Deletes a conversation and its messages; throws `StoreError.notFound` when it isn't the user's.
    func deleteConversation(id: Int64, userID: Int64) async throws
    /// A conversation's messages, oldest first.
    func messages(conversationID: Int64) async throws -> [Message]
    /// One of the user's conversations with its messages (oldest first), read together; nil when it is not the
    /// user's (and no message of it is returned).
    func conversationWithMessages(id: Int64, userID: Int64) async throws -> (Conversation, [Message])?
    /// One of the user's conversations with the path of messages up from the one `walk` names (parent by parent),
    /// read newest first until `walk` has enough or the path's root is reached, and `walk` as it ended; the path
    /// comes oldest first. Its messages come without their reasoning. Nil when it is not the user's.
    func conversationWithPath<Walk: PathWalk>(id: Int64, userID: Int64, walk: Walk) async throws
        -> (Conversation, [Message], Walk)?
    /// In one transaction: takes `claim` first when given (`AnswerClaimRefused` when refused), then stores the
    /// user's message where `place` says and an empty `processing` answer by `model` after it, makes that answer the
    /// current leaf and bumps `updated_at`; `StoreError.badReference` when the message to follow is not an answer of
    /// this conversation.
    func beginTurn(
        conversationID: Int64, userContent: String, place: QuestionPlace, model: String?, now: Millis,
        claim: AnswerClaim?
    ) async throws -> (user: Message, assistant: Message)
    /// In one transaction: takes `claim` first when given (`AnswerClaimRefused` when refused), then adds a new
    /// `processing` answer by `model` beside the others of the question above `messageID` (an answer's question, or
    /// the question itself; nil: the current leaf) and makes it the current leaf; with `adoptingModel`, the
    /// conversation goes on with `model`. Nil when there is no question to answer; `StoreError.badReference` when
    /// `messageID` is not in this conversation. Nothing is deleted: the earlier answers stay as the other versions.
    func beginRegeneration(
        conversationID: Int64, messageID: Int64?, model: String?, adoptingModel: Bool, now: Millis,
        claim: AnswerClaim?
    ) async throws -> (user: Message, assistant: Message)?
    /// Writes the partial text (and reasoning) of answers still being generated, all in one transaction (finished
    /// ones are left alone).
    func saveProgress(_ answers: [AnswerProgress]) async throws
    /// Writes an answer's final text and status (its reasoning, model, usage and timings left as they are), and
    /// bumps the conversation's `updated_at`.
    func finishMessage(messageID: Int64, content: String, status: MessageStatus, error: String?, now: Millis)
        async throws
    /// Writes an answer's final state (text, reasoning, status, error, model, usage, timings) unless it has ended
    /// already (another instance failed it), and bumps the conversation's `updated_at`.
    func finishAnswer(_ answer: Message, now: Millis) async throws
}

extension ConversationStore {
    /// A conversation with the server's defaults.
    public func createConversation(userID: Int64, title: String) async throws -> Conversation {
        try await createConversation(userID: userID, title: title, settings: ChatSettings())
    }
    /// The next question after the current leaf, its model not recorded.
    public func beginTurn(conversationID: Int64, userContent: String, now: Millis) async throws
        -> (user: Message, assistant: Message)
    {
        try await beginTurn(
            conversationID: conversationID, userContent: userContent, place: .afterCurrentLeaf, model: nil, now: now,
            claim: nil)
    }
    /// The current leaf's question answered again, its model not recorded.
    public func beginRegeneration(conversationID: Int64, now: Millis) async throws
        -> (user: Message, assistant: Message)?
    {
        try await beginRegeneration(
            conversationID: conversationID, messageID: nil, model: nil, adoptingModel: false, now: now, claim: nil)
    }
}

/// Runtime settings kept in the database.
public protocol SettingsStore: Sendable {
    /// A runtime setting stored in the database, if set.
    func setting(_ name: String) async throws -> String?
    /// Stores a runtime setting.
    func setSetting(_ name: String, value: String) async throws
}

/// A user's whole history, out and in.
public protocol TransferStore: Sendable {
    /// Every conversation of a user without its messages, newest first (export reads the messages one by one).
    func exportedConversations(userID: Int64) async throws -> [Conversation]
    /// Adds the conversations that are not there yet (same title and creation time) in short transactions cut as
    /// `batching` says, calling `afterBatch` with the batch number after each commit; all or nothing: when anything
    /// throws (`afterBatch` too), the conversations this call added are deleted again. Returns for each whether it
    /// was added.
    func importConversations(
        userID: Int64, _ conversations: [ImportedConversation], batching: ImportBatching,
        afterBatch: @Sendable (Int) async throws -> Void
    ) async throws -> [Bool]
}

/// The database itself: schema, health, and recovery at start-up.
public protocol MaintenanceStore: Sendable {
    /// Creates or upgrades the schema; safe to run any number of times.
    func migrate() async throws
    /// Answers when the database answers (for `/healthz`).
    func ping() async throws
    /// The full-text index message search uses (`fts5`, `mroonga`, `ngram`, `trigram_table` or `like`).
    var searchIndexName: String { get }
}

extension MaintenanceStore {
    public var searchIndexName: String { "like" }
}

/// The admin's model connections (the start-up one from the settings is not stored).
public protocol ConnectionStore: Sendable {
    /// Every stored connection, oldest (lowest id) first.
    func connections() async throws -> [ModelConnection]
    /// The connection with this id, if any.
    func connection(id: Int64) async throws -> ModelConnection?
    /// Inserts a connection (its id and times are the store's); `StoreError.duplicate` when the name is taken.
    func createConnection(_ connection: ModelConnection) async throws -> ModelConnection
    /// Replaces every field of the connection with `connection.id` and returns it as stored; `StoreError.notFound`
    /// if unknown, `StoreError.duplicate` when the new name is taken.
    func updateConnection(_ connection: ModelConnection) async throws -> ModelConnection
    /// Deletes a connection; `StoreError.notFound` if unknown.
    func deleteConnection(id: Int64) async throws
}

/// Users' presets; methods that take a `userID` only ever see that user's rows.
public protocol PresetStore: Sendable {
    /// A user's presets, by name.
    func presets(userID: Int64) async throws -> [Preset]
    /// One of the user's presets, if it exists.
    func preset(id: Int64, userID: Int64) async throws -> Preset?
    /// Inserts a preset for `preset.userID` (its id and times are the store's).
    func createPreset(_ preset: Preset) async throws -> Preset
    /// Replaces the fields of the user's preset `preset.id` and returns it as stored; `StoreError.notFound` when it
    /// isn't theirs.
    func updatePreset(_ preset: Preset) async throws -> Preset
    /// Deletes one of the user's presets; `StoreError.notFound` when it isn't theirs.
    func deletePreset(id: Int64, userID: Int64) async throws
}

/// What reads a path of a conversation's messages from its newest end (`ConversationStore.conversationWithPath`):
/// where the path ends, and when nothing older is needed.
public protocol PathWalk: Sendable {
    /// The message the path ends at in `conversation`; nil: an empty path.
    func leaf(of conversation: Conversation) -> Int64?
    /// Takes the next message up the path (its parent comes next); true once nothing older is needed.
    mutating func take(_ message: Message) -> Bool
}
