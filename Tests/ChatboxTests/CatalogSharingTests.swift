import Foundation
import Logging
import Synchronization
import Testing

@testable import Chatbox

/// Several instances on one database: an admin's change of models on one reaches the others' catalogs.
@Suite("Model catalog across instances")
struct CatalogSharingTests {
    static func catalog(_ store: SQLChatStore, _ httpClients: ModelHTTPClients, interval: Duration) -> ModelCatalog {
        ModelCatalog(
            settings: ModelSettings(), store: store, httpClients: httpClients, logger: Logger(label: "catalog"),
            versionCheckInterval: interval)
    }

    /// Polls `condition` until it holds or a minute has passed (a busy machine); returns whether it held.
    static func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    /// An admin's changes on one instance reach another's catalog: connections added, changed and deleted, and
    /// the choice of the default model.
    @Test(arguments: Backend.all)
    func anotherInstancesCatalogSeesTheAdminsChanges(_ backend: Backend) async throws {
        let httpClients = ModelHTTPClients()
        defer { Task { try? await httpClients.shutdown() } }
        try await backend.withStore { store in
            let admin = Self.catalog(store, httpClients, interval: .seconds(2))
            let other = Self.catalog(store, httpClients, interval: .seconds(2))
            let ids = { @Sendable () async throws -> [String] in try await other.visibleModels().models.map(\.id) }
            #expect(try await !ids().contains("m1"))  // the other instance has read (and cached) the catalog

            // An address nothing listens on: its list fails at once and the manual ids are offered.
            let created = try await admin.createConnection(
                .init(name: "Shared", kind: "openai_compatible", baseURL: "http://127.0.0.1:9/v1", models: ["m1"]))
            #expect(try await Self.eventually { try await ids().contains("m1") }, "an added connection")

            _ = try await admin.setModelChoices(defaultModel: .some("m1"), titleModel: nil, hidden: nil)
            #expect(
                try await Self.eventually { try await other.visibleModels().defaultID == "m1" }, "a new default")

            _ = try await admin.updateConnection(id: created.connection.id, .init(models: ["m2"]))
            #expect(
                try await Self.eventually {
                    let now = try await ids()
                    return now.contains("m2") && !now.contains("m1")
                }, "a changed connection")

            try await admin.deleteConnection(id: created.connection.id)
            #expect(try await Self.eventually { try await !ids().contains("m2") }, "a deleted connection")
        }
    }

    /// Between two checks a catalog serves from its cache (no database read per request): with an hour between
    /// checks, another instance's change stays unseen, and a new catalog (a restart) sees it.
    @Test(arguments: Backend.all)
    func betweenChecksTheCacheIsServed(_ backend: Backend) async throws {
        let httpClients = ModelHTTPClients()
        defer { Task { try? await httpClients.shutdown() } }
        try await backend.withStore { store in
            let admin = Self.catalog(store, httpClients, interval: .zero)
            let lazy = Self.catalog(store, httpClients, interval: .seconds(3600))
            let before = try await lazy.visibleModels().models.map(\.id)
            _ = try await admin.createConnection(
                .init(name: "Shared", kind: "openai_compatible", baseURL: "http://127.0.0.1:9/v1", models: ["m1"]))
            #expect(try await admin.visibleModels().models.map(\.id).contains("m1"))
            #expect(try await lazy.visibleModels().models.map(\.id) == before)
            let restarted = Self.catalog(store, httpClients, interval: .seconds(3600))
            #expect(try await restarted.visibleModels().models.map(\.id).contains("m1"))
        }
    }

    /// The version check runs beside the caller: with the version read held back, a catalog past its interval
    /// still answers from its cache (a turn's start does not wait for the database).
    @Test(arguments: Backend.all)
    func aVersionCheckDoesNotHoldUpTheCaller(_ backend: Backend) async throws {
        let httpClients = ModelHTTPClients()
        defer { Task { try? await httpClients.shutdown() } }
        try await backend.withStore { store in
            let held = HeldVersionStore(store)
            let catalog = ModelCatalog(
                settings: ModelSettings(), store: held, httpClients: httpClients, logger: Logger(label: "catalog"),
                versionCheckInterval: .milliseconds(1))
            let models = try await catalog.visibleModels().models.map(\.id)  // the first check is waited for
            held.hold()
            try await Task.sleep(for: .milliseconds(20))  // past the interval
            let answered = HeldVersionStore.Flag()
            let served = Task {
                let ids = try await catalog.visibleModels().models.map(\.id)
                answered.set()
                return ids
            }
            #expect(try await Self.eventually { answered.isSet }, "answered while the version read is held")
            #expect(try await Self.eventually { held.heldReads > 0 }, "a version check did start, beside the caller")
            held.release()
            #expect(try await served.value == models)
        }
    }
}

/// A store whose reads of `catalog_version` wait while held.
final class HeldVersionStore: ConnectionStore, SettingsStore, Sendable {
    final class Flag: Sendable {
        private let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }
    /// The gate reads wait at while held (nil: not held), and how many waited.
    private let state = Mutex<(gate: WriteConflictTests.Gate?, heldReads: Int)>((nil, 0))
    let inner: SQLChatStore

    init(_ inner: SQLChatStore) { self.inner = inner }

    func hold() { state.withLock { $0.gate = WriteConflictTests.Gate() } }

    func release() {
        state.withLock { state in
            defer { state.gate = nil }
            return state.gate
        }?.open()
    }

    /// Version reads that came while held.
    var heldReads: Int { state.withLock { $0.heldReads } }

    func setting(_ name: String) async throws -> String? {
        if name == ModelCatalog.versionSetting {
            let gate = state.withLock { state in
                if state.gate != nil { state.heldReads += 1 }
                return state.gate
            }
            await gate?.wait()
        }
        return try await inner.setting(name)
    }
    func setSetting(_ name: String, value: String) async throws { try await inner.setSetting(name, value: value) }
    func connections() async throws -> [ModelConnection] { try await inner.connections() }
    func connection(id: Int64) async throws -> ModelConnection? { try await inner.connection(id: id) }
    func createConnection(_ connection: ModelConnection) async throws -> ModelConnection {
        try await inner.createConnection(connection)
    }
    func updateConnection(_ connection: ModelConnection) async throws -> ModelConnection {
        try await inner.updateConnection(connection)
    }
    func deleteConnection(id: Int64) async throws { try await inner.deleteConnection(id: id) }
}
