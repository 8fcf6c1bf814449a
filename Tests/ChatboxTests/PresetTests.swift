import Chatbox
import Foundation
import Testing

extension API {
    func presets(token: String) async throws -> Reply { try await call(.get, "/api/presets", token: token) }
    func createPreset(token: String, _ body: [String: Any]) async throws -> Reply {
        try await call(.post, "/api/presets", json: Self.json(body), token: token)
    }
    func updatePreset(token: String, _ id: Int64, _ body: [String: Any]) async throws -> Reply {
        try await call(.patch, "/api/presets/\(id)", json: Self.json(body), token: token)
    }
    func deletePreset(token: String, _ id: Int64) async throws -> Reply {
        try await call(.delete, "/api/presets/\(id)", token: token)
    }
}

@Suite("Presets: a user's saved chat settings")
struct PresetTests {
    @Test(arguments: Backend.all)
    func aUserSavesChangesAndDeletesPresets(_ backend: Backend) async throws {
        try await withCatalogApp(backend, startupModels: ["fake", "other"]) { api, token, _ in
            let created = try await api.createPreset(
                token: token,
                ["name": "Translator", "model": "other", "system_prompt": "Translate.", "temperature": 0.2])
            #expect(created.status == .created, "\(created.text)")
            let id = try #require((created.json["id"] as? NSNumber)?.int64Value)
            #expect(created.json["name"] as? String == "Translator")
            #expect(created.json["model"] as? String == "other")
            #expect(created.json["system_prompt"] as? String == "Translate.")
            #expect(created.json["temperature"] as? Double == 0.2)
            #expect(created.json["created_at"] is String)
            let bare = try await api.createPreset(token: token, ["name": "Anything"])
            #expect(bare.status == .created)
            #expect(bare.json["model"] is NSNull)
            #expect(bare.json["system_prompt"] is NSNull)
            #expect(bare.json["temperature"] is NSNull)

            let list = try await api.presets(token: token)
            #expect(list.status == .ok)
            #expect(
                (list.json["presets"] as? [[String: Any]])?.map { $0["name"] as? String } == ["Anything", "Translator"])

            // Absent keeps, null clears.
            let changed = try await api.updatePreset(token: token, id, ["name": "Poet", "temperature": NSNull()])
            #expect(changed.status == .ok, "\(changed.text)")
            #expect(changed.json["name"] as? String == "Poet")
            #expect(changed.json["model"] as? String == "other")
            #expect(changed.json["system_prompt"] as? String == "Translate.")
            #expect(changed.json["temperature"] is NSNull)
            let same = try await api.updatePreset(token: token, id, [:])
            #expect(same.status == .ok)
            #expect(same.json["name"] as? String == "Poet")

            #expect(try await api.deletePreset(token: token, id).status == .noContent)
            #expect(try await api.deletePreset(token: token, id).status == .notFound)
            #expect((try await api.presets(token: token).json["presets"] as? [Any])?.count == 1)
        }
    }

    @Test(arguments: Backend.all)
    func badPresetsAreRefused(_ backend: Backend) async throws {
        try await withCatalogApp(backend) { api, token, _ in
            let bad: [([String: Any], String)] = [
                (["name": ""], "Name must not be empty."),
                (["name": String(repeating: "p", count: 101)], "Name must be at most 100 characters."),
                (["name": "p", "temperature": 2.5], "The temperature must be a number from 0 to 2."),
                (["name": "p", "temperature": -0.1], "The temperature must be a number from 0 to 2."),
                (
                    ["name": "p", "system_prompt": String(repeating: "s", count: 20_001)],
                    "The system prompt must be at most 20000 characters."
                ),
                (["name": "p", "model": "nope"], "The model nope is not available."),
                (
                    ["name": "p", "model": String(repeating: "m", count: 256)],
                    "The model id must be 1 to 255 characters."
                )
            ]
            for (body, message) in bad {
                let reply = try await api.createPreset(token: token, body)
                #expect(reply.status == .unprocessableContent, "\(reply.text)")
                #expect(reply.errorMessage == message)
            }
            #expect(try await api.createPreset(token: token, ["temperature": 1]).status == .unprocessableContent)
            let edge = try await api.createPreset(
                token: token,
                ["name": "edge", "temperature": 2, "system_prompt": String(repeating: "s", count: 20_000)])
            #expect(edge.status == .created, "\(edge.text)")
            let id = try #require((edge.json["id"] as? NSNumber)?.int64Value)
            #expect(try await api.updatePreset(token: token, id, ["temperature": 3]).status == .unprocessableContent)
            #expect(try await api.updatePreset(token: token, id, ["model": "nope"]).status == .unprocessableContent)
        }
    }

    @Test(arguments: Backend.all)
    func anotherUsersPresetIsNotFound(_ backend: Backend) async throws {
        try await withCatalogApp(backend) { api, owner, _ in
            let stranger = try await api.signUp("stranger")
            let created = try await api.createPreset(token: owner, ["name": "Mine", "model": "fake"])
            let id = try #require((created.json["id"] as? NSNumber)?.int64Value)
            #expect((try await api.presets(token: stranger).json["presets"] as? [Any])?.isEmpty == true)
            let patch = try await api.updatePreset(token: stranger, id, ["name": "Taken"])
            #expect(patch.status == .notFound)
            #expect(patch.errorMessage == "Preset not found.")
            #expect(try await api.deletePreset(token: stranger, id).status == .notFound)
            #expect(try await api.updatePreset(token: owner, 0, ["name": "x"]).status == .notFound)
            let mine = try await api.presets(token: owner)
            #expect((mine.json["presets"] as? [[String: Any]])?.first?["name"] as? String == "Mine")
            #expect(try await api.call(.get, "/api/presets").status == .unauthorized)
        }
    }
}
