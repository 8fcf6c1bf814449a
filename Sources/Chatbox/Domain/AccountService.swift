/// What a signed-in user does with their own account: password, sessions, deletion.
public struct AccountService: Sendable {
    let store: any ChatStore
    let hasher: PasswordHasher

    public init(store: any ChatStore, hasher: PasswordHasher) {
        self.store = store
        self.hasher = hasher
    }

    /// Changes the password after checking the current one; every other session is signed out.
    public func changePassword(_ signedIn: Authenticated, current: String, new: String) async throws {
        try await checkPassword(signedIn.user, current)
        do { try Rules.password(new) } catch { throw AuthError.invalid(error) }
        try await store.setPasswordHash(userID: signedIn.user.id, passwordHash: try await hasher.hash(new))
        try await store.deleteSessions(userID: signedIn.user.id, except: signedIn.session.id)
    }

    /// The user's live sessions.
    public func sessions(_ signedIn: Authenticated) async throws -> [Session] {
        try await store.sessions(userID: signedIn.user.id, now: .now())
    }

    /// Signs one of the user's sessions out.
    public func revokeSession(_ signedIn: Authenticated, sessionID: Int64) async throws {
        try await store.deleteSession(id: sessionID, userID: signedIn.user.id)
    }

    /// Deletes the account and everything in it, after checking the password. The last admin cannot.
    public func deleteAccount(_ signedIn: Authenticated, password: String) async throws {
        try await checkPassword(signedIn.user, password)
        if signedIn.user.role == .admin, try await store.adminCount() <= 1 {
            throw AdminError.lastAdmin
        }
        try await store.deleteUser(userID: signedIn.user.id)
    }

    private func checkPassword(_ user: User, _ password: String) async throws {
        guard let credentials = try await store.userCredentials(usernameKey: Rules.usernameKey(user.username)),
            try await hasher.verify(password, hash: credentials.passwordHash)
        else { throw AdminError.wrongPassword }
    }
}
