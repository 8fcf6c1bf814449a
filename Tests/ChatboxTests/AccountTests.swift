import Chatbox
import Foundation
import HTTPTypes
import Testing

extension API {
    func accountSessions(token: String) async throws -> Reply {
        try await call(.get, "/api/account/sessions", token: token)
    }
    func revokeSession(token: String, _ id: Int64) async throws -> Reply {
        try await call(.delete, "/api/account/sessions/\(id)", token: token)
    }
    func changePassword(token: String, current: String, new: String) async throws -> Reply {
        try await call(
            .post, "/api/account/password", json: Self.encode(["current_password": current, "new_password": new]),
            token: token)
    }
    func deleteAccount(token: String, password: String) async throws -> Reply {
        try await call(.post, "/api/account/delete", json: Self.encode(["password": password]), token: token)
    }
    func exportAll(token: String) async throws -> Reply { try await call(.get, "/api/account/export", token: token) }
    func exportMarkdown(token: String, _ id: Int64) async throws -> Reply {
        try await call(.get, "/api/account/export/\(id)", token: token)
    }
    func importHistory(token: String, _ json: String) async throws -> Reply {
        try await call(.post, "/api/account/import", json: json, token: token)
    }
}

@Suite("Own account")
struct AccountTests {
    @Test func changingThePasswordNeedsTheCurrentOneAndSignsOutOtherSessions() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let here = try await api.signUp("mover")
            let elsewhere = try #require(try await api.login("mover").json["token"] as? String)
            let wrong = try await api.changePassword(token: here, current: "not it at all", new: "another password")
            #expect(wrong.status == .forbidden)
            #expect(
                try await api.changePassword(token: here, current: "correct horse", new: "short").status
                    == .unprocessableContent)
            #expect(
                try await api.changePassword(token: here, current: "correct horse", new: "another password").status
                    == .noContent)
            #expect(try await api.me(token: here).status == .ok)
            #expect(try await api.me(token: elsewhere).status == .unauthorized)
            #expect(try await api.login("mover", "another password").status == .ok)
        }
    }

    @Test func sessionsAreListedWithTheCurrentOneMarkedAndCanBeRevoked() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let here = try await api.signUp("traveller")
            let other = try #require(try await api.login("traveller").json["token"] as? String)
            let sessions = try #require(try await api.accountSessions(token: here).json["sessions"] as? [[String: Any]])
            #expect(sessions.count == 2)
            #expect(sessions.filter { $0["current"] as? Bool == true }.count == 1)
            let otherID = try #require(sessions.first { $0["current"] as? Bool == false }?["id"] as? NSNumber)
                .int64Value
            #expect(try await api.revokeSession(token: here, otherID).status == .noContent)
            #expect(try await api.me(token: other).status == .unauthorized)
            // Someone else's session id is not found.
            let stranger = try await api.signUp("stranger")
            let mine = try #require(try await api.accountSessions(token: here).json["sessions"] as? [[String: Any]])
            let myID = try #require(mine.first?["id"] as? NSNumber).int64Value
            #expect(try await api.revokeSession(token: stranger, myID).status == .notFound)
        }
    }

    @Test func deletingTheAccountNeedsThePasswordAndRemovesEverything() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            _ = try await api.signUp("admin")
            let token = try await api.signUp("goodbye")
            _ = try await api.newConversation(token: token, title: "x")
            #expect(try await api.deleteAccount(token: token, password: "wrong password!").status == .forbidden)
            let deleted = try await api.deleteAccount(token: token, password: "correct horse")
            #expect(deleted.status == .noContent)
            #expect(deleted.headers[.setCookie]?.contains("Max-Age=0") == true)
            #expect(try await api.login("goodbye").status == .unauthorized)
            #expect(try await api.register("goodbye").status == .created)
        }
    }

    @Test func theLastAdminCannotDeleteTheirAccount() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let admin = try await api.signUp("lonely")
            #expect(try await api.deleteAccount(token: admin, password: "correct horse").status == .conflict)
        }
    }
}
