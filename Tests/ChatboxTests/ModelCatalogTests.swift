import FakeUpstream
import Foundation
import Logging
import Testing

@testable import Chatbox

@Suite("Model catalog: ids across connections, hidden, default and title models")
struct ModelCatalogTests {
    @Test(arguments: Backend.all)
    func idsAreUniqueAcrossConnections(_ backend: Backend) async throws {
        let second = try await FakeUpstream.start(models: ["shared", "only-second"])
        defer { Task { await second.stop() } }
        try await withCatalogApp(backend, startupModels: ["fake", "shared"]) { api, admin, _ in
            let created = try await api.createConnection(
                token: admin, ["name": "Second", "kind": "openai_compatible", "base_url": second.baseURL])
            #expect(created.status == .created, "\(created.text)")
            let reply = try await api.models(token: admin)
            #expect(reply.status == .ok)
            let models = try #require(reply.json["models"] as? [[String: String]])
            #expect(
                models == [
                    ["id": "fake", "name": "fake", "connection": "127.0.0.1"],
                    ["id": "shared", "name": "shared", "connection": "127.0.0.1"],
                    ["id": "only-second", "name": "only-second", "connection": "Second"],
                    ["id": "Second/shared", "name": "shared", "connection": "Second"]
                ])
            #expect(reply.json["default"] as? String == "fake")
        }
    }

    @Test(arguments: Backend.all)
    func theAdminHidesModelsAndSetsTheDefaultAndTitleModels(_ backend: Backend) async throws {
        try await withCatalogApp(backend, startupModels: ["fake", "big", "small"]) { api, admin, _ in
            let initial = try await api.adminModels(token: admin)
            #expect(initial.status == .ok)
            #expect(initial.json["default_model"] is NSNull)
            #expect(initial.json["title_model"] is NSNull)

            let hidden = try await api.adminModels(token: admin, ["hidden": ["big"], "default_model": "small"])
            #expect(hidden.status == .ok, "\(hidden.text)")
            let flags = (hidden.json["models"] as? [[String: Any]] ?? []).map {
                "\($0["id"] as? String ?? "?")=\($0["hidden"] as? Bool ?? false)"
            }
            #expect(flags == ["big=true", "fake=false", "small=false"])
            #expect(hidden.json["default_model"] as? String == "small")
            let user = try await api.signUp("reader")
            let visible = try await api.models(token: user)
            #expect(visible.modelIDs == ["fake", "small"])
            #expect(visible.json["default"] as? String == "small")

            // A hidden default is not offered: the first visible model is.
            _ = try await api.adminModels(token: admin, ["hidden": ["small"]])
            #expect(try await api.models(token: user).json["default"] as? String == "big")

            let unknown = try await api.adminModels(token: admin, ["default_model": "nope"])
            #expect(unknown.status == .unprocessableContent)
            #expect(unknown.errorMessage == "The model nope is not available.")
            #expect(try await api.adminModels(token: admin, ["title_model": "nope"]).status == .unprocessableContent)

            let titled = try await api.adminModels(token: admin, ["title_model": "fake", "hidden": [String]()])
            #expect(titled.json["title_model"] as? String == "fake")
            #expect(titled.json["default_model"] as? String == "small")
            #expect(try await api.models(token: user).modelIDs == ["big", "fake", "small"])
            let cleared = try await api.adminModels(token: admin, ["title_model": NSNull(), "default_model": NSNull()])
            #expect(cleared.json["title_model"] is NSNull)
            #expect(cleared.json["default_model"] is NSNull)
            #expect(try await api.models(token: user).json["default"] as? String == "big")
        }
    }

    /// The catalog as the chat asks it: models by id, the default, the title model, and models that went away.
    @Test(arguments: Backend.all)
    func theChatGetsModelsByIdAndTheKeyGoesToTheProviderOnly(_ backend: Backend) async throws {
        let startup = try await FakeUpstream.start(models: ["fake"])
        let second = try await FakeUpstream.start(models: ["fake", "two"])
        defer {
            Task {
                await startup.stop()
                await second.stop()
            }
        }
        let httpClients = ModelHTTPClients()
        defer { Task { try? await httpClients.shutdown() } }
        try await backend.withStore { store in
            var settings = ModelSettings()
            settings.baseURL = startup.baseURL
            settings.model = "fake"
            let catalog = ModelCatalog(
                settings: settings, store: store, httpClients: httpClients, logger: Logger(label: "test"))
            let created = try await catalog.createConnection(
                .init(
                    name: "Second", kind: "openai_compatible", baseURL: second.baseURL, apiKey: "sk-secret-42",
                    headers: [.init(name: "X-Team", value: "blue")]))
            #expect(await catalog.defaultModelID() == "fake")
            #expect(await catalog.isAvailable("Second/fake"))
            #expect(await catalog.titleModel() == nil)

            let resolved = try await catalog.chatModel(id: "Second/fake")
            #expect(resolved.id == "Second/fake")
            #expect(resolved.model.displayName == "fake")
            var answer = ""
            for try await piece in resolved.model.streamAnswer(to: [.init(role: .user, content: "hi")]) {
                answer += piece
            }
            #expect(!answer.isEmpty)
            let request = try #require(second.requests().last)
            #expect(request.model == "fake")
            #expect(request.headers.contains { $0.0 == "authorization" && $0.1 == "Bearer sk-secret-42" })
            #expect(request.headers.contains { $0.0 == "x-team" && $0.1 == "blue" })
            #expect(startup.requests().isEmpty)

            let defaultModel = try await catalog.chatModel(id: nil)
            #expect(defaultModel.id == "fake")

            // The title model: the admin's if set and available.
            _ = try await catalog.setModelChoices(defaultModel: nil, titleModel: .some("two"), hidden: nil)
            #expect(await catalog.titleModel()?.displayName == "two")
            _ = try await catalog.setModelChoices(defaultModel: nil, titleModel: nil, hidden: ["two"])
            #expect(await catalog.titleModel() == nil)
            await #expect(throws: ChatError.modelUnavailable("two")) { try await catalog.chatModel(id: "two") }
            await #expect(throws: ChatError.modelUnavailable("gone")) { try await catalog.chatModel(id: "gone") }

            // A deleted connection's models are gone.
            try await catalog.deleteConnection(id: created.connection.id)
            #expect(await !catalog.isAvailable("Second/fake"))
            await #expect(throws: ChatError.modelUnavailable("Second/fake")) {
                try await catalog.chatModel(id: "Second/fake")
            }

            // A fresh catalog (a restart) reads the connections and choices back from the database.
            let again = ModelCatalog(
                settings: settings, store: store, httpClients: httpClients, logger: Logger(label: "test"))
            #expect(try await again.modelChoices().models.map { $0.model.id } == ["fake"])
            #expect(try await again.modelChoices().titleModel == "two")
        }
    }

    @Test func theStartUpTitleSettingsStayTheTitleModelWhenTheAdminSetNone() async throws {
        let httpClients = ModelHTTPClients()
        defer { Task { try? await httpClients.shutdown() } }
        try await Backend.sqlite.withStore { store in
            var settings = ModelSettings()
            settings.command = "cat"
            settings.titleBaseURL = "http://127.0.0.1:9/v1"
            settings.titleModel = "titler"
            let catalog = ModelCatalog(
                settings: settings, store: store, httpClients: httpClients, logger: Logger(label: "test"))
            #expect(await catalog.titleModel()?.displayName == "titler")
            #expect(try await catalog.visibleModels().models.map(\.id) == ["command: cat"])
            _ = try await catalog.setModelChoices(defaultModel: nil, titleModel: .some("command: cat"), hidden: nil)
            #expect(await catalog.titleModel()?.displayName == "command: cat")
        }
    }

    @Test func withoutSettingsTheDemoAndItsThinkingVariantAreTheModels() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let admin = try await api.signUp("admin")
            let models = try await api.models(token: admin)
            #expect(models.modelIDs == ["demo", "demo-thinking"])
            #expect(models.json["default"] as? String == "demo")
            let startup = try #require(try await api.connections(token: admin).connectionList.first)
            #expect(startup["kind"] as? String == "demo")
            #expect(startup["name"] as? String == "Demo")
        }
    }

    @Test func providerListsInBothShapesAreRead() {
        #expect(
            ModelListing.parse(Data(#"{"object":"list","data":[{"id":"a"},{"id":" b "},{"id":"a"}]}"#.utf8)) == [
                "a", "b"
            ])
        #expect(ModelListing.parse(Data(#"{"models":[{"name":"qwen3:8b","model":"qwen3:8b"}]}"#.utf8)) == ["qwen3:8b"])
        #expect(ModelListing.parse(Data(#"{"data":[]}"#.utf8)) == [])
        #expect(ModelListing.parse(Data(#"{"nothing":1}"#.utf8)) == nil)
        #expect(ModelListing.parse(Data("<html>".utf8)) == nil)
    }
}

/// `GET {base}/models` against real sockets: a provider that never answers, one whose list is too large, and
/// secrets in the URL that the error must not repeat.
@Suite("Model listing: limits and errors")
struct ModelListingTests {
    /// Runs `body` with a listing of `baseURL` and shuts its HTTP client down however `body` ends (a client left
    /// running stops the whole test process when it is freed).
    static func withListing(
        _ baseURL: String, apiKey: String? = nil, timeout: Duration = .seconds(60),
        _ body: (ModelListing) async throws -> Void
    ) async throws {
        let clients = ModelHTTPClients()
        var listing = ModelListing(
            baseURL: baseURL, apiKey: apiKey, headers: [], httpClients: clients, logger: Logger(label: "test"))
        listing.timeout = timeout
        do { try await body(listing) } catch {
            try? await clients.shutdown()
            throw error
        }
        try await clients.shutdown()
    }

    /// A loopback socket that accepts connections (the kernel's backlog) and never answers; returns it and its port.
    static func silentListener() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw CancellationError() }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    @Test func aProviderThatNeverAnswersTimesOut() async throws {
        let (fd, port) = try Self.silentListener()
        defer { close(fd) }
        try await Self.withListing("http://127.0.0.1:\(port)/v1", timeout: .milliseconds(300)) { listing in
            let error = await #expect(throws: ModelError.self) { try await listing.fetch() }
            #expect(error?.kind == .timeout)
            #expect(error?.message == "127.0.0.1:\(port) did not list its models within 300 ms.")
        }
    }

    @Test func aListOverOneMebibyteIsRefused() async throws {
        let ids = (0..<40_000).map { "model-with-a-fairly-long-name-\($0)" }
        let fake = try await FakeUpstream.start(models: ids)
        do {
            try await Self.withListing(fake.baseURL) { listing in
                let error = await #expect(throws: ModelError.self) { try await listing.fetch() }
                #expect(error?.message == "The model list of 127.0.0.1:\(fake.port) is larger than 1 MiB.")
                var large = listing
                large.maxBytes = 64 << 20
                let count = try await large.fetch().count
                #expect(count == 40_000)
            }
        } catch {
            await fake.stop()
            throw error
        }
        await fake.stop()
    }

    @Test func secretsInTheURLAreNotRepeated() async throws {
        let placeholder = try await FakeUpstream.start(models: [])
        let port = placeholder.port
        await placeholder.stop()
        try await Self.withListing(
            "http://user:hunter2-pass@127.0.0.1:\(port)/v1?key=query-secret-1", apiKey: "sk-key-secret"
        ) { listing in
            let error = await #expect(throws: ModelError.self) { try await listing.fetch() }
            let message = try #require(error?.message)
            #expect(message == "Could not reach 127.0.0.1:\(port) to list its models (connection refused).")
            for secret in ["hunter2-pass", "query-secret-1", "sk-key-secret"] { #expect(!message.contains(secret)) }
        }
    }
}
