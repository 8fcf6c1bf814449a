import Foundation
import Logging
import NIOPosix
import Synchronization

/// A bounded pool of connections.
///
/// - At most `poolSize` connections are open (or being opened) at once.
/// - When all are leased, callers queue (FIFO, suspended, no polling) and get the next released connection;
///   after `poolTimeoutSeconds` a waiter fails with a clear `MariaDBError` (`isPoolTimeout`).
/// - A connection that failed with a connection error is closed on release and its slot reopened on demand.
/// - An idle connection the server has closed meanwhile (restart, `wait_timeout`) is noticed at checkout
///   without a round trip (its socket is readable) and replaced by a fresh one, so after an outage the first
///   queries succeed instead of failing on stale connections.
/// - Connections are opened on the database's own thread pool (blocking libmariadb calls).
final class ConnectionPool: Sendable {
    let configuration: MariaDBConfiguration
    let threadPool: NIOThreadPool
    let logger: Logger
    private let state = Mutex(State())

    private enum Grant: Sendable {
        case connection(MariaDBConnection)
        case openSlot  // a slot is reserved: open a new connection in it
    }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Grant, any Error>
        var timeout: Task<Void, Never>?
    }

    private struct State {
        var idle: [MariaDBConnection] = []
        var open = 0  // open or being opened, leased or idle
        var waiters: [Waiter] = []  // oldest first
        var nextWaiterID: UInt64 = 0
        var isShutdown = false
    }

    struct Statistics: Sendable, Equatable {
        var open: Int
        var idle: Int
        var waiting: Int
    }

    init(configuration: MariaDBConfiguration, threadPool: NIOThreadPool, logger: Logger) {
        self.configuration = configuration
        self.threadPool = threadPool
        self.logger = logger
    }

    var statistics: Statistics {
        state.withLock { Statistics(open: $0.open, idle: $0.idle.count, waiting: $0.waiters.count) }
    }

    private var shutdownError: MariaDBError {
        MariaDBError(
            code: 0, message: "the database connection pool is shut down", endpoint: configuration.endpoint,
            reason: .shutdown)
    }

    /// A connection for the caller's exclusive use; give it back with `release`.
    func lease() async throws -> MariaDBConnection {
        switch try await grant() {
        case .connection(let connection):
            if connection.looksAlive { return connection }
            logger.debug(
                "MySQL: replacing a pooled connection closed by the server",
                metadata: [
                    "connection": "\(connection.serialNumber)"
                ])
            connection.close()
        case .openSlot:
            break
        }
        do {
            return try await openConnection()
        } catch {
            releaseSlot()
            throw error
        }
    }

    /// Returns a leased connection: a healthy one goes to the next waiter or back to the idle list, a broken
    /// one is closed and its slot offered to the next waiter.
    func release(_ connection: MariaDBConnection) {
        let reusable = !connection.isBroken
        let (waiter, grant, close): (Waiter?, Grant?, Bool) = state.withLock { s in
            if s.isShutdown {
                s.open -= 1
                return (nil, nil, true)
            }
            if !reusable {
                guard !s.waiters.isEmpty else {
                    s.open -= 1
                    return (nil, nil, true)
                }
                return (s.waiters.removeFirst(), .openSlot, true)  // the slot passes on to the waiter
            }
            if !s.waiters.isEmpty { return (s.waiters.removeFirst(), .connection(connection), false) }
            s.idle.append(connection)
            return (nil, nil, false)
        }
        if close {
            if !reusable {
                logger.info(
                    "MySQL: discarding a broken connection",
                    metadata: [
                        "connection": "\(connection.serialNumber)"
                    ])
            }
            connection.close()
        }
        if let waiter, let grant {
            waiter.timeout?.cancel()
            waiter.continuation.resume(returning: grant)
        }
    }

    /// Closes idle connections and fails every waiter; leased connections are closed when released.
    func shutdown() async {
        let (idle, waiters): ([MariaDBConnection], [Waiter]) = state.withLock { s in
            s.isShutdown = true
            let idle = s.idle
            let waiters = s.waiters
            s.idle = []
            s.waiters = []
            s.open -= idle.count
            return (idle, waiters)
        }
        for waiter in waiters {
            waiter.timeout?.cancel()
            waiter.continuation.resume(throwing: shutdownError)
        }
        guard !idle.isEmpty else { return }
        do {
            try await threadPool.runIfActive { for c in idle { c.close() } }
        } catch {
            for c in idle { c.close() }
        }
    }

    // MARK: - internals

    private func openConnection() async throws -> MariaDBConnection {
        let configuration = self.configuration
        let connection: MariaDBConnection
        do {
            connection = try await threadPool.runIfActive {
                try MariaDBConnection.open(configuration, database: configuration.database)
            }
        } catch is NIOThreadPoolError.ThreadPoolInactive {
            throw shutdownError
        }
        logger.debug(
            "MySQL: opened connection",
            metadata: [
                "connection": "\(connection.serialNumber)", "server": "\(configuration.endpoint)"
            ])
        return connection
    }

    /// A reserved slot was not used (opening failed): hand it to the next waiter or free it.
    private func releaseSlot() {
        let waiter: Waiter? = state.withLock { s in
            if !s.isShutdown, !s.waiters.isEmpty { return s.waiters.removeFirst() }
            s.open -= 1
            return nil
        }
        if let waiter {
            waiter.timeout?.cancel()
            waiter.continuation.resume(returning: .openSlot)
        }
    }

    private enum Decision {
        case grant(Grant)
        case wait(UInt64)
        case shutdown
    }

    private func grant() async throws -> Grant {
        let size = configuration.poolSize
        let decision: Decision = state.withLock { s in
            if s.isShutdown { return .shutdown }
            if let c = s.idle.popLast() { return .grant(.connection(c)) }
            if s.open < size {
                s.open += 1
                return .grant(.openSlot)
            }
            s.nextWaiterID += 1
            return .wait(s.nextWaiterID)
        }
        switch decision {
        case .shutdown: throw shutdownError
        case .grant(let grant): return grant
        case .wait(let id): return try await wait(id: id)
        }
    }

    private func wait(id: UInt64) async throws -> Grant {
        let size = configuration.poolSize
        let seconds = configuration.poolTimeoutSeconds
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Grant, any Error>) in
                let immediate: Result<Grant, any Error>? = state.withLock { s in
                    if s.isShutdown { return .failure(shutdownError) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if let c = s.idle.popLast() { return .success(.connection(c)) }
                    if s.open < size {
                        s.open += 1
                        return .success(.openSlot)
                    }
                    s.waiters.append(Waiter(id: id, continuation: continuation, timeout: nil))
                    return nil
                }
                if let immediate {
                    continuation.resume(with: immediate)
                    return
                }
                let timeout = Task { [weak self] in
                    try? await Task.sleep(for: .seconds(seconds))
                    if !Task.isCancelled { self?.timeOut(id: id) }
                }
                let stillWaiting = state.withLock { s in
                    guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return false }
                    s.waiters[i].timeout = timeout
                    return true
                }
                if !stillWaiting { timeout.cancel() }
            }
        } onCancel: {
            self.removeWaiter(id: id, error: CancellationError())
        }
    }

    private func timeOut(id: UInt64) {
        let size = configuration.poolSize
        let seconds = configuration.poolTimeoutSeconds
        removeWaiter(
            id: id,
            error: MariaDBError(
                code: 0,
                message: "no free connection within \(seconds) s (all \(size) pooled connections busy); "
                    + "raise poolSize or look for slow queries",
                endpoint: configuration.endpoint, reason: .poolTimeout))
    }

    private func removeWaiter(id: UInt64, error: any Error) {
        let waiter: Waiter? = state.withLock { s in
            guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return s.waiters.remove(at: i)
        }
        if let waiter {
            waiter.timeout?.cancel()
            waiter.continuation.resume(throwing: error)
        }
    }
}
