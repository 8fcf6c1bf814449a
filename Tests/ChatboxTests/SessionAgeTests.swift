@testable import Chatbox
import Foundation
import Logging
import Synchronization
import Testing

/// Sessions slide while used, but end `sessionMaxAge` after they were created however often they are used.
@Suite("Session maximum age, on every database")
struct SessionAgeTests {
    let day: Millis = 24 * 3_600_000
    static let day: Millis = 24 * 3_600_000

    final class TestClock: Sendable {
        let offset = Mutex<Millis>(0)
        func now() -> Millis { Millis.now() + offset.withLock { $0 } }
        func advance(_ by: Millis) { offset.withLock { $0 += by } }
    }

    static func auth(_ store: SQLChatStore, clock: TestClock) -> AuthService {
        AuthService(
            store: store, hasher: PasswordHasher(cost: 4),
            throttle: LoginThrottle(store: store, perAccount: 5, perAddress: 100, window: .seconds(900)),
            sessionLifetime: 30 * Self.day, sessionMaxAge: 90 * Self.day,
            settings: RuntimeSettings(store: store, registrationDefault: true), logger: Logger(label: "age"),
            now: { clock.now() })
    }

    /// The stored form of a token: sessions stored by earlier versions must still match.
    @Test
    func aTokenIsKeptAsTheLowerCaseHexOfItsSHA256() {
        #expect(SessionToken.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SessionToken.hash("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect([0x00, 0x0f, 0xa0, 0xff].lowercaseHex == "000fa0ff")
    }

    @Test(arguments: Backend.all)
    func aSessionUsedEveryFewWeeksStillEndsAtTheMaximumAge(backend: Backend) async throws {
        try await backend.withStore { store in
            let clock = TestClock()
            let auth = Self.auth(store, clock: clock)
            _ = try await auth.addUser(username: "regular", password: "correct horse", role: nil)
            let (signedIn, token) = try await auth.login(username: "regular", password: "correct horse", address: "a")
            let created = signedIn.session.createdAt
            #expect(signedIn.session.expiresAt <= created + 30 * day + 1000)
            for _ in 0..<3 {  // days 29, 58, 87: each use slides the expiry, never past day 90
                clock.advance(29 * day)
                let used = try #require(try await auth.authenticate(token: token))
                #expect(used.session.expiresAt <= created + 90 * day)
            }
            let last = try #require(try await auth.authenticate(token: token))
            #expect(last.session.expiresAt == created + 90 * day)
            clock.advance(3 * day + 1000)  // day 90 and a second
            #expect(try await auth.authenticate(token: token) == nil)
        }
    }

    @Test(arguments: Backend.all)
    func aSessionWhoseStoredExpiryIsLaterStillEndsAtTheMaximumAge(backend: Backend) async throws {
        try await backend.withStore { store in
            let clock = TestClock()
            let auth = Self.auth(store, clock: clock)
            let user = try await auth.addUser(username: "old", password: "correct horse", role: nil)
            // A session from before the maximum age existed: it expires in a year.
            let token = SessionToken.generate()
            _ = try await store.createSession(
                userID: user.id, tokenHash: SessionToken.hash(token), expiresAt: .now() + 365 * day)
            #expect(try await auth.authenticate(token: token) != nil)
            clock.advance(90 * day + 1000)
            #expect(try await auth.authenticate(token: token) == nil)
            #expect(try await store.session(tokenHash: SessionToken.hash(token), now: .now()) == nil)  // and it is gone
        }
    }

    @Test func aMaximumAgeShorterThanTheLifetimeCapsTheFirstExpiry() async throws {
        try await Backend.sqlite.withStore { store in
            let auth = AuthService(
                store: store, hasher: PasswordHasher(cost: 4),
                throttle: LoginThrottle(store: store, perAccount: 5, perAddress: 100, window: .seconds(900)),
                sessionLifetime: 30 * Self.day, sessionMaxAge: 3_600_000,
                settings: RuntimeSettings(store: store, registrationDefault: true), logger: Logger(label: "age"))
            _ = try await auth.addUser(username: "brief", password: "correct horse", role: nil)
            let (signedIn, _) = try await auth.login(username: "brief", password: "correct horse", address: "a")
            #expect(signedIn.session.expiresAt <= signedIn.session.createdAt + 3_600_000 + 1000)
        }
    }
}
