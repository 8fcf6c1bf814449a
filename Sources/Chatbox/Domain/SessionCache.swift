import Synchronization

/// Sessions authenticated lately, by the hash of their token, so that a request (a chat turn above all) does not
/// wait for a database read of its session every time. An entry is used for at most `lifetime` after it was read;
/// on this instance it is forgotten at once when the session ends (logout, revocation) or its user changes
/// (password, role, disabled, deleted). Another instance's change is seen within `lifetime`.
final class SessionCache: Sendable {
    private struct Entry {
        let authenticated: Authenticated
        let readAt: Millis
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Counts forgets: a session read before a forget must not be remembered after it.
        var epoch: UInt64 = 0
    }

    private let state = Mutex(State())
    /// How long an entry is used; zero turns the cache off.
    let lifetime: Millis
    /// Entries kept at most; past it, the cache starts over (a burst of new sessions cannot grow it without bound).
    let capacity: Int

    init(lifetime: Millis, capacity: Int = 50_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// The session and user behind a token hash if read less than `lifetime` before `now`.
    func authenticated(_ tokenHash: String, now: Millis) -> Authenticated? {
        guard lifetime > 0 else { return nil }
        return state.withLock { state in
            guard let entry = state.entries[tokenHash] else { return nil }
            guard now >= entry.readAt, now - entry.readAt < lifetime else {
                state.entries[tokenHash] = nil
                return nil
            }
            return entry.authenticated
        }
    }

    /// Where forgetting stands: taken before reading a session from the database, given back to `remember`.
    var epoch: UInt64 { state.withLock { $0.epoch } }

    /// Remembers a session read from the database, unless something was forgotten since `epoch` (the read may
    /// predate that change).
    func remember(_ authenticated: Authenticated, tokenHash: String, now: Millis, epoch: UInt64) {
        guard lifetime > 0 else { return }
        state.withLock { state in
            guard state.epoch == epoch else { return }
            if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
            state.entries[tokenHash] = Entry(authenticated: authenticated, readAt: now)
        }
    }

    func forget(tokenHash: String) {
        forget { key, _ in key == tokenHash }
    }

    /// Forgets every session of a user (whose password, role or state changed, or who was deleted).
    func forget(userID: Int64) {
        forget { _, entry in entry.authenticated.user.id == userID }
    }

    /// Forgets one session by its id (revoked from the account page).
    func forget(sessionID: Int64) {
        forget { _, entry in entry.authenticated.session.id == sessionID }
    }

    private func forget(where matches: (String, Entry) -> Bool) {
        state.withLock { state in
            state.epoch &+= 1
            state.entries = state.entries.filter { !matches($0.key, $0.value) }
        }
    }
}
