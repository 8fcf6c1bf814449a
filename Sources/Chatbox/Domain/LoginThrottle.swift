import Synchronization

/// Counts password checks per account, per client address and sign-ups per address in a sliding window; past
/// a limit, further attempts are refused until the oldest one leaves the window.
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
    }

    /// An admitted attempt, counted until given back.
    public struct Attempt: Sendable {
        fileprivate let id: UInt64
        fileprivate let buckets: [Bucket]
    }

    private struct Entry {
        let id: UInt64
        let at: ContinuousClock.Instant
    }

    private struct State {
        var entries: [Bucket: [Entry]] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())
    private let perAccount: Int
    private let perAddress: Int
    private let registrationsPerAddress: Int
    private let window: Duration

    public init(perAccount: Int, perAddress: Int, registrationsPerAddress: Int = 10, window: Duration) {
        self.perAccount = perAccount
        self.perAddress = perAddress
        self.registrationsPerAddress = registrationsPerAddress
        self.window = window
    }

    /// Admits and counts an attempt in every bucket, or refuses it with the seconds to wait (then nothing is
    /// counted). Check and count are one step, so concurrent attempts never exceed a limit.
    public func reserve(_ buckets: [Bucket]) -> Result<Attempt, Refused> {
        let now = ContinuousClock.now
        return state.withLock { state in
            let waits = buckets.compactMap { wait(&state, $0, now: now) }
            if let longest = waits.max() { return .failure(Refused(retryAfterSeconds: longest)) }
            state.nextID &+= 1
            let entry = Entry(id: state.nextID, at: now)
            for bucket in buckets { state.entries[bucket, default: []].append(entry) }
            if state.entries.count > 50_000 { prune(&state, now: now) }
            return .success(Attempt(id: entry.id, buckets: buckets))
        }
    }

    /// Seconds to wait before an attempt in these buckets would be admitted, or nil when it would be now.
    public func retryAfter(_ buckets: [Bucket]) -> Int? {
        let now = ContinuousClock.now
        return state.withLock { state in buckets.compactMap { wait(&state, $0, now: now) }.max() }
    }

    /// Un-counts an attempt: it succeeded, or failed for a reason that checked no password.
    public func giveBack(_ attempt: Attempt) {
        state.withLock { state in
            for bucket in attempt.buckets {
                state.entries[bucket]?.removeAll { $0.id == attempt.id }
                if state.entries[bucket]?.isEmpty == true { state.entries[bucket] = nil }
            }
        }
    }

    /// Forgets a bucket's count: a correct password clears its account's failures (its address keeps its count).
    public func clear(_ bucket: Bucket) {
        _ = state.withLock { $0.entries.removeValue(forKey: bucket) }
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

    private func wait(_ state: inout State, _ bucket: Bucket, now: ContinuousClock.Instant) -> Int? {
        guard var entries = state.entries[bucket] else { return nil }
        entries.removeAll { now - $0.at >= window }
        state.entries[bucket] = entries.isEmpty ? nil : entries
        guard entries.count >= limit(bucket), let oldest = entries.first else { return nil }
        let remaining = window - (now - oldest.at)
        return max(1, Int(remaining.components.seconds) + 1)
    }

    private func prune(_ state: inout State, now: ContinuousClock.Instant) {
        state.entries = state.entries.compactMapValues { entries in
            let kept = entries.filter { now - $0.at < window }
            return kept.isEmpty ? nil : kept
        }
    }
}
