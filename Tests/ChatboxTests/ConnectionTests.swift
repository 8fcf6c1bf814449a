import Chatbox
import FakeUpstream
import Foundation
import HTTPTypes
import Testing

extension API {
    // One helper per connections, models and presets endpoint.
    func connections(token: String) async throws -> Reply {
        try await call(.get, "/api/admin/connections", token: token)
    }
    func createConnection(token: String, _ body: [String: Any]) async throws -> Reply {
        try await call(.post, "/api/admin/connections", json: Self.json(body), token: token)
    }
    func updateConnection(token: String, _ id: Int64, _ body: [String: Any]) async throws -> Reply {
        try await call(.patch, "/api/admin/connections/\(id)", json: Self.json(body), token: token)
    }
    func deleteConnection(token: String, _ id: Int64) async throws -> Reply {
        try await call(.delete, "/api/admin/connections/\(id)", token: token)
    }
    func refreshConnection(token: String, _ id: Int64) async throws -> Reply {
        try await call(.post, "/api/admin/connections/\(id)/refresh", token: token)
    }
    func adminModels(token: String, _ body: [String: Any]? = nil) async throws -> Reply {
        try await call(body == nil ? .get : .patch, "/api/admin/models", json: body.map(Self.json), token: token)
    }
    func models(token: String) async throws -> Reply { try await call(.get, "/api/models", token: token) }

    static func json(_ object: [String: Any]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }
}

extension API.Reply {
    var connectionID: Int64? { (json["id"] as? NSNumber)?.int64Value }
    var connectionList: [[String: Any]] { json["connections"] as? [[String: Any]] ?? [] }
    /// The model ids of `GET /api/models`, in order.
    var modelIDs: [String] { (json["models"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String } }
}

/// A live app whose start-up connection is a fake upstream listing `startupModels`, with an admin signed in.
func withCatalogApp(
    _ backend: Backend, startupModels: [String]? = ["fake"],
    _ adjust: @escaping (inout AppConfig) -> Void = { _ in },
    _ body: @escaping @Sendable (API, String, FakeUpstream) async throws -> Void
) async throws {
    let fake = try await FakeUpstream.start(models: startupModels)
    let config = TestConfig.make(database: backend.freshLocation(), modelBaseURL: fake.baseURL, adjust)
    do {
        try await withLiveApp(config) { api in
            let admin = try await api.signUp("admin")
            try await body(api, admin, fake)
        }
    } catch {
        await fake.stop()
        throw error
    }
    await fake.stop()
}

@Suite("Model connections: the admin's CRUD, validation and key secrecy")
struct ConnectionTests {
    static let key = "sk-very-secret-key-123456"

    @Test(arguments: Backend.all)
    func anAdminAddsChangesAndDeletesConnections(_ backend: Backend) async throws {
        let second = try await FakeUpstream.start(models: ["m1", "m2"])
        defer { Task { await second.stop() } }
        try await withCatalogApp(backend) { api, admin, _ in
            var replies: [API.Reply] = []
            let startup = try await api.connections(token: admin)
            replies.append(startup)
            #expect(startup.status == .ok)
            let first = try #require(startup.connectionList.first)
            #expect(startup.connectionList.count == 1)
            #expect(first["id"] as? Int == 0)
            #expect(first["read_only"] as? Bool == true)
            #expect(first["kind"] as? String == "openai_compatible")
            #expect(first["models"] as? [String] == ["fake"])
            #expect(first["error"] is NSNull)

            let created = try await api.createConnection(
                token: admin,
                [
                    "name": "Second", "kind": "openai", "base_url": second.baseURL, "api_key": Self.key,
                    "headers": ["X-Title": "Chatbox"], "models": ["manual-1", " manual-1 "]
                ])
            replies.append(created)
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.connectionID)
            #expect(created.json["kind"] as? String == "openai_compatible")
            #expect(created.json["api_key_set"] as? Bool == true)
            #expect(created.json["base_url"] as? String == second.baseURL)
            #expect(created.json["headers"] as? [String: String] == ["X-Title": "Chatbox"])
            #expect(created.json["models"] as? [String] == ["m1", "m2", "manual-1"])
            #expect(created.json["manual_models"] as? [String] == ["manual-1"])
            #expect(created.json["read_only"] as? Bool == false)
            #expect(created.json["refreshed_at"] is String)

            // Absent fields are kept (the key too); a new name is taken.
            let renamed = try await api.updateConnection(token: admin, id, ["name": "Renamed"])
            replies.append(renamed)
            #expect(renamed.status == .ok, "\(renamed.text)")
            #expect(renamed.json["name"] as? String == "Renamed")
            #expect(renamed.json["api_key_set"] as? Bool == true)
            #expect(renamed.json["manual_models"] as? [String] == ["manual-1"])
            // "" clears the key.
            let cleared = try await api.updateConnection(token: admin, id, ["api_key": ""])
            replies.append(cleared)
            #expect(cleared.json["api_key_set"] as? Bool == false)
            let listed = try await api.connections(token: admin)
            replies.append(listed)
            #expect(listed.connectionList.map { $0["name"] as? String } == ["127.0.0.1", "Renamed"])

            #expect(try await api.deleteConnection(token: admin, id).status == .noContent)
            #expect(try await api.deleteConnection(token: admin, id).status == .notFound)
            #expect(try await api.updateConnection(token: admin, id, ["name": "x"]).status == .notFound)
            #expect(try await api.connections(token: admin).connectionList.count == 1)
            for reply in replies {
                #expect(!reply.text.contains("\"api_key\""))
                #expect(!reply.text.contains(Self.key))
            }
        }
    }

    @Test(arguments: Backend.all)
    func badConnectionsAreRefused(_ backend: Backend) async throws {
        try await withCatalogApp(backend) { api, admin, fake in
            let bad: [([String: Any], HTTPResponse.Status, String)] = [
                (["name": "A", "kind": "telepathy", "base_url": fake.baseURL], .unprocessableContent, "Kind"),
                (["name": "A", "kind": "openai_compatible"], .unprocessableContent, "base URL"),
                (["name": "A", "kind": "openai_compatible", "base_url": "ftp://x/v1"], .unprocessableContent, "http"),
                (["name": "A", "kind": "command"], .unprocessableContent, "command"),
                (["kind": "demo"], .unprocessableContent, "Name"),
                (["name": "   ", "kind": "demo"], .unprocessableContent, "Name"),
                (["name": String(repeating: "n", count: 65), "kind": "demo"], .unprocessableContent, "64"),
                (["name": "A", "kind": "demo", "headers": ["Bad Name": "x"]], .unprocessableContent, "header"),
                // The start-up connection's name is taken too.
                (["name": "127.0.0.1", "kind": "demo"], .conflict, "already exists")
            ]
            for (body, status, words) in bad {
                let reply = try await api.createConnection(token: admin, body)
                #expect(reply.status == status, "\(body): \(reply.text)")
                #expect(reply.errorMessage?.contains(words) == true, "\(body): \(reply.text)")
            }
            #expect(try await api.createConnection(token: admin, ["name": "Echo", "kind": "demo"]).status == .created)
            let twice = try await api.createConnection(token: admin, ["name": "echo", "kind": "demo"])
            #expect(twice.status == .conflict)
            #expect(twice.errorMessage == "A connection named \"echo\" already exists.")
            let other = try await api.createConnection(
                token: admin, ["name": "Tool", "kind": "command", "command": "cat"])
            #expect(other.status == .created, "\(other.text)")
            #expect(other.json["models"] as? [String] == ["Tool"])
            let id = try #require(other.connectionID)
            #expect(try await api.updateConnection(token: admin, id, ["name": "Echo"]).status == .conflict)
            #expect(try await api.updateConnection(token: admin, id, ["command": ""]).status == .unprocessableContent)

            // The start-up connection is read-only.
            let patch = try await api.updateConnection(token: admin, 0, ["name": "Mine"])
            #expect(patch.status == .conflict)
            #expect(patch.errorMessage?.contains("CHATBOX_LLM_") == true)
            #expect(try await api.deleteConnection(token: admin, 0).status == .conflict)
            #expect(try await api.refreshConnection(token: admin, 0).status == .ok)
        }
    }

    @Test(arguments: Backend.all)
    func aFailedListingKeepsTheManualModelsAndNeverShowsTheKey(_ backend: Backend) async throws {
        let silent = try await FakeUpstream.start(models: nil)
        defer { Task { await silent.stop() } }
        try await withCatalogApp(backend) { api, admin, _ in
            let created = try await api.createConnection(
                token: admin,
                [
                    "name": "Silent", "kind": "openai_compatible", "base_url": silent.baseURL + "/",
                    "api_key": Self.key, "models": ["by-hand"]
                ])
            #expect(created.status == .created, "\(created.text)")
            let error = try #require(created.json["error"] as? String)
            #expect(error.contains("404"), "\(error)")
            #expect(error.contains("no model list here"), "\(error)")
            #expect(!error.contains(Self.key))
            #expect(created.json["models"] as? [String] == ["by-hand"])
            #expect(created.json["refreshed_at"] is NSNull)
            let models = try await api.models(token: admin)
            #expect(models.modelIDs == ["fake", "by-hand"])
            #expect(!models.text.contains(Self.key))
            let id = try #require(created.connectionID)
            let refreshed = try await api.refreshConnection(token: admin, id)
            #expect(refreshed.status == .ok)
            #expect(refreshed.json["error"] as? String == error)
            #expect(refreshed.json["models"] as? [String] == ["by-hand"])
        }
    }

    @Test(arguments: Backend.all)
    func refreshFetchesTheListAgain(_ backend: Backend) async throws {
        // A port where nothing listens yet: the first listing fails, and after the provider starts there, the
        // cached failure stays until the admin's Refresh. The port is held by a socket that is bound but does not
        // listen (connections are refused), so that no other test's server takes it meanwhile.
        let held = try BoundPort()
        let port = held.port
        try await withCatalogApp(backend) { api, admin, _ in
            let created = try await api.createConnection(
                token: admin,
                ["name": "Late", "kind": "openai_compatible", "base_url": "http://127.0.0.1:\(port)/v1"])
            #expect(created.status == .created)
            let error = try #require(created.json["error"] as? String)
            #expect(error.contains("127.0.0.1:\(port)"), "\(error)")
            let id = try #require(created.connectionID)
            held.close()
            // Under the full parallel suite the port was once seen busy for a moment after it was let go: retry.
            var attempt = 0
            let late: FakeUpstream
            while true {
                do {
                    late = try await FakeUpstream.start(port: port, models: ["late-1", "late-2"])
                    break
                } catch  where attempt < 40 {
                    attempt += 1
                    try await Task.sleep(for: .milliseconds(250))
                }
            }
            defer { Task { await late.stop() } }
            let cached = try await api.connections(token: admin).connectionList.last
            #expect(cached?["error"] as? String == error)
            #expect(try await api.models(token: admin).modelIDs == ["fake"])
            let refreshed = try await api.refreshConnection(token: admin, id)
            #expect(refreshed.status == .ok)
            #expect(refreshed.json["error"] is NSNull)
            #expect(refreshed.json["models"] as? [String] == ["late-1", "late-2"])
            #expect(refreshed.json["refreshed_at"] is String)
            #expect(try await api.models(token: admin).modelIDs == ["fake", "late-1", "late-2"])
            #expect(try await api.refreshConnection(token: admin, 999).status == .notFound)
        }
    }

    @Test(arguments: Backend.all)
    func onlyAdminsManageConnectionsAndEveryoneSeesTheModels(_ backend: Backend) async throws {
        try await withCatalogApp(backend) { api, admin, _ in
            let user = try await api.signUp("someone")
            for (method, path) in [
                (HTTPRequest.Method.get, "/api/admin/connections"), (.post, "/api/admin/connections"),
                (.patch, "/api/admin/connections/1"), (.delete, "/api/admin/connections/1"),
                (.post, "/api/admin/connections/0/refresh"), (.get, "/api/admin/models"),
                (.patch, "/api/admin/models")
            ] {
                #expect(try await api.call(method, path, json: "{}", token: user).status == .forbidden, "\(path)")
                #expect(try await api.call(method, path, json: "{}").status == .unauthorized, "\(path)")
            }
            let models = try await api.models(token: user)
            #expect(models.status == .ok)
            #expect(models.modelIDs == ["fake"])
            #expect(models.json["default"] as? String == "fake")
            #expect(try await api.call(.get, "/api/models").status == .unauthorized)
            #expect(try await api.connections(token: admin).status == .ok)
        }
    }
}

/// A loopback port held by a bound socket that does not listen: connecting is refused, and no one else can bind it
/// until `close`. It is picked below Linux's ephemeral range (32768–60999 by default), which every port-0 server
/// and every outgoing connection of the other tests draws from, so that it is still free once closed.
final class BoundPort: @unchecked Sendable {
    let port: Int
    private var fd: Int32

    struct Failed: Error { let step: String }

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failed(step: "socket") }
        for _ in 0..<200 {
            let candidate = UInt16.random(in: 20_000..<32_000)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = candidate.bigEndian
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                    bind(fd, pointer, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            if bound {
                self.fd = fd
                port = Int(candidate)
                return
            }
        }
        Foundation.close(fd)
        throw Failed(step: "bind")
    }

    /// Frees the port (once).
    func close() {
        guard fd >= 0 else { return }
        Foundation.close(fd)
        fd = -1
    }

    deinit { close() }
}
