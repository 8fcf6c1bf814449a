/// Why an admin or account action was refused.
public enum AdminError: Error, Equatable {
    case lastAdmin
    case wrongPassword
    case userNotFound
    case confirmationMismatch
}

/// What an admin does: list, create, reset, disable, delete and promote accounts, and open or close
/// registration. There is always at least one enabled admin: the store refuses, in the same transaction as the
/// change, any demotion, disabling or deletion that would leave none.
public struct AdminService: Sendable {
    let store: any UserStore & SessionStore
    let auth: AuthService
    let settings: RuntimeSettings
    /// The running answers and open streams, ended at once for a user who is disabled or deleted.
    let answers: RunningAnswers

    public init(
        store: any UserStore & SessionStore, auth: AuthService, settings: RuntimeSettings, answers: RunningAnswers
    ) {
        self.store = store
        self.auth = auth
        self.settings = settings
        self.answers = answers
    }

    public func users(limit: Int, afterID: Int64?, query: String?) async throws -> (users: [UserSummary], hasMore: Bool)
    {
        try await store.users(limit: limit, afterID: afterID, usernameKey: query.map(Rules.usernameKey))
    }

    public func createUser(username: String, password: String, role: Role) async throws -> User {
        try await auth.addUser(username: username, password: password, role: role)
    }

    /// Sets a new password and signs the user out everywhere.
    public func resetPassword(userID: Int64, password: String) async throws {
        try AuthService.checkNewPassword(password)
        try await auth.setPassword(password, userID: try await existing(userID).id)
    }

    /// Changes a user's role or disabled state; refuses to leave no enabled admin.
    public func update(userID: Int64, role: Role?, disabled: Bool?) async throws -> User {
        defer { auth.sessions.forget(userID: userID) }
        let user = try await guarded { try await store.updateUser(userID: userID, role: role, disabled: disabled) }
        if disabled == true {
            try await store.deleteSessions(userID: userID, except: nil)
            await answers.endAll(userID: userID)
        }
        return user
    }

    /// Deletes a user and all their conversations; `confirm` must be their username.
    public func delete(userID: Int64, confirm: String) async throws {
        let user = try await existing(userID)
        guard Rules.usernameKey(confirm) == Rules.usernameKey(user.username) else {
            throw AdminError.confirmationMismatch
        }
        defer { auth.sessions.forget(userID: userID) }
        try await guarded { try await store.deleteUser(userID: userID) }
        await answers.endAll(userID: userID)
    }

    public func registrationOpen() async throws -> Bool { try await settings.registrationOpen() }

    public func setRegistrationOpen(_ open: Bool) async throws { try await settings.setRegistrationOpen(open) }

    private func existing(_ userID: Int64) async throws -> User {
        guard let user = try await store.user(id: userID) else { throw AdminError.userNotFound }
        return user
    }

    /// The store's refusals in this service's words.
    private func guarded<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await refusingLastAdmin(body) } catch StoreError.notFound { throw AdminError.userNotFound }
    }
}

/// Runs a change of users with the store's last-admin refusal (`StoreError.lastAdmin`, nothing changed) in the
/// business layer's words (`AdminError.lastAdmin`). The guard itself is one, in the store's transaction.
func refusingLastAdmin<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch StoreError.lastAdmin { throw AdminError.lastAdmin }
}
