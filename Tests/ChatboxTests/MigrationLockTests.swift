import Foundation
import Logging
import SQLKit
import Synchronization
import Testing

@testable import Chatbox

/// Instances starting together on one database all come up: migrations run under a lock row, one at a time.
@Suite("Migrations under a lock row, on every database")
struct MigrationLockTests {
    static func instances(_ location: DatabaseLocation, count: Int) async throws -> [(SQLChatStore, OpenDatabase)] {
        var opened: [(SQLChatStore, OpenDatabase)] = []
        for _ in 0..<count {
            let logger = Logger(label: "instance")
            let database = try await OpenDatabase.open(location, mysqlPoolSize: 2, logger: logger)
            opened.append((SQLChatStore(db: database.sql, flavor: database.flavor, logger: logger), database))
        }
        return opened
    }

    static func migrateAtOnce(_ stores: [SQLChatStore]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for store in stores { group.addTask { try await store.migrate() } }
            try await group.waitForAll()
        }
    }

    static func appliedVersions(_ store: SQLChatStore) async throws -> [Int] {
        try await store.db.raw("SELECT version FROM schema_migrations ORDER BY version").all()
            .map { try $0.decode(column: "version", as: Int.self) }
    }

    static func lockRows(_ store: SQLChatStore) async throws -> Int {
        try await store.db.raw("SELECT COUNT(*) AS n FROM migration_lock").first()?.decode(column: "n", as: Int.self)
            ?? -1
    }

    @Test(arguments: Backend.all)
    func instancesMigratingAnEmptyDatabaseAtOnceAllSucceed(_ backend: Backend) async throws {
        let instances = try await Self.instances(backend.freshLocation(), count: 4)
        do {
            try await Self.migrateAtOnce(instances.map(\.0))
            let store = instances[0].0
            #expect(try await Self.appliedVersions(store) == Migrations.steps.map(\.version))
            #expect(try await Self.lockRows(store) == 0, "the lock was given back")
            // The schema is whole: the newest tables work.
            let throttle = LoginThrottle(store: store, perAccount: 1, perAddress: 10, window: .seconds(60))
            _ = try await throttle.reserve([.account("x")]).get()
            _ = try await store.createUser(username: "u", usernameKey: "u", passwordHash: "h", role: .user)
        } catch {
            for instance in instances { await instance.1.close() }
            throw error
        }
        for instance in instances { await instance.1.close() }
    }

    @Test(arguments: Backend.all)
    func instancesMigratingAVersion6DatabaseAtOnceAllSucceed(_ backend: Backend) async throws {
        let instances = try await Self.instances(backend.freshLocation(), count: 4)
        do {
            let store = instances[0].0
            let user = try await seedVersion6(store)
            #expect(try await Self.appliedVersions(store) == [1, 2, 3, 4, 5, 6])
            try await Self.migrateAtOnce(instances.map(\.0))
            #expect(try await Self.appliedVersions(store) == Migrations.steps.map(\.version))
            #expect(try await Self.lockRows(store) == 0)
            let conversation = try #require(
                try await store.conversations(userID: user.id, limit: 5, after: nil, query: nil).conversations.first)
            let messages = try await store.messages(conversationID: conversation.id)
            #expect(messages.map(\.content) == ["q1", "a1", "q2", "a2"])
            #expect(messages.map(\.parentID) == [nil] + messages.dropLast().map(\.id), "step 7 ran exactly once")
            #expect(conversation.currentLeafID == messages.last?.id)
        } catch {
            for instance in instances { await instance.1.close() }
            throw error
        }
        for instance in instances { await instance.1.close() }
    }

    @Test(arguments: Backend.all)
    func aStaleLockIsTakenOverAndAFreshOneIsWaitedFor(_ backend: Backend) async throws {
        try await backend.withStore { store in
            let now = Millis.now()
            // Left by an instance that died mid-migration ten minutes ago: taken over.
            try await store.db.raw(
                "INSERT INTO migration_lock (id, owner, acquired_at) VALUES (1, 'dead', \(bind: now - 600_000))"
            ).run()
            try await store.migrate()
            #expect(try await Self.lockRows(store) == 0)

            // Held (and fresh) by another instance: waited for, up to the bound, then a clear error.
            try await store.db.raw(
                "INSERT INTO migration_lock (id, owner, acquired_at) VALUES (1, 'alive', \(bind: Millis.now()))"
            ).run()
            let short = MigrationLock.Timing(maxWait: .milliseconds(300), firstPause: .milliseconds(20))
            await #expect(throws: MigrationLock.TimedOut.self) {
                try await Migrations.run(on: store.db, flavor: store.flavor, now: .now(), lock: short)
            }
            #expect(try await Self.lockRows(store) == 1, "another's lock is never deleted while fresh")

            // Released meanwhile: the waiter gets it.
            let waiting = Task {
                try await Migrations.run(
                    on: store.db, flavor: store.flavor, now: .now(), lock: .init(firstPause: .milliseconds(20)))
            }
            try await Task.sleep(for: .milliseconds(100))
            try await store.db.raw("DELETE FROM migration_lock WHERE owner = 'alive'").run()
            try await waiting.value
            #expect(try await Self.lockRows(store) == 0)
        }
    }

    struct Failure: Error {}

    @Test(arguments: Backend.all)
    func theLockIsGivenBackWhenTheMigrationFails(_ backend: Backend) async throws {
        try await backend.withStore { store in
            let heldWhileRunning = Mutex(-1)
            do {
                try await MigrationLock.holding(on: store.db, flavor: store.flavor, timing: .init()) {
                    () async throws -> Void in
                    let rows = try await Self.lockRows(store)
                    heldWhileRunning.withLock { $0 = rows }
                    throw Failure()
                }
                Issue.record("the failure was not rethrown")
            } catch is Failure {}
            #expect(heldWhileRunning.withLock { $0 } == 1, "held while the body ran")
            #expect(try await Self.lockRows(store) == 0, "given back after it failed")
        }
    }
}
