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

    public init(user: User, session: Session) {
        self.user = user
        self.session = session
    }
}

/// Accounts and sessions: registration, login with throttling, logout, and the operator's commands.
///
/// bcrypt is the expensive step, so everything cheap is checked before it (registration open, the rules, a taken
/// name), and every bcrypt a client can cause is counted by `throttle` before it runs.
public struct AuthService: Sendable {
    let store: any UserStore & SessionStore
    let hasher: PasswordHasher
    let throttle: LoginThrottle
    let sessionLifetime: Millis
    /// However often it is used, a session ends this long after it was created.
    let sessionMaxAge: Millis
    let settings: RuntimeSettings
    let logger: Logger
    let now: @Sendable () -> Millis
    /// Sessions read lately (see `SessionCache`).
    let sessions: SessionCache
    /// A real hash of a random password at the configured cost, verified against when the user does not exist,
    /// so a wrong name costs as much time as a wrong password. Computed in the background at start-up.
    private let decoyHash: Task<String, Never>

    public init(
        store: any UserStore & SessionStore, hasher: PasswordHasher, throttle: LoginThrottle, sessionLifetime: Millis,
        sessionMaxAge: Millis? = nil, settings: RuntimeSettings, logger: Logger, sessionCache: Millis = 0,
        now: @escaping @Sendable () -> Millis = { .now() }
    ) {
        self.sessions = SessionCache(lifetime: sessionCache)
        self.store = store
        self.hasher = hasher
        self.throttle = throttle
        self.sessionLifetime = sessionLifetime
        self.sessionMaxAge = sessionMaxAge ?? max(sessionLifetime, 90 * 24 * 3_600_000)
        self.settings = settings
        self.logger = logger
        self.now = now
        self.decoyHash = Task { [hasher] in
            (try? await hasher.hash(SessionToken.generate())) ?? hasher.decoyHash()
        }
    }

    /// Creates an account and signs it in; sign-ups that get as far as hashing are limited per client address.
    /// The first account on an empty database is the admin.
    public func register(username rawName: String, password: String, address: String) async throws
        -> (Authenticated, token: String)
    {
        guard try await settings.registrationOpen() else { throw AuthError.registrationClosed }
        let user = try await createUser(username: rawName, password: password, role: nil, address: address)
        logger.info("registered", metadata: ["user": "\(user.id)"])
        return try await startSession(for: user)
    }

    /// Checks the password and signs in; throttled per account and per client address. The attempt is counted
    /// before bcrypt runs and given back only when the password was right.
    public func login(username rawName: String, password: String, address: String) async throws
        -> (Authenticated, token: String)
    {
        let key = Rules.usernameKey(rawName)
        let account = Self.throttleKey(key)
        let attempt = try await reserve([.account(account), .address(address)])
        let credentials: (user: User, passwordHash: String)?
        let matches: Bool
        do {
            credentials = try await store.userCredentials(usernameKey: key)
            let hash: String
            if let known = credentials?.passwordHash { hash = known } else { hash = await decoyHash.value }
            matches = try await hasher.verify(password, hash: hash)
        } catch {
            await throttle.giveBack(attempt)  // nothing was checked
            throw error
        }
        guard let credentials, matches, !credentials.user.disabled else {
            // The attempt stays counted.
            logger.notice("login failed", metadata: ["address": "\(address)"])
            throw AuthError.invalidCredentials
        }
        await throttle.giveBack(attempt)
        await throttle.clear(.account(account))
        return try await startSession(for: credentials.user)
    }

    /// Checks a signed-in user's current password (before a password change or account deletion), counted in
    /// the same per-account budget as logins: a wrong one is throttled like a failed login.
    public func checkPassword(of user: User, _ password: String) async throws {
        let key = Rules.usernameKey(user.username)
        let account = Self.throttleKey(key)
        let attempt = try await reserve([.account(account)])
        let matches: Bool
        do {
            if let hash = try await store.userCredentials(usernameKey: key)?.passwordHash {
                matches = try await hasher.verify(password, hash: hash)
            } else {
                matches = false  // deleted meanwhile
            }
        } catch {
            await throttle.giveBack(attempt)
            throw error
        }
        guard matches else { throw AdminError.wrongPassword }  // stays counted
        await throttle.giveBack(attempt)
        await throttle.clear(.account(account))
    }

    /// Revokes the session behind `token`.
    public func logout(token: String) async throws {
        sessions.forget(tokenHash: SessionToken.hash(token))
        try await store.deleteSession(tokenHash: SessionToken.hash(token))
    }

    /// The user and live session behind a token; moves the expiry forward (at most once a minute), never past
    /// `sessionMaxAge` after the session was created. A session read lately comes from `sessions` until its
    /// expiry is due to move.
    public func authenticate(token: String) async throws -> Authenticated? {
        guard token.utf8.count <= 128 else { return nil }
        let now = self.now()
        let tokenHash = SessionToken.hash(token)
        if let cached = sessions.authenticated(tokenHash, now: now), now < cached.session.expiresAt,
            now - cached.session.lastUsedAt <= 60_000
        {
            return cached
        }
        let epoch = sessions.epoch
        guard let found = try await store.session(tokenHash: tokenHash, now: now), !found.user.disabled else {
            sessions.forget(tokenHash: tokenHash)
            return nil
        }
        var session = found.session
        let end = session.createdAt + sessionMaxAge
        guard now < end else {
            sessions.forget(tokenHash: tokenHash)
            try await store.deleteSession(tokenHash: tokenHash)
            return nil
        }
        if now - session.lastUsedAt > 60_000 {
            session.lastUsedAt = now
            session.expiresAt = min(now + sessionLifetime, end)
            try await store.touchSession(id: session.id, now: now, expiresAt: session.expiresAt)
        }
        let authenticated = Authenticated(user: found.user, session: session)
        sessions.remember(authenticated, tokenHash: tokenHash, now: now, epoch: epoch)
        return authenticated
    }

    /// Operator command: adds a user (role given, or admin for the very first account).
    public func addUser(username: String, password: String, role: Role?) async throws -> User {
        try await createUser(username: username, password: password, role: role, address: nil)
    }

    /// Operator command: sets a new password and signs the user out everywhere.
    public func resetPassword(username: String, password: String) async throws -> User {
        try Self.checkNewPassword(password)
        guard let credentials = try await store.userCredentials(usernameKey: Rules.usernameKey(username)) else {
            throw AuthError.unknownUser(username)
        }
        try await setPassword(password, userID: credentials.user.id)
        return credentials.user
    }

    /// The rules for a new password, broken as `AuthError.invalid`.
    static func checkNewPassword(_ password: String) throws(AuthError) {
        do { try Rules.password(password) } catch { throw AuthError.invalid(error) }
    }

    /// Stores the hash of a new (already checked) password and signs the user out everywhere but `keeping`.
    func setPassword(_ password: String, userID: Int64, keeping sessionID: Int64? = nil) async throws {
        try await store.setPasswordHash(userID: userID, passwordHash: try await hasher.hash(password))
        defer { sessions.forget(userID: userID) }
        try await store.deleteSessions(userID: userID, except: sessionID)
    }

    /// Operator command: makes a user an admin or a plain user (never the last admin a plain user).
    public func setRole(username: String, role: Role) async throws -> User {
        guard let user = try await store.userCredentials(usernameKey: Rules.usernameKey(username))?.user else {
            throw AuthError.unknownUser(username)
        }
        defer { sessions.forget(userID: user.id) }
        return try await refusingLastAdmin { try await store.updateUser(userID: user.id, role: role, disabled: nil) }
    }

    /// The cheap checks, then (for a sign-up) the address's budget, then bcrypt, then the insert, which decides
    /// the first admin atomically when no role is given.
    private func createUser(username rawName: String, password: String, role: Role?, address: String?) async throws
        -> User
    {
        let username = try validate { () throws(ValidationError) in try Rules.username(rawName) }
        try Self.checkNewPassword(password)
        let key = Rules.usernameKey(username)
        if try await store.userCredentials(usernameKey: key) != nil { throw AuthError.usernameTaken }
        if let address {
            // Stays counted whatever follows: the hash is spent.
            _ = try await reserve([.registrations(address: address)])
        }
        let hash = try await hasher.hash(password)
        do {
            if let role {
                return try await store.createUser(username: username, usernameKey: key, passwordHash: hash, role: role)
            }
            return try await store.createUserAdminIfFirst(username: username, usernameKey: key, passwordHash: hash)
        } catch StoreError.duplicate {
            throw AuthError.usernameTaken
        }
    }

    private func reserve(_ buckets: [LoginThrottle.Bucket]) async throws -> LoginThrottle.Attempt {
        switch try await throttle.reserve(buckets) {
        case .success(let attempt): return attempt
        case .failure(let refused): throw AuthError.throttled(retryAfterSeconds: refused.retryAfterSeconds)
        }
    }

    /// The throttle's key for a username key: itself, or its digest when it is longer than any real name's
    /// (so a megabyte of "name" is not stored per failed attempt).
    static func throttleKey(_ usernameKey: String) -> String {
        usernameKey.utf8.count <= 4 * Rules.usernameMaxBytes ? usernameKey : "sha256:" + SessionToken.hash(usernameKey)
    }

    private func startSession(for user: User) async throws -> (Authenticated, token: String) {
        let token = SessionToken.generate()
        let now = self.now()
        let session = try await store.createSession(
            userID: user.id, tokenHash: SessionToken.hash(token), expiresAt: now + min(sessionLifetime, sessionMaxAge))
        return (Authenticated(user: user, session: session), token)
    }

    private func validate<T>(_ body: () throws(ValidationError) -> T) throws(AuthError) -> T {
        do { return try body() } catch { throw AuthError.invalid(error) }
    }
}
