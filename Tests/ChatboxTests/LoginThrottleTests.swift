import Foundation
import HTTPTypes
import Logging
import Synchronization
import Testing

@testable import Chatbox

/// The throttle counts an attempt when it is admitted (before bcrypt) and settles it after; the counts live in the
/// database, so throttles of several instances on one database count together.
@Suite("LoginThrottle: reserve, then settle, counted in the database")
struct LoginThrottleTests {
    static func throttle(
        _ store: SQLChatStore, perAccount: Int = 3, perAddress: Int = 100, registrations: Int = 2
    ) -> LoginThrottle {
        LoginThrottle(
            store: store, perAccount: perAccount, perAddress: perAddress, registrationsPerAddress: registrations,
            window: .seconds(900))
    }

    static func admitted(_ throttle: LoginThrottle, _ buckets: [LoginThrottle.Bucket]) async throws -> Bool {
        if case .success = try await throttle.reserve(buckets) { return true }
        return false
    }

    @Test(arguments: Backend.all)
    func admittedAttemptsCountBeforeTheyAreSettled(_ backend: Backend) async throws {
        try await backend.withStore { store in
            let throttle = Self.throttle(store)
            var held: [LoginThrottle.Attempt] = []
            for _ in 0..<3 { held.append(try await throttle.reserve([.account("ada"), .address("a")]).get()) }
            // Three in flight and none settled: the fourth is refused already.
            guard case .failure(let refused) = try await throttle.reserve([.account("ada"), .address("a")]) else {
                Issue.record("a fourth attempt was admitted while three were in flight")
                return
            }
            #expect(refused.retryAfterSeconds > 0 && refused.retryAfterSeconds <= 900)
            #expect(try await throttle.retryAfter([.account("ada")]) != nil)
            // Another account from the same address is not affected.
            #expect(try await Self.admitted(throttle, [.account("bob"), .address("a")]))
        }
    }

    @Test(arguments: Backend.all)
    func givingBackFreesTheSlotAndKeepingDoesNot(_ backend: Backend) async throws {
        try await backend.withStore { store in
            let throttle = Self.throttle(store)
            let first = try await throttle.reserve([.account("ada")]).get()
            _ = try await throttle.reserve([.account("ada")]).get()  // a failure: stays counted
            _ = try await throttle.reserve([.account("ada")]).get()
            #expect(try await throttle.retryAfter([.account("ada")]) != nil)
            await throttle.giveBack(first)
            #expect(try await throttle.retryAfter([.account("ada")]) == nil)
            #expect(try await Self.admitted(throttle, [.account("ada")]))
            #expect(try await throttle.retryAfter([.account("ada")]) != nil)
        }
    }

    @Test(arguments: Backend.all)
    func aSuccessClearsTheAccountButNotTheAddress(_ backend: Backend) async throws {
        try await backend.withStore { store in
            let throttle = Self.throttle(store, perAccount: 3, perAddress: 3)
            for _ in 0..<2 { _ = try await throttle.reserve([.account("ada"), .address("a")]).get() }
            let success = try await throttle.reserve([.account("ada"), .address("a")]).get()
            await throttle.giveBack(success)
            await throttle.clear(.account("ada"))
            #expect(try await throttle.retryAfter([.account("ada")]) == nil)
            // The address still carries the two failures: one more fills it.
            _ = try await throttle.reserve([.account("x"), .address("a")]).get()
            #expect(try await throttle.retryAfter([.address("a")]) != nil)
        }
    }

    @Test(arguments: Backend.all)
    func aRefusedAttemptCountsNowhere(_ backend: Backend) async throws {
        try await backend.withStore { store in
            let throttle = Self.throttle(store, perAccount: 1, perAddress: 2)
            _ = try await throttle.reserve([.account("ada"), .address("a")]).get()
            // Refused for the account: the address must not be charged for it.
            for _ in 0..<5 { #expect(try await !Self.admitted(throttle, [.account("ada"), .address("a")])) }
            #expect(try await Self.admitted(throttle, [.account("bob"), .address("a")]))
        }
    }

    @Test(arguments: Backend.all)
    func concurrentReservationsNeverExceedTheLimit(_ backend: Backend) async throws {
        try await backend.withStore(poolSize: 8) { store in
            let throttle = Self.throttle(store, perAccount: 5)
            let admitted = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<200 { group.addTask { try await Self.admitted(throttle, [.account("ada")]) } }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(admitted == 5)
            #expect(try await store.loginAttempts(buckets: ["account:ada"], since: 0).count == 5)
        }
    }

    /// Two instances (two throttles on one database) racing for the same account: together never more than the
    /// limit, and the refused attempts leave nothing behind, so the places left are then taken one by one.
    @Test(arguments: Backend.all)
    func throttlesOfTwoInstancesShareTheCountEvenWhenRacing(_ backend: Backend) async throws {
        try await backend.withStore(poolSize: 8) { store in
            let one = Self.throttle(store, perAccount: 5)
            let two = Self.throttle(store, perAccount: 5)
            let admitted = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<60 {
                    group.addTask { try await Self.admitted(index % 2 == 0 ? one : two, [.account("ada")]) }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(admitted >= 1 && admitted <= 5, "\(admitted) admitted")
            var more = 0
            while try await Self.admitted(more % 2 == 0 ? one : two, [.account("ada")]) {
                more += 1
                try #require(more <= 5, "admitted past the limit")
            }
            #expect(admitted + more == 5)
            #expect(try await one.retryAfter([.account("ada")]) != nil)
            #expect(try await two.retryAfter([.account("ada")]) != nil)
        }
    }

    @Test(arguments: Backend.all)
    func signUpsHaveTheirOwnLimitPerAddress(_ backend: Backend) async throws {
        try await backend.withStore { store in
            let throttle = Self.throttle(store, registrations: 2)
            for _ in 0..<2 { _ = try await throttle.reserve([.registrations(address: "a")]).get() }
            #expect(try await !Self.admitted(throttle, [.registrations(address: "a")]))
            #expect(try await Self.admitted(throttle, [.registrations(address: "b")]))
            #expect(try await Self.admitted(throttle, [.address("a")]))  // logins from it are another count
        }
    }

    @Test(arguments: Backend.all)
    func attemptsLeaveTheWindowAndThenCountNoMore(_ backend: Backend) async throws {
        try await backend.withStore { store in
            // The throttle's clock, moved by hand: a busy machine cannot make attempts leave the window early.
            let clock = Mutex<Millis>(Millis.now())
            let throttle = LoginThrottle(
                store: store, perAccount: 2, perAddress: 100, window: .seconds(60), now: { clock.withLock { $0 } })
            for _ in 0..<2 { _ = try await throttle.reserve([.account("ada")]).get() }
            clock.withLock { $0 += 59_999 }
            #expect(try await throttle.retryAfter([.account("ada")]) == 1, "the last millisecond of the window")
            clock.withLock { $0 += 1 }
            #expect(try await throttle.retryAfter([.account("ada")]) == nil)
            for _ in 0..<2 { #expect(try await Self.admitted(throttle, [.account("ada")])) }
            #expect(try await !Self.admitted(throttle, [.account("ada")]))
        }
    }

    /// Rows that left the window are deleted now and then, so the table does not grow with every failed login.
    @Test(arguments: Backend.all)
    func attemptsThatLeftTheWindowArePruned(_ backend: Backend) async throws {
        try await backend.withStore { store in
            let clock = Mutex<Millis>(1_000_000)
            let throttle = LoginThrottle(
                store: store, perAccount: 5, perAddress: 100, window: .seconds(10), now: { clock.withLock { $0 } })
            for index in 0..<4 { _ = try await throttle.reserve([.account("old\(index)")]).get() }
            #expect(try await store.loginAttempts(buckets: (0..<4).map { "account:old\($0)" }, since: 0).count == 4)
            clock.withLock { $0 += 20_000 }  // every one left the window
            _ = try await throttle.reserve([.account("new")]).get()
            let left = try await store.db.raw("SELECT COUNT(*) AS n FROM login_attempts").first()?
                .decode(column: "n", as: Int.self)
            #expect(left == 1, "only the new attempt is left")
        }
    }

    @Test(arguments: Backend.all)
    func theWaitIsTheLongestOfTheFullBucketsInWholeSecondsRoundedUp(_ backend: Backend) async throws {
        try await backend.withStore { store in
            // A clock of its own: on a busy machine, seconds may pass between the attempt and the question.
            let clock = Mutex<Millis>(1_000_000)
            let throttle = LoginThrottle(
                store: store, perAccount: 1, perAddress: 1, window: .seconds(900), now: { clock.withLock { $0 } })
            _ = try await throttle.reserve([.account("ada")]).get()
            clock.withLock { $0 += 1 }  // a millisecond later: still rounded up to the whole window
            let wait = try #require(try await throttle.retryAfter([.account("ada"), .address("free")]))
            #expect(wait == 900, "a whole window: \(wait)")
            guard case .failure(let refused) = try await throttle.reserve([.address("free"), .account("ada")]) else {
                Issue.record("admitted into a full bucket")
                return
            }
            #expect(refused.retryAfterSeconds == 900)
            #expect(try await throttle.retryAfter([.address("free")]) == nil, "the refusal counted nowhere")
        }
    }

    @Test(arguments: Backend.all)
    func givingBackTwiceOrClearingAnUnknownBucketChangesNothingElse(_ backend: Backend) async throws {
        try await backend.withStore { store in
            let throttle = Self.throttle(store, perAccount: 2)
            let first = try await throttle.reserve([.account("ada")]).get()
            _ = try await throttle.reserve([.account("ada")]).get()
            await throttle.giveBack(first)
            await throttle.giveBack(first)
            await throttle.clear(.account("nobody"))
            _ = try await throttle.reserve([.account("ada")]).get()
            #expect(try await throttle.retryAfter([.account("ada")]) != nil, "the second attempt is still counted")
        }
    }

    /// A key longer than the bucket column (a megabyte of "name", a forged address) is stored by its digest.
    @Test(arguments: Backend.all)
    func aHugeKeyIsCountedByItsDigest(_ backend: Backend) async throws {
        try await backend.withStore { store in
            let throttle = Self.throttle(store, perAccount: 1)
            let huge = String(repeating: "名", count: 100_000)
            _ = try await throttle.reserve([.account(huge)]).get()
            #expect(try await !Self.admitted(throttle, [.account(huge)]))
            #expect(try await Self.admitted(throttle, [.account(huge + "x")]))
        }
    }

    /// Failed logins spread over two instances count together: the sixth is refused on both.
    @Test(arguments: Backend.all)
    func failedLoginsSpreadOverTwoInstancesAreThrottledOnBoth(_ backend: Backend) async throws {
        let location = backend.freshLocation()
        let (first, second) =
            (["a", "b"].map { id in
                TestConfig.make(database: location) {
                    $0.instanceID = id
                    $0.loginFailuresPerAccount = 5
                    $0.loginFailuresPerAddress = 1000
                }
            }).pair
        try await withLiveApp(first) { one in
            _ = try await one.signUp("target")
            try await withLiveApp(second) { two in
                for index in 0..<5 {
                    let api = index % 2 == 0 ? one : two
                    #expect(try await api.login("target", "wrong password \(index)").status == .unauthorized)
                }
                for api in [one, two] {
                    let refused = try await api.login("target")
                    #expect(refused.status == .tooManyRequests, "even the right password, on either instance")
                    let retry = try #require(refused.headers[.retryAfter].flatMap { Int($0) })
                    #expect(retry > 0 && retry <= 900)
                }
            }
        }
    }
}
