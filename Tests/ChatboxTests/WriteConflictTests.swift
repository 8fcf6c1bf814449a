import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import SQLKit
import Synchronization
import Testing

@testable import Chatbox

/// Nothing assumes one writer: ids come with the INSERT, and writes that lose to concurrent ones (deadlocks,
/// Galera certification failures, lock waits) are retried, then answered with 503.
@Suite("Write conflicts and insert ids")
struct WriteConflictTests {

    /// The insert id comes with the INSERT: right for a single row and for a multi-row INSERT (its first row).
    @Test(arguments: Backend.all)
    func insertIdsComeWithTheInsert(_ backend: Backend) async throws {
        try await backend.withStore { store in
            let first = try await store.createUser(username: "a", usernameKey: "a", passwordHash: "h", role: .user)
            let second = try await store.createUser(username: "b", usernameKey: "b", passwordHash: "h", role: .user)
            #expect(second.id > first.id)
            let names = try await store.db.raw("SELECT id, username FROM users ORDER BY id").all()
                .map {
                    (try $0.decode(column: "id", as: Int64.self), try $0.decode(column: "username", as: String.self))
                }
            #expect(names.map(\.0) == [first.id, second.id])
            #expect(names.map(\.1) == ["a", "b"])
        }
    }

    // MARK: write conflicts

    @Test func aWriteConflictIsA503WithAClearMessage() async throws {
        let router = Router()
        router.add(middleware: ErrorMiddleware())
        router.get("conflict") { _, _ -> String in throw StoreError.conflict }
        router.get("other") { _, _ -> String in throw StoreError.duplicate }
        try await Application(router: router).test(.router) { client in
            try await client.execute(uri: "/conflict", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
                let body = String(buffer: response.body)
                #expect(body.contains("The database is busy with a conflicting change; please try again."), "\(body)")
            }
            try await client.execute(uri: "/other", method: .get) { response in
                #expect(response.status == .internalServerError, "only a conflict is worth trying again")
            }
        }
        #expect(DatabaseErrors.isWriteConflict(StoreError.conflict))
        #expect(!DatabaseErrors.isWriteConflict(StoreError.notFound))
        #expect(DatabaseErrors.unavailableMessage(StoreError.conflict) == DatabaseErrors.conflictMessage)
    }

    /// Opens once: a continuation-based latch two transactions use to meet.
    final class Gate: Sendable {
        private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

        func open() {
            let waiters = state.withLock { state in
                state.open = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }

        /// Returns once the gate is open, or at once when the task is cancelled (then it opens the gate, so that
        /// a test whose other side failed ends instead of waiting forever).
        func wait() async {
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let open = state.withLock { state in
                        if !state.open { state.waiters.append(continuation) }
                        return state.open
                    }
                    if open { continuation.resume() }
                }
            } onCancel: {
                open()
            }
        }
    }

    static func counters(_ store: SQLChatStore) async throws {
        try await store.db.raw("CREATE TABLE counters (id INT NOT NULL PRIMARY KEY, n INT NOT NULL) ENGINE=InnoDB")
            .run()
        try await store.db.raw("INSERT INTO counters (id, n) VALUES (1, 0), (2, 0)").run()
    }

    final class Counter: Sendable {
        private let count = Mutex(0)
        var value: Int { count.withLock { $0 } }
        func next() -> Int {
            count.withLock { count in
                count += 1
                return count
            }
        }
    }

    /// Updates row `first`, then (on the first try, once the other transaction holds its own first row) `second`.
    static func lockBoth(
        _ store: SQLChatStore, _ attempts: Counter, first: Int, then second: Int, add: Int, mine: Gate, theirs: Gate
    ) async throws {
        try await store.transaction { conn in
            let attempt = attempts.next()
            try await conn.raw("UPDATE counters SET n = n + \(bind: add) WHERE id = \(bind: first)").run()
            if attempt == 1 {
                mine.open()
                await theirs.wait()
            }
            try await conn.raw("UPDATE counters SET n = n + \(bind: add) WHERE id = \(bind: second)").run()
        }
    }

    /// Two transactions lock two rows in opposite order: MariaDB kills one (deadlock 1213, as Galera reports a
    /// write certified first on another node); the store runs it again and both changes are made.
    @Test(.enabled(if: Backend.mysqlURL != nil, "needs CHATBOX_TEST_MYSQL_URL (scripts/test.sh starts a server)"))
    func aDeadlockedTransactionIsRunAgainAndBothCommit() async throws {
        try await Backend.mariadb.withStore(poolSize: 4) { store in
            try await Self.counters(store)
            let (one, two) = (Counter(), Counter())
            let (firstLocked, secondLocked) = (Gate(), Gate())
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await Self.lockBoth(
                        store, one, first: 1, then: 2, add: 1, mine: firstLocked, theirs: secondLocked)
                }
                group.addTask {
                    try await Self.lockBoth(
                        store, two, first: 2, then: 1, add: 10, mine: secondLocked, theirs: firstLocked)
                }
                try await group.waitForAll()
            }
            #expect(one.value + two.value == 3, "exactly one of them ran twice")
            let values = try await store.db.raw("SELECT n FROM counters ORDER BY id").all()
                .map { try $0.decode(column: "n", as: Int.self) }
            #expect(values == [11, 11], "both transactions' changes, once each")
        }
    }

    /// A transaction that keeps losing (here: a row another connection holds, lock wait timeout 1205) is given
    /// up after a few tries as `StoreError.conflict`, which the HTTP layer answers with 503.
    @Test(.enabled(if: Backend.mysqlURL != nil, "needs CHATBOX_TEST_MYSQL_URL (scripts/test.sh starts a server)"))
    func aTransactionThatKeepsLosingEndsAsAConflict() async throws {
        try await Backend.mariadb.withStore(poolSize: 4) { store in
            try await Self.counters(store)
            let (held, release) = (Gate(), Gate())
            let holder = Task {
                try await store.db.withSession { conn in
                    try await conn.raw("START TRANSACTION").run()
                    try await conn.raw("SELECT n FROM counters WHERE id = 1 FOR UPDATE").run()
                    held.open()
                    await release.wait()
                    try await conn.raw("ROLLBACK").run()
                }
            }
            await held.wait()
            let attempts = Mutex(0)
            await #expect(throws: StoreError.conflict) {
                try await store.transaction { conn in
                    attempts.withLock { $0 += 1 }
                    try await conn.raw("SET SESSION innodb_lock_wait_timeout = 1").run()
                    try await conn.raw("UPDATE counters SET n = n + 1 WHERE id = 1").run()
                }
            }
            release.open()
            try await holder.value
            #expect(attempts.withLock { $0 } == SQLChatStore.conflictAttempts)
            let value = try await store.db.raw("SELECT n FROM counters WHERE id = 1").first()?
                .decode(column: "n", as: Int.self)
            #expect(value == 0, "nothing was changed")
        }
    }
}
