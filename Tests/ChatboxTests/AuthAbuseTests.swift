import AsyncHTTPClient
import Chatbox
import Foundation
import HTTPTypes
import NIOCore
import Testing

/// Sends `count` POSTs at once, each on its own connection (the test client sends one request at a time).
func parallelPosts(
    port: Int, _ path: String, count: Int, token: String? = nil, body: @escaping @Sendable (Int) -> [String: String]
) async throws -> [Int] {
    let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: .init(
            connectionPool: .init(idleTimeout: .seconds(5), concurrentHTTP1ConnectionsPerHostSoftLimit: count)))
    do {
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<count {
                group.addTask {
                    var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
                    request.method = .POST
                    request.headers.add(name: "Content-Type", value: "application/json")
                    if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
                    request.body = .bytes(ByteBuffer(string: API.encode(body(index))))
                    let response = try await client.execute(request, timeout: .seconds(60))
                    _ = try await response.body.collect(upTo: 1 << 20)
                    return Int(response.status.code)
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        try await client.shutdown()
        return statuses
    } catch {
        try? await client.shutdown()
        throw error
    }
}

/// One account or address must not be able to spend the server's bcrypt time or dodge the throttle.
@Suite("Auth abuse: throttles and password hashing as a weapon")
struct AuthAbuseTests {
    @Test func aBurstOfParallelWrongLoginsGetsNoMoreGuessesThanTheLimit() async throws {
        let config = TestConfig.make {
            $0.loginFailuresPerAccount = 5
            $0.loginFailuresPerAddress = 1000
            $0.bcryptCost = 8
        }
        try await withLiveApp(config) { api in
            _ = try await api.signUp("victim")
            let statuses = try await parallelPosts(port: try #require(api.port), "/api/auth/login", count: 60) {
                index in
                ["username": "victim", "password": "wrong guess \(index)"]
            }
            let unauthorized = statuses.filter { $0 == 401 }.count
            #expect(unauthorized >= 1 && unauthorized <= 5, "\(unauthorized) guesses reached bcrypt")
            #expect(statuses.filter { $0 == 429 }.count == 60 - unauthorized)
            #expect(try await api.login("victim").status == .tooManyRequests)
        }
    }

    @Test func everySpellingOfANameSharesOneThrottleBudget() async throws {
        try await withLiveApp(
            TestConfig.make {
                $0.loginFailuresPerAccount = 3
                $0.loginFailuresPerAddress = 1000
            }
        ) { api in
            _ = try await api.signUp("zoë")  // NFC
            // Spellings that name the same account: trailing/leading spaces, case, NFD.
            let variants = ["zoë ", " ZOË", "zoe\u{308}", "ZOE\u{308} ", "zoë"]
            for variant in variants.prefix(3) {
                #expect(try await api.login(variant, "wrong password").status == .unauthorized, "\(variant)")
            }
            for variant in variants {
                let reply = try await api.login(variant, "wrong password")
                #expect(reply.status == .tooManyRequests, "\(Array(variant.unicodeScalars)) got a fresh budget")
            }
        }
    }

    @Test func aNameWithSurroundingSpacesOrAnotherFormLogsIntoTheSameAccount() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            _ = try await api.signUp("Zoë")
            for variant in [" zoë ", "ZOE\u{308}", "zoë\t"] {
                let reply = try await api.login(variant)
                #expect(reply.status == .ok, "\(Array(variant.unicodeScalars)): \(reply.text)")
                #expect((reply.json["user"] as? [String: Any])?["username"] as? String == "Zoë")
            }
        }
    }

    @Test func registrationsAreLimitedPerAddressButRefusalsDoNotCount() async throws {
        try await withLiveApp(TestConfig.make { $0.registrationsPerAddress = 3 }) { api in
            _ = try await api.signUp("first")
            // Refused before any hashing: they do not use the budget.
            for _ in 0..<5 {
                #expect(try await api.register("first").status == .conflict)
                #expect(try await api.register("bad name").status == .unprocessableContent)
                #expect(try await api.register("shortpw", "short").status == .unprocessableContent)
            }
            _ = try await api.signUp("second")
            _ = try await api.signUp("third")
            let flood = try await api.register("fourth")
            #expect(flood.status == .tooManyRequests)
            let retry = try #require(flood.headers[.retryAfter].flatMap { Int($0) })
            #expect(retry > 0 && retry <= 900)
            #expect(flood.errorMessage == "Too many sign-ups from your address. Try again in \(retry) seconds.")
            // A taken name is still answered as taken, an invalid one as invalid.
            #expect(try await api.register("FIRST").status == .conflict)
            #expect(try await api.login("first").status == .ok)
        }
    }

    @Test func parallelRegistrationsFromOneAddressStayWithinTheLimit() async throws {
        try await withLiveApp(TestConfig.make { $0.registrationsPerAddress = 4 }) { api in
            let statuses = try await parallelPosts(port: try #require(api.port), "/api/auth/register", count: 30) {
                index in
                ["username": "flood\(index)", "password": "correct horse"]
            }
            #expect(statuses.filter { $0 == 201 }.count == 4)
            #expect(statuses.filter { $0 == 429 }.count == 26)
        }
    }

    @Test func wrongCurrentPasswordsAreThrottledLikeLogins() async throws {
        try await withLiveApp(
            TestConfig.make {
                $0.loginFailuresPerAccount = 3
                $0.loginFailuresPerAddress = 1000
            }
        ) { api in
            _ = try await api.signUp("admin")
            let token = try await api.signUp("changer")
            for index in 0..<3 {
                #expect(
                    try await api.changePassword(token: token, current: "wrong \(index) pass", new: "a new password")
                        .status == .forbidden)
            }
            let throttled = try await api.changePassword(token: token, current: "correct horse", new: "a new password")
            #expect(throttled.status == .tooManyRequests)
            let retry = try #require(throttled.headers[.retryAfter].flatMap { Int($0) })
            #expect(
                throttled.errorMessage == "Too many wrong passwords for this account. Try again in \(retry) seconds.")
            // Deleting the account checks the same password: the same budget.
            #expect(try await api.deleteAccount(token: token, password: "correct horse").status == .tooManyRequests)
            #expect(try await api.login("changer").status == .tooManyRequests)
        }
    }

    @Test func parallelWrongPasswordsOnAccountDeletionGetNoMoreThanTheLimit() async throws {
        try await withLiveApp(
            TestConfig.make {
                $0.loginFailuresPerAccount = 4
                $0.loginFailuresPerAddress = 1000
            }
        ) { api in
            _ = try await api.signUp("admin")
            let token = try await api.signUp("deleter")
            let statuses = try await parallelPosts(
                port: try #require(api.port), "/api/account/delete", count: 30, token: token
            ) { index in ["password": "wrong \(index) pass"] }
            let checked = statuses.filter { $0 == 403 }.count
            #expect(checked >= 1 && checked <= 4, "\(checked) wrong passwords reached bcrypt")
            #expect(statuses.filter { $0 == 429 }.count == 30 - checked)
        }
    }
}
