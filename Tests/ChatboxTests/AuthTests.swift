import Chatbox
import Foundation
import HTTPTypes
import Testing

@Suite("Accounts and sessions")
struct AuthTests {
    @Test func registeringCreatesALoggedInAccountWithACookieAndAToken() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let reply = try await api.register("ada")
            #expect(reply.status == .created)
            let cookie = try #require(reply.headers[.setCookie])
            #expect(cookie.contains("chatbox_session="))
            #expect(cookie.contains("HttpOnly"))
            #expect(cookie.contains("SameSite=Lax"))
            #expect(!cookie.contains("Secure"))
            let token = try #require(reply.json["token"] as? String)
            #expect(token.count >= 43)  // 256 bits, base64url
            let me = try await api.me(token: token)
            #expect(me.status == .ok)
            #expect((me.json["user"] as? [String: Any])?["username"] as? String == "ada")
        }
    }

    @Test func theFirstAccountIsTheAdminAndLaterOnesAreUsers() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let first = try await api.register("first")
            let second = try await api.register("second")
            #expect((first.json["user"] as? [String: Any])?["role"] as? String == "admin")
            #expect((second.json["user"] as? [String: Any])?["role"] as? String == "user")
        }
    }

    @Test func theCookieAloneAuthenticatesAndIsSecureWhenConfigured() async throws {
        try await withLiveApp(TestConfig.make { $0.secureCookies = true }) { api in
            let reply = try await api.register("cookie")
            let setCookie = try #require(reply.headers[.setCookie])
            #expect(setCookie.contains("; Secure"))
            let pair = String(setCookie.split(separator: ";")[0])
            let me = try await api.call(.get, "/api/auth/me", headers: [.cookie: pair])
            #expect(me.status == .ok)
        }
    }

    @Test func usernamesAreUniqueWithoutRegardToCase() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            _ = try await api.signUp("Grace")
            let again = try await api.register("grace")
            #expect(again.status == .conflict)
            #expect(again.errorMessage == "That username is taken.")
        }
    }

    @Test(arguments: [
        ("", "Username is required."),
        ("has space", "Username may contain letters, digits, '_', '.' and '-' only (not spaces)."),
        ("semi;colon", "Username may contain letters, digits, '_', '.' and '-' only (not \";\")."),
        (String(repeating: "a", count: 33), "Username must be at most 32 characters."),
        ("tab\tname", "Username may contain letters, digits, '_', '.' and '-' only (not spaces).")
    ])
    func badUsernamesAreRefusedWithTheRuleThatFailed(name: String, message: String) async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let reply = try await api.register(name)
            #expect(reply.status == .unprocessableContent)
            #expect(reply.errorMessage == message)
        }
    }

    @Test func chineseAndOtherScriptsAreValidUsernames() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            for name in ["张伟", "Zoë_o.k-1", "Ελένη", "नमस्ते"] {
                let reply = try await api.register(name)
                #expect(reply.status == .created, "\(name): \(reply.text)")
            }
        }
    }

    @Test func passwordsMustBeEightTo72Bytes() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let short = try await api.register("pw1", "1234567")
            #expect(short.status == .unprocessableContent)
            #expect(short.errorMessage == "Password must be at least 8 characters.")
            let long = try await api.register("pw2", String(repeating: "密", count: 25))  // 75 bytes
            #expect(long.status == .unprocessableContent)
            #expect(long.errorMessage?.contains("at most 72 bytes") == true)
            #expect(try await api.register("pw3", String(repeating: "x", count: 72)).status == .created)
        }
    }

    @Test func unknownUserAndWrongPasswordGetTheSame401() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            _ = try await api.signUp("alan")
            let wrong = try await api.login("alan", "not the password")
            let unknown = try await api.login("nobody", "not the password")
            #expect(wrong.status == .unauthorized)
            #expect(unknown.status == .unauthorized)
            #expect(wrong.errorMessage == unknown.errorMessage)
            #expect(try await api.login("ALAN").status == .ok)
        }
    }

    @Test func loginIsThrottledPerAccountWithRetryAfter() async throws {
        try await withLiveApp(TestConfig.make { $0.loginFailuresPerAccount = 3 }) { api in
            _ = try await api.signUp("target")
            for _ in 0..<3 { #expect(try await api.login("target", "wrong password").status == .unauthorized) }
            let throttled = try await api.login("target")
            #expect(throttled.status == .tooManyRequests)
            let retry = try #require(throttled.headers[.retryAfter].flatMap { Int($0) })
            #expect(retry > 0 && retry <= 900)
            #expect(throttled.errorMessage?.contains("Try again in") == true)
        }
    }

    @Test func loginIsThrottledPerClientAddressAcrossAccounts() async throws {
        try await withLiveApp(TestConfig.make { $0.loginFailuresPerAddress = 4 }) { api in
            _ = try await api.signUp("victim")
            for index in 0..<4 { _ = try await api.login("someone\(index)", "wrong password") }
            #expect(try await api.login("victim").status == .tooManyRequests)
        }
    }

    @Test func logoutRevokesTheSessionForGood() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let token = try await api.signUp("leaver")
            let logout = try await api.logout(token: token)
            #expect(logout.status == .noContent)
            #expect(logout.headers[.setCookie]?.contains("Max-Age=0") == true)
            let me = try await api.me(token: token)
            #expect(me.status == .unauthorized)
            #expect(me.errorMessage == "Please log in.")
        }
    }

    @Test func registrationCanBeClosed() async throws {
        try await withLiveApp(TestConfig.make { $0.registrationOpen = false }) { api in
            let reply = try await api.register("latecomer")
            #expect(reply.status == .forbidden)
            #expect(reply.errorMessage == "Registration is closed on this server.")
        }
    }

    @Test func sessionsSurviveARestart() async throws {
        let config = TestConfig.make()
        let box = TokenBox()
        try await withLiveApp(config) { api in box.token = try await api.signUp("persistent") }
        try await withLiveApp(config) { api async throws in
            #expect(try await api.me(token: box.token).status == .ok)
            #expect(try await api.login("persistent").status == .ok)
        }
    }

    @Test func aGarbageOrOversizedTokenIsJustUnauthorized() async throws {
        try await withLiveApp(TestConfig.make()) { api async throws in
            #expect(try await api.me(token: "nonsense").status == .unauthorized)
            #expect(try await api.me(token: String(repeating: "a", count: 5000)).status == .unauthorized)
            #expect(try await api.me(token: nil).status == .unauthorized)
        }
    }
}

final class TokenBox: @unchecked Sendable {
    var token = ""
}
