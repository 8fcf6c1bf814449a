import Logging
import ServiceLifecycle
import Synchronization

/// Keeps this instance's lease in the database and looks after the answers of every instance, once a save
/// interval:
/// - renews the lease; finding it gone (this instance was presumed dead, e.g. frozen past the lease) it stops its
///   answers without writing anything more (fencing: another instance has failed them and freed their
///   conversations) and starts a new lease;
/// - carries out the stops asked on other instances for its answers;
/// - reaps instances whose lease has run out: their answers fail (text kept), their conversations are free.
struct LeaseKeeper: Service {
    let answers: RunningAnswers
    let store: any RunningAnswerStore
    let lease: Duration
    let interval: Duration
    let logger: Logger
    /// Set once `start` has taken the lease: rounds before that (the server is still migrating) do nothing.
    let started = Flag()
    /// Since when the lease has been renewed without a failure.
    let renewing = RenewingSince()

    static let restartError = "The server restarted before this answer finished."
    static let reapError = "The server writing this answer stopped responding before it finished."

    private var instanceID: String { answers.instanceID }
    private var generations: Generations { answers.generations }

    /// Starts the lease (before the server takes requests): answers left by an earlier run under the same
    /// instance id fail at once; those of conversations nobody holds (left before leases existed) too.
    func start() async throws {
        let now = Millis.now()
        let restarted = try await store.startLease(instanceID: instanceID, now: now, error: Self.restartError)
        let orphaned = try await store.failOrphanedAnswers(error: Self.restartError, now: now)
        if restarted + orphaned > 0 {
            logger.warning("marked \(restarted + orphaned) unfinished answers as failed after a restart")
        }
        renewing.succeeded()
        started.set()
    }

    /// Rounds between two sweeps for answers nobody holds.
    static let sweepEveryRounds = 10

    func run() async throws {
        var rounds = 0
        while !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                break
            }
            guard started.isSet else { continue }
            rounds &+= 1
            await round(sweep: rounds % Self.sweepEveryRounds == 0)
        }
        // The generations have ended by now (they stop before this service): the lease can go.
        guard started.isSet else { return }
        do { try await store.endLease(instanceID: instanceID) } catch {
            logger.warning("could not end the lease of instance \(instanceID): \(error)")
        }
    }

    /// One round: the lease, this instance's answers, the others' leases, and with `sweep` the answers nobody
    /// holds.
    func round(sweep: Bool = false) async {
        do {
            guard try await renew() else { return }
            try await followRequests()
            try await reapExpired()
            if sweep {
                let now = Millis.now()
                let failed = try await store.failOrphanedAnswers(error: Self.reapError, now: now)
                if failed > 0 { logger.warning("failed \(failed) answers that no instance was writing") }
            }
        } catch {
            logger.warning("instance lease round failed (will retry): \(error)")
        }
    }

    /// Renews the lease; false (after fencing) when it had been lost.
    private func renew() async throws -> Bool {
        let now = Millis.now()
        let renewed: Bool
        do { renewed = try await store.renewLease(instanceID: instanceID, now: now) } catch {
            renewing.failed()
            throw error
        }
        renewing.succeeded()
        if renewed { return true }
        let running = generations.entries().values
        logger.error(
            """
            this instance's lease was lost (it was presumed dead): stopping its \(running.count) answers without \
            saving them; another instance has failed them
            """)
        for entry in running { entry.requestStop(.fenced) }
        _ = try await store.startLease(instanceID: instanceID, now: now, error: Self.reapError)
        return false
    }

    /// Stops asked on other instances; answers whose row another instance removed (fenced). Only generations that
    /// held their row before the rows were read count, and only while they still run here: a turn that starts
    /// meanwhile in the same conversation is not the one a stop or a missing row was about.
    private func followRequests() async throws {
        let shared = generations.entries().filter { $0.value.isShared }
        guard !shared.isEmpty else { return }
        let rows = try await store.heldAnswers(instanceID: instanceID)
        let requests = Dictionary(rows.map { ($0.conversationID, $0.stopRequest) }, uniquingKeysWith: { a, _ in a })
        for (conversationID, entry) in shared where generations.entry(conversationID) === entry {
            switch requests[conversationID] {
            case .some(.user?): entry.requestStop(.user)
            case .some(.accountClosed?):
                entry.requestStop(.accountClosed)
                entry.closeListeners()
            case .some(nil): break
            case nil:
                // Its row is gone while it still runs here (a generation frees its row only after leaving
                // `entries`): another instance presumed this one dead and took it over.
                logger.error("answer in conversation \(conversationID) was taken over by another instance: stopping it")
                entry.requestStop(.fenced)
            }
        }
    }

    /// Reaps every other instance whose lease ran out. Only while this instance has renewed its own lease for a
    /// whole lease: after a database outage (or this instance's own start) the others get that long to renew
    /// theirs before they are presumed dead.
    private func reapExpired() async throws {
        guard renewing.duration >= lease else { return }
        let now = Millis.now()
        let before = now - lease.milliseconds
        for instance in try await store.expiredLeases(before: before) where instance != instanceID {
            guard
                let failed = try await store.reap(instanceID: instance, before: before, error: Self.reapError, now: now)
            else { continue }
            logger.warning("instance \(instance) stopped renewing its lease: failed its \(failed) running answers")
        }
    }
}

/// A flag set once, read from any task.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// Since when an instance has renewed its lease without a failure.
final class RenewingSince: Sendable {
    private let since = Mutex<ContinuousClock.Instant?>(nil)

    func succeeded() {
        since.withLock { $0 = $0 ?? .now }
    }

    func failed() {
        since.withLock { $0 = nil }
    }

    /// How long it has renewed without a failure (zero after a failure).
    var duration: Duration {
        since.withLock { $0.map { .now - $0 } } ?? .zero
    }
}
