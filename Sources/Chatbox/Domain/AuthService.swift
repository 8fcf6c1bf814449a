import Logging

/// Why an account action was refused.
public enum AuthError: Error, Equatable {
    case invalid(ValidationError)
    case usernameTaken
    case invalidCredentials
    case throttled(retryAfterSeconds: Int)
    case registrationClosed
    case unknownUser(String)
}

/// A signed-in user with the session that proves it.
public struct Authenticated: Sendable {
    public let user: User
    public let session: Session
}

/// Accounts and sessions: registration, login with throttling, logout, and the operator's commands.
public struct AuthService: Sendable {
    let store: any ChatStore
    let hasher: PasswordHasher
    let throttle: LoginThrottle
    let sessionLifetime: Millis
    let settings: RuntimeSettings
    let logger: Logger
    /// A real hash of a random password at the configured cost, verified against when the user does not exist,
    /// so a wrong name costs as much time as a wrong password. Computed in the background at start-up.
    private let decoyHash: Task<String, Never>

    public init(
        store: any ChatStore, hasher: PasswordHasher, throttle: LoginThrottle, sessionLifetime: Millis,
        settings: RuntimeSettings, logger: Logger
    ) {
        self.store = store
        self.hasher = hasher
        self.throttle = throttle
        self.sessionLifetime = sessionLifetime
        self.settings = settings
        self.logger = logger
        self.decoyHash = Task { [hasher] in
            (try? await hasher.hash(SessionToken.generate())) ?? hasher.decoyHash()
        }
    }

    /// Creates an account and signs it in. The first account on an empty database is the admin.
    public func register(username rawName: String, password: String) async throws -> (Authenticated, token: String) {
        guard try await settings.registrationOpen() else { throw AuthError.registrationClosed }
        let user = try await createUser(username: rawName, password: password, role: nil)
        logger.info("registered", metadata: ["user": "\(user.id)"])
        return try await startSession(for: user)
    }

    /// Checks the password and signs in; throttled per account and per client address.
    public func login(username rawName: String, password: String, address: String) async throws
        -> (Authenticated, token: String)
    {
        let key = Rules.usernameKey(rawName)
        if let wait = throttle.retryAfter(account: key, address: address) {
            throw AuthError.throttled(retryAfterSeconds: wait)
        }
        let credentials = try await store.userCredentials(usernameKey: key)
        let hash: String
        if let known = credentials?.passwordHash { hash = known } else { hash = await decoyHash.value }
        let matches = try await hasher.verify(password, hash: hash)
        guard let credentials, matches, !credentials.user.disabled else {
            throttle.recordFailure(account: key, address: address)
            logger.notice("login failed", metadata: ["address": "\(address)"])
            throw AuthError.invalidCredentials
        }
        throttle.recordSuccess(account: key)
        return try await startSession(for: credentials.user)
    }

    /// Revokes the session behind `token`.
    public func logout(token: String) async throws {
        try await store.deleteSession(tokenHash: SessionToken.hash(token))
    }

    /// The user and live session behind a token; moves the expiry forward (at most once a minute).
    public func authenticate(token: String) async throws -> Authenticated? {
        guard token.utf8.count <= 128 else { return nil }
        let now = Millis.now()
        guard let found = try await store.session(tokenHash: SessionToken.hash(token), now: now),
            !found.user.disabled
        else { return nil }
        var session = found.session
        if now - session.lastUsedAt > 60_000 {
            session.lastUsedAt = now
            session.expiresAt = now + sessionLifetime
            try await store.touchSession(id: session.id, now: now, expiresAt: session.expiresAt)
        }
        return Authenticated(user: found.user, session: session)
    }

    /// Operator command: adds a user (role given, or admin for the very first account).
    public func addUser(username: String, password: String, role: Role?) async throws -> User {
        try await createUser(username: username, password: password, role: role)
    }

    /// Operator command: sets a new password and signs the user out everywhere.
    public func resetPassword(username: String, password: String) async throws -> User {
        try validate { () throws(ValidationError) in try Rules.password(password) }
        guard let credentials = try await store.userCredentials(usernameKey: Rules.usernameKey(username)) else {
            throw AuthError.unknownUser(username)
        }
        try await store.setPasswordHash(userID: credentials.user.id, passwordHash: try await hasher.hash(password))
        try await store.deleteSessions(userID: credentials.user.id, except: nil)
        return credentials.user
    }

    /// Operator command: makes a user an admin or a plain user.
    public func setRole(username: String, role: Role) async throws -> User {
        guard var user = try await store.userCredentials(usernameKey: Rules.usernameKey(username))?.user else {
            throw AuthError.unknownUser(username)
        }
        try await store.setRole(userID: user.id, role: role)
        user.role = role
        return user
    }

    private func createUser(username rawName: String, password: String, role: Role?) async throws -> User {
        let username = try validate { () throws(ValidationError) in try Rules.username(rawName) }
        try validate { () throws(ValidationError) in try Rules.password(password) }
        let hash = try await hasher.hash(password)
        let isFirst = try await store.userCount() == 0
        let assigned = role ?? (isFirst ? .admin : .user)
        do {
            return try await store.createUser(
                username: username, usernameKey: Rules.usernameKey(username), passwordHash: hash, role: assigned)
        } catch StoreError.duplicate {
            throw AuthError.usernameTaken
        }
    }

    private func startSession(for user: User) async throws -> (Authenticated, token: String) {
        let token = SessionToken.generate()
        let session = try await store.createSession(
            userID: user.id, tokenHash: SessionToken.hash(token), expiresAt: .now() + sessionLifetime)
        return (Authenticated(user: user, session: session), token)
    }

    private func validate<T>(_ body: () throws(ValidationError) -> T) throws(AuthError) -> T {
        do { return try body() } catch { throw AuthError.invalid(error) }
    }
}
