/// What a signed-in user does with their own account: password, sessions, deletion.
public struct AccountService: Sendable {
    let store: any UserStore & SessionStore
    let auth: AuthService
    /// The running answers and open streams, ended at once when the account is deleted.
    let answers: RunningAnswers

    public init(store: any UserStore & SessionStore, auth: AuthService, answers: RunningAnswers) {
        self.store = store
        self.auth = auth
        self.answers = answers
    }

    /// Changes the password after checking the current one (throttled per account like logins); every other
    /// session is signed out.
    public func changePassword(_ signedIn: Authenticated, current: String, new: String) async throws {
        try AuthService.checkNewPassword(new)
        try await auth.checkPassword(of: signedIn.user, current)
        try await auth.setPassword(new, userID: signedIn.user.id, keeping: signedIn.session.id)
    }

    /// The user's live sessions (none past the maximum age, none shown to expire after it).
    public func sessions(_ signedIn: Authenticated) async throws -> [Session] {
        let now = auth.now()
        return try await store.sessions(userID: signedIn.user.id, now: now).compactMap { session in
            let end = session.createdAt + auth.sessionMaxAge
            guard now < end else { return nil }
            var session = session
            session.expiresAt = min(session.expiresAt, end)
            return session
        }
    }

    /// Signs one of the user's sessions out.
    public func revokeSession(_ signedIn: Authenticated, sessionID: Int64) async throws {
        auth.sessions.forget(sessionID: sessionID)
        do { try await store.deleteSession(id: sessionID, userID: signedIn.user.id) } catch StoreError.notFound {
            throw NotFound("Session")
        }
    }

    /// Deletes the account and everything in it, after checking the password (throttled like logins). The last
    /// admin cannot (the store refuses it atomically).
    public func deleteAccount(_ signedIn: Authenticated, password: String) async throws {
        try await auth.checkPassword(of: signedIn.user, password)
        defer { auth.sessions.forget(userID: signedIn.user.id) }
        try await refusingLastAdmin { try await store.deleteUser(userID: signedIn.user.id) }
        await answers.endAll(userID: signedIn.user.id)
    }
}
