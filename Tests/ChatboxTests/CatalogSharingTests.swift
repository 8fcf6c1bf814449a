import Foundation
import Logging
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
}
