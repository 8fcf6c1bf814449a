import Synchronization

/// The first-token and stall deadlines of every answer running here, kept by one task instead of a sleeping task
/// per answer. While answers are watched it wakes every `tick` (and not at all otherwise), and times out those whose
/// model sent nothing for too long; a deadline is thus met within one tick.
final class Watchdog: Sendable {
    /// Called once, on the watchdog's task, when a watched answer times out.
    typealias Expired = @Sendable (ModelError) -> Void

    private struct Watched {
        let progress: Progress
        let started: ContinuousClock.Instant
        let expired: Expired
    }
    private struct State {
        var watched: [UInt64: Watched] = [:]
        var nextID: UInt64 = 0
        var running = false
    }
    private let state = Mutex(State())
    let firstTokenTimeout: Duration
    let stallTimeout: Duration
    let tick: Duration

    init(firstTokenTimeout: Duration, stallTimeout: Duration, tick: Duration = .milliseconds(100)) {
        self.firstTokenTimeout = firstTokenTimeout
        self.stallTimeout = stallTimeout
        self.tick = tick
    }

    /// Watches an answer whose request went out at `started`; returns the key to `unwatch` it with.
    func watch(_ progress: Progress, started: ContinuousClock.Instant, expired: @escaping Expired) -> UInt64 {
        let (id, start) = state.withLock { state in
            state.nextID &+= 1
            state.watched[state.nextID] = Watched(progress: progress, started: started, expired: expired)
            defer { state.running = true }
            return (state.nextID, !state.running)
        }
        if start { Task { await run() } }
        return id
    }

    /// Stops watching an answer (it ended). An `expired` already picked in the same tick may still run just after:
    /// the caller checks for a recorded timeout only when the model call did not end by itself.
    func unwatch(_ id: UInt64) {
        _ = state.withLock { $0.watched.removeValue(forKey: id) }
    }

    /// How many answers are watched.
    var count: Int { state.withLock { $0.watched.count } }

    private func run() async {
        let clock = ContinuousClock()
        while true {
            try? await Task.sleep(for: tick, clock: clock)
            let now = clock.now
            let due: [(Expired, ModelError)]? = state.withLock { state in
                guard !state.watched.isEmpty else {
                    state.running = false
                    return nil
                }
                var due: [(UInt64, Expired, ModelError)] = []
                for (id, watched) in state.watched {
                    if let error = timeout(watched, now: now) { due.append((id, watched.expired, error)) }
                }
                for (id, _, _) in due { state.watched[id] = nil }
                return due.map { ($0.1, $0.2) }
            }
            guard let due else { return }
            for (expired, error) in due { expired(error) }
        }
    }

    /// The timeout an answer has reached at `now`, if any: no first piece within the first-token timeout, or
    /// no further piece within the stall timeout.
    private func timeout(_ watched: Watched, now: ContinuousClock.Instant) -> ModelError? {
        let last = watched.progress.lastPiece.load(ordering: .relaxed)
        if last < 0 {
            guard now - watched.started >= firstTokenTimeout else { return nil }
            return ModelError(
                .timeout,
                "The model did not start answering within \(firstTokenTimeout.components.seconds) seconds.")
        }
        guard now - (watched.started + .nanoseconds(last)) >= stallTimeout else { return nil }
        return ModelError(.timeout, "The model stopped sending for \(stallTimeout.components.seconds) seconds.")
    }
}
