import Synchronization

/// Counts failed logins per account and per client address in a sliding window; past the limit, further
/// attempts are refused until the oldest failure leaves the window.
public final class LoginThrottle: Sendable {
    private struct State {
        var failures: [String: [ContinuousClock.Instant]] = [:]
    }
    private let state = Mutex(State())
    private let perAccount: Int
    private let perAddress: Int
    private let window: Duration

    public init(perAccount: Int, perAddress: Int, window: Duration) {
        self.perAccount = perAccount
        self.perAddress = perAddress
        self.window = window
    }

    /// Seconds to wait before another attempt for this account or address, or nil when one may try now.
    public func retryAfter(account: String, address: String) -> Int? {
        let now = ContinuousClock.now
        return state.withLock { state in
            let waits = [
                wait(&state, "u:" + account, limit: perAccount, now: now),
                wait(&state, "a:" + address, limit: perAddress, now: now),
            ].compactMap { $0 }
            return waits.max()
        }
    }

    public func recordFailure(account: String, address: String) {
        let now = ContinuousClock.now
        state.withLock { state in
            state.failures["u:" + account, default: []].append(now)
            state.failures["a:" + address, default: []].append(now)
            if state.failures.count > 50_000 { prune(&state, now: now) }
        }
    }

    /// A successful login clears the account's failures (the address keeps its count).
    public func recordSuccess(account: String) {
        _ = state.withLock { $0.failures.removeValue(forKey: "u:" + account) }
    }

    private func wait(_ state: inout State, _ key: String, limit: Int, now: ContinuousClock.Instant) -> Int? {
        guard var times = state.failures[key] else { return nil }
        times.removeAll { now - $0 >= window }
        state.failures[key] = times.isEmpty ? nil : times
        guard times.count >= limit, let oldest = times.first else { return nil }
        let remaining = window - (now - oldest)
        return max(1, Int(remaining.components.seconds) + 1)
    }

    private func prune(_ state: inout State, now: ContinuousClock.Instant) {
        state.failures = state.failures.compactMapValues { times in
            let kept = times.filter { now - $0 < window }
            return kept.isEmpty ? nil : kept
        }
    }
}
