import Chatbox
import Foundation
import Testing

/// Sessions are read from the database at most once per cache lifetime: changes on the same instance take effect
/// at once, another instance's within the lifetime.
@Suite struct SessionCacheTests {
    func userID(_ api: API, _ token: String) async throws -> Int64 {
        let me = try await api.me(token: token)
        return try #require((me.json["user"] as? [String: Any])?["id"] as? NSNumber).int64Value
    }

    @Test(arguments: Backend.all)
    func aLogoutOnAnotherInstanceIsSeenWithinTheCacheLifetime(_ backend: Backend) async throws {
        let location = backend.freshLocation()
        let (first, second) = ["a", "b"].map { id in
            TestConfig.make(database: location) { config in
                config.instanceID = id
                config.sessionCache = .seconds(1)
            }
        }.pair
        try await withLiveApp(first) { a in
            try await withLiveApp(second) { b in
                let token = try await a.signUp("roamer")
                #expect(try await b.me(token: token).status == .ok, "b has read (and cached) the session")
                #expect(try await a.logout(token: token).status == .noContent)
                #expect(try await a.me(token: token).status == .unauthorized, "at once where it was signed out")
                #expect(
                    try await eventually(timeout: .seconds(10)) {
                        try await b.me(token: token).status == .unauthorized
                    }, "within the cache lifetime on the other instance")
            }
        }
    }

    @Test(arguments: Backend.all)
    func disablingOrDemotingAUserTakesEffectAtOnceOnThisInstance(_ backend: Backend) async throws {
        try await withLiveApp(TestConfig.make(database: backend.freshLocation()) { $0.sessionCache = .seconds(60) }) {
            api in
            let admin = try await api.signUp("boss")
            let second = try await api.signUp("second")
            let user = try await api.signUp("worker")
            let secondID = try await userID(api, second)
            _ = try await api.call(
                .patch, "/api/admin/users/\(secondID)", json: API.json(["role": "admin"]), token: admin)
            #expect(try await api.call(.get, "/api/admin/users", token: second).status == .ok, "cached as an admin")
            _ = try await api.call(
                .patch, "/api/admin/users/\(secondID)", json: API.json(["role": "user"]), token: admin)
            #expect(try await api.call(.get, "/api/admin/users", token: second).status == .forbidden)

            #expect(try await api.me(token: user).status == .ok)
            let id = try await userID(api, user)
            let disable = try await api.call(
                .patch, "/api/admin/users/\(id)", json: API.json(["disabled": true]), token: admin)
            #expect(disable.status == .ok)
            #expect(try await api.me(token: user).status == .unauthorized)
        }
    }
}
