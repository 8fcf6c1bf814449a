import Chatbox
import Foundation
import HTTPTypes
import Testing

extension API {
    // One helper per admin and account endpoint.
    func adminUsers(token: String, query: String = "") async throws -> Reply {
        try await call(.get, "/api/admin/users" + (query.isEmpty ? "" : "?" + query), token: token)
    }
    func adminCreateUser(token: String, _ username: String, _ password: String = "correct horse", role: String? = nil)
        async throws -> Reply
    {
        var body = ["username": username, "password": password]
        if let role { body["role"] = role }
        return try await call(.post, "/api/admin/users", json: Self.encode(body), token: token)
    }
    func adminUpdateUser(token: String, _ id: Int64, json: String) async throws -> Reply {
        try await call(.patch, "/api/admin/users/\(id)", json: json, token: token)
    }
    func adminResetPassword(token: String, _ id: Int64, _ password: String) async throws -> Reply {
        try await call(
            .post, "/api/admin/users/\(id)/password", json: Self.encode(["password": password]), token: token)
    }
    func adminDeleteUser(token: String, _ id: Int64, confirm: String) async throws -> Reply {
        try await call(
            .delete,
            "/api/admin/users/\(id)?confirm=\(confirm.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")",
            token: token)
    }
    func adminSettings(token: String, json: String? = nil) async throws -> Reply {
        try await call(json == nil ? .get : .patch, "/api/admin/settings", json: json, token: token)
    }
    func userID(_ reply: Reply) -> Int64? { ((reply.json["user"] as? [String: Any])?["id"] as? NSNumber)?.int64Value }
}

@Suite("Admin: user management")
struct AdminTests {
    @Test func onlyAdminsReachTheAdminAPI() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let admin = try await api.signUp("boss")
            let user = try await api.signUp("worker")
            for (method, path) in [
                (HTTPRequest.Method.get, "/api/admin/users"), (.post, "/api/admin/users"),
                (.patch, "/api/admin/users/1"),
                (.post, "/api/admin/users/1/password"), (.delete, "/api/admin/users/1"), (.get, "/api/admin/settings"),
                (.patch, "/api/admin/settings")
            ] {
                #expect(
                    try await api.call(method, path, json: "{}", token: user).status == .forbidden, "\(method) \(path)")
                #expect(try await api.call(method, path, json: "{}").status == .unauthorized, "\(method) \(path)")
            }
            #expect(try await api.adminUsers(token: admin).status == .ok)
        }
    }

    @Test func theListShowsActivityAndConversationCountsAndPages() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let admin = try await api.signUp("root")
            let writer = try await api.signUp("writer")
            _ = try await api.newConversation(token: writer, title: "one")
            _ = try await api.newConversation(token: writer, title: "two")
            for index in 0..<5 { _ = try await api.adminCreateUser(token: admin, "extra\(index)") }
            let page = try await api.adminUsers(token: admin, query: "limit=3")
            let users = try #require(page.json["users"] as? [[String: Any]])
            #expect(users.map { $0["username"] as? String } == ["root", "writer", "extra0"])
            #expect(users[1]["conversation_count"] as? Int == 2)
            #expect(users[1]["last_active_at"] is String)
            let next = try #require(page.json["next_cursor"] as? String)
            let rest = try await api.adminUsers(token: admin, query: "limit=10&cursor=\(next)")
            #expect((rest.json["users"] as? [Any])?.count == 4)
            let search = try await api.adminUsers(token: admin, query: "q=WRIT")
            #expect((search.json["users"] as? [[String: Any]])?.map { $0["username"] as? String } == ["writer"])
        }
    }

    @Test func anAdminCreatesAUserWhoCanLogIn() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let admin = try await api.signUp("admin")
            let created = try await api.adminCreateUser(token: admin, "newbie", "a fine password", role: "user")
            #expect(created.status == .created)
            #expect(try await api.login("newbie", "a fine password").status == .ok)
            #expect(try await api.adminCreateUser(token: admin, "NEWBIE").status == .conflict)
            #expect(try await api.adminCreateUser(token: admin, "bad name").status == .unprocessableContent)
        }
    }

    @Test func resettingAPasswordSignsTheUserOutEverywhere() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let admin = try await api.signUp("admin")
            let session = try await api.signUp("forgetful")
            let id = try #require(api.userID(try await api.me(token: session)))
            #expect(try await api.adminResetPassword(token: admin, id, "brand new pass").status == .noContent)
            #expect(try await api.me(token: session).status == .unauthorized)
            #expect(try await api.login("forgetful").status == .unauthorized)
            #expect(try await api.login("forgetful", "brand new pass").status == .ok)
            #expect(try await api.adminResetPassword(token: admin, id, "short").status == .unprocessableContent)
            #expect(try await api.adminResetPassword(token: admin, 999, "long enough pass").status == .notFound)
        }
    }

    @Test func aDisabledUsersLiveSessionStopsAtOnceAndTheyCannotLogIn() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let admin = try await api.signUp("admin")
            let session = try await api.signUp("troublemaker")
            let id = try #require(api.userID(try await api.me(token: session)))
            let disabled = try await api.adminUpdateUser(token: admin, id, json: #"{"disabled": true}"#)
            #expect(disabled.status == .ok)
            #expect(try await api.listConversations(token: session).status == .unauthorized)
            #expect(try await api.login("troublemaker").status == .unauthorized)
            _ = try await api.adminUpdateUser(token: admin, id, json: #"{"disabled": false}"#)
            #expect(try await api.login("troublemaker").status == .ok)
        }
    }

    @Test func theLastAdminCannotBeDemotedDisabledOrDeleted() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let admin = try await api.signUp("only")
            let id = try #require(api.userID(try await api.me(token: admin)))
            for json in [#"{"role": "user"}"#, #"{"disabled": true}"#] {
                let reply = try await api.adminUpdateUser(token: admin, id, json: json)
                #expect(reply.status == .conflict)
                #expect(reply.errorMessage?.contains("last one") == true)
            }
            #expect(try await api.adminDeleteUser(token: admin, id, confirm: "only").status == .conflict)
            // With a second admin, the first may step down.
            let second = try await api.adminCreateUser(token: admin, "deputy", role: "admin")
            #expect(second.status == .created)
            #expect(try await api.adminUpdateUser(token: admin, id, json: #"{"role": "user"}"#).status == .ok)
            #expect(try await api.adminUsers(token: admin).status == .forbidden)
        }
    }

    @Test func deletingAUserNeedsTheirNameAndTakesTheirConversations() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let admin = try await api.signUp("admin")
            let victim = try await api.signUp("leaving")
            _ = try await api.newConversation(token: victim, title: "mine")
            let id = try #require(api.userID(try await api.me(token: victim)))
            let wrong = try await api.adminDeleteUser(token: admin, id, confirm: "someone")
            #expect(wrong.status == .unprocessableContent)
            #expect(try await api.adminDeleteUser(token: admin, id, confirm: "leaving").status == .noContent)
            #expect(try await api.me(token: victim).status == .unauthorized)
            let list = try await api.adminUsers(token: admin)
            #expect((list.json["users"] as? [Any])?.count == 1)
            #expect(try await api.adminDeleteUser(token: admin, id, confirm: "leaving").status == .notFound)
        }
    }

    @Test func registrationCanBeClosedAtRunTimeAndStaysClosedAfterARestart() async throws {
        let config = TestConfig.make()
        try await withLiveApp(config) { api in
            let admin = try await api.signUp("admin")
            let closed = try await api.adminSettings(token: admin, json: #"{"registration_open": false}"#)
            #expect(closed.json["registration_open"] as? Bool == false)
            #expect(try await api.register("late").status == .forbidden)
            #expect((try await api.call(.get, "/api/config").json["registration_open"] as? Bool) == false)
        }
        try await withLiveApp(config) { api async throws in
            #expect(try await api.register("later").status == .forbidden)
        }
    }
}
