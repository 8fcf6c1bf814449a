@testable import Chatbox
import Foundation
import Synchronization
import Testing

/// The pool behind SQLite's connections: a caller never waits for a resource that cannot come.
@Suite("AsyncPool: waiting, cancelling, closing")
struct AsyncPoolTests {
    /// Whether a task has finished, for checking that it is still waiting.
    final class Finished: Sendable {
        private let flag = Mutex(false)
        var value: Bool { flag.withLock { $0 } }
        func set() { flag.withLock { $0 = true } }
    }

    /// A task holding the pool's only resource until `release` finishes; returns once it holds it.
    static func holdTheOnlyResource<R: Sendable>(of pool: AsyncPool<R>) async -> (
        holder: Task<Void, any Error>, release: AsyncStream<Void>.Continuation
    ) {
        let (held, hold) = AsyncStream<Void>.makeStream()
        let (released, release) = AsyncStream<Void>.makeStream()
        let holder = Task {
            defer { hold.finish() }
            try await pool.with { _ in
                hold.yield()
                for await _ in released { break }
            }
        }
        for await _ in held { break }
        return (holder, release)
    }

    /// A closed pool fails its waiting callers at once and every caller after, and hands the resource to the
    /// closer only once its holder is done with it.
    @Test func closingFailsTheWaitersAndLaterCallersAndWaitsForTheHolder() async throws {
        let pool = AsyncPool(["connection"])
        let (holder, release) = await Self.holdTheOnlyResource(of: pool)
        let waiter = Task { try await pool.with { $0 } }
        let closed = Finished()
        let closer = Task {
            let all = await pool.close(count: 1)
            closed.set()
            return all
        }
        await #expect(throws: AsyncPoolClosed.self) { try await waiter.value }
        #expect(!closed.value, "the holder still has the connection")
        await #expect(throws: AsyncPoolClosed.self) { try await pool.with { $0 } }
        release.finish()
        try await holder.value
        #expect(await closer.value == ["connection"])
    }

    /// A caller whose task is cancelled while it waits stops waiting; the resource goes to the next one.
    @Test func aCancelledWaiterStopsWaitingAndTheNextGetsTheResource() async throws {
        let pool = AsyncPool([1])
        let (holder, release) = await Self.holdTheOnlyResource(of: pool)
        let cancelled = Task { try await pool.with { $0 } }
        let next = Task { try await pool.with { $0 } }
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        release.finish()
        try await holder.value
        #expect(try await next.value == 1)
        #expect(await pool.close(count: 1) == [1], "nothing was lost")
    }

    /// Through SQLite: queries after the database was closed fail with a plain reason instead of waiting.
    @Test func aQueryAfterTheDatabaseClosedFailsInsteadOfWaiting() async throws {
        let path = TestConfig.temporaryDirectory().appendingPathComponent("closed.sqlite").path
        let database = try await OpenDatabase.open(.sqlite(path: path), mysqlPoolSize: 1, logger: .init(label: "test"))
        try await database.sql.raw("SELECT 1").run()
        await database.close()
        await #expect(throws: AsyncPoolClosed.self) { try await database.sql.raw("SELECT 1").run() }
        await #expect(throws: AsyncPoolClosed.self) { try await database.sql.raw("CREATE TABLE t (x INT)").run() }
        #expect(
            DatabaseErrors.unavailableMessage(AsyncPoolClosed())
                == "The server is shutting down; please try again shortly.")
    }
}
