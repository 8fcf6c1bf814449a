import Logging
import Synchronization

/// Counts password checks per account, per client address and sign-ups per address in a sliding window; past
/// a limit, further attempts are refused until the oldest one leaves the window.
///
/// The counts live in the database (`LoginAttemptStore`), so every instance on it throttles with the same counts:
/// five failures spread over three instances are five, not five per instance.
///
/// An attempt is counted *before* the expensive work (bcrypt) and settled after it: `reserve` admits it and
/// records it at once, so a burst of parallel requests cannot all pass the check before any failure is recorded;
/// `giveBack` removes it again (a success, or an error that checked nothing); otherwise it stays counted.
public final class LoginThrottle: Sendable {
    /// What is counted: failed password checks of one account or from one address, or sign-ups from one address.
    public enum Bucket: Hashable, Sendable {
        case account(String)
        case address(String)
        case registrations(address: String)

        /// The bucket's name in the database: its kind and its key; a key too long for the column (a megabyte of
        /// "user name", a forged address) by its digest.
        var name: String {
            let (kind, key): (String, String) =
                switch self {
                case .account(let name): ("account", name)
                case .address(let address): ("address", address)
                case .registrations(let address): ("registrations", address)
                }
            return key.unicodeScalars.count <= 180 ? "\(kind):\(key)" : "\(kind):sha256:\(SessionToken.hash(key))"
        }
    }

    /// An admitted attempt, counted until given back: its row in each bucket.
    public struct Attempt: Sendable {
        fileprivate let ids: [Int64]
    }

    private let store: any LoginAttemptStore
    private let perAccount: Int
    private let perAddress: Int
    private let registrationsPerAddress: Int
    private let window: Millis
    private let logger: Logger
    private let now: @Sendable () -> Millis
    /// When this process last deleted the attempts that left the window.
    private let lastPrune = Mutex<Millis>(0)
    /// This instance's reservations run one at a time (a few short queries each; bcrypt runs outside), so a
    /// burst on one instance is admitted exactly up to the limit.
    private let turns = AsyncPool([true])

    public init(
        store: any LoginAttemptStore, perAccount: Int, perAddress: Int, registrationsPerAddress: Int = 10,
        window: Duration, logger: Logger = Logger(label: "chatbox.throttle"),
        now: @escaping @Sendable () -> Millis = { .now() }
    ) {
        self.store = store
        self.perAccount = perAccount
        self.perAddress = perAddress
        self.registrationsPerAddress = registrationsPerAddress
        self.window = max(1, window.wholeNanoseconds / 1_000_000)
        self.logger = logger
        self.now = now
    }

    /// Admits and counts an attempt in every bucket, or refuses it with the seconds to wait (then nothing is
    /// counted). Concurrent attempts never exceed a limit: on one instance they take turns; across instances the
    /// attempt is recorded first and the buckets counted after, and one that then finds a bucket over its limit
    /// (another instance raced it for the last places) deletes its rows again and is refused. Under such a race
    /// more may be refused than strictly needed, never fewer.
    public func reserve(_ buckets: [Bucket]) async throws -> Result<Attempt, Refused> {
        try await turns.with { _ in try await reserveInTurn(buckets) }
    }

    private func reserveInTurn(_ buckets: [Bucket]) async throws -> Result<Attempt, Refused> {
        let now = self.now()
        await pruneNowAndThen(now: now)
        let names = buckets.map(\.name)
        // Refused at once when a bucket is already full: the refusal counts nowhere.
        if let longest = try await waits(buckets, names, now: now, excluding: []).max() {
            return .failure(Refused(retryAfterSeconds: longest))
        }
        let ids = try await store.addLoginAttempts(buckets: names, at: now)
        do {
            let over = try await waits(buckets, names, now: now, excluding: Set(ids), overOnly: true)
            if let longest = over.max() {
                try await store.deleteLoginAttempts(ids: ids)
                return .failure(Refused(retryAfterSeconds: longest))
            }
        } catch {
            try? await store.deleteLoginAttempts(ids: ids)
            throw error
        }
        return .success(Attempt(ids: ids))
    }

    /// Seconds to wait before an attempt in these buckets would be admitted, or nil when it would be now.
    public func retryAfter(_ buckets: [Bucket]) async throws -> Int? {
        try await waits(buckets, buckets.map(\.name), now: now(), excluding: []).max()
    }

    /// Un-counts an attempt: it succeeded, or failed for a reason that checked no password. Should the database
    /// fail meanwhile, the attempt stays counted (and is logged).
    public func giveBack(_ attempt: Attempt) async {
        do { try await store.deleteLoginAttempts(ids: attempt.ids) } catch {
            logger.error("giving back a login attempt failed: \(error)")
        }
    }

    /// Forgets a bucket's count: a correct password clears its account's failures (its address keeps its count).
    public func clear(_ bucket: Bucket) async {
        do { try await store.deleteLoginAttempts(bucket: bucket.name) } catch {
            logger.error("clearing a login throttle bucket failed: \(error)")
        }
    }

    /// Refused: too many attempts in a bucket; `retryAfterSeconds` until the oldest leaves the window.
    public struct Refused: Error, Equatable {
        public let retryAfterSeconds: Int
    }

    private func limit(_ bucket: Bucket) -> Int {
        switch bucket {
        case .account: perAccount
        case .address: perAddress
        case .registrations: registrationsPerAddress
        }
    }

    /// For each full bucket, the seconds until enough of its attempts (other than `excluding`) leave the window
    /// for one more to fit. `overOnly`: only buckets holding more than their limit, `excluding` included (the
    /// check after recording, where the attempt's own rows are in the count).
    private func waits(
        _ buckets: [Bucket], _ names: [String], now: Millis, excluding own: Set<Int64>, overOnly: Bool = false
    ) async throws -> [Int] {
        // Kept while `now - at < window`, as an attempt leaves the window exactly `window` after it was made.
        let attempts = try await store.loginAttempts(buckets: names, since: now - window + 1)
        var waits: [Int] = []
        for (bucket, name) in zip(buckets, names) {
            let all = attempts.filter { $0.bucket == name }
            let limit = limit(bucket)
            if overOnly, all.count <= limit { continue }
            let others = all.filter { !own.contains($0.id) }
            guard others.count >= limit else { continue }
            // Oldest first: once the first `others.count - limit + 1` have left, one more fits.
            let blockingAt = limit > 0 ? others[others.count - limit].attemptedAt : now
            let remaining = window - (now - blockingAt)
            waits.append(max(1, Int(remaining / 1000) + 1))
        }
        return waits
    }

    /// Deletes the attempts that left the window, at most once a minute (or once a window, if shorter) per
    /// instance; a failure only delays it.
    private func pruneNowAndThen(now: Millis) async {
        let every = min(window, 60_000)
        let due = lastPrune.withLock { last in
            guard now - last >= every else { return false }
            last = now
            return true
        }
        guard due else { return }
        do { _ = try await store.deleteLoginAttempts(before: now - window) } catch {
            logger.warning("pruning old login attempts failed: \(error)")
        }
    }
}
