import Chatbox
import Foundation
import Testing

/// The throttle counts an attempt when it is admitted (before bcrypt) and settles it after.
@Suite("LoginThrottle: reserve, then settle")
struct LoginThrottleTests {
    static func throttle(perAccount: Int = 3, perAddress: Int = 100, registrations: Int = 2) -> LoginThrottle {
        LoginThrottle(
            perAccount: perAccount, perAddress: perAddress, registrationsPerAddress: registrations,
            window: .seconds(900))
    }

    @Test func admittedAttemptsCountBeforeTheyAreSettled() throws {
        let throttle = Self.throttle()
        var held: [LoginThrottle.Attempt] = []
        for _ in 0..<3 { held.append(try throttle.reserve([.account("ada"), .address("a")]).get()) }
        // Three in flight and none settled: the fourth is refused already.
        guard case .failure(let refused) = throttle.reserve([.account("ada"), .address("a")]) else {
            Issue.record("a fourth attempt was admitted while three were in flight")
            return
        }
        #expect(refused.retryAfterSeconds > 0 && refused.retryAfterSeconds <= 900)
        #expect(throttle.retryAfter([.account("ada")]) != nil)
        // Another account from the same address is not affected.
        #expect((try? throttle.reserve([.account("bob"), .address("a")]).get()) != nil)
    }

    @Test func givingBackFreesTheSlotAndKeepingDoesNot() throws {
        let throttle = Self.throttle()
        let first = try throttle.reserve([.account("ada")]).get()
        _ = try throttle.reserve([.account("ada")]).get()  // a failure: stays counted
        _ = try throttle.reserve([.account("ada")]).get()
        #expect(throttle.retryAfter([.account("ada")]) != nil)
        throttle.giveBack(first)
        #expect(throttle.retryAfter([.account("ada")]) == nil)
        #expect((try? throttle.reserve([.account("ada")]).get()) != nil)
        #expect(throttle.retryAfter([.account("ada")]) != nil)
    }

    @Test func aSuccessClearsTheAccountButNotTheAddress() throws {
        let throttle = Self.throttle(perAccount: 3, perAddress: 3)
        for _ in 0..<2 { _ = try throttle.reserve([.account("ada"), .address("a")]).get() }
        let success = try throttle.reserve([.account("ada"), .address("a")]).get()
        throttle.giveBack(success)
        throttle.clear(.account("ada"))
        #expect(throttle.retryAfter([.account("ada")]) == nil)
        // The address still carries the two failures: one more fills it.
        _ = try throttle.reserve([.account("x"), .address("a")]).get()
        #expect(throttle.retryAfter([.address("a")]) != nil)
    }

    @Test func aRefusedAttemptCountsNowhere() throws {
        let throttle = Self.throttle(perAccount: 1, perAddress: 2)
        _ = try throttle.reserve([.account("ada"), .address("a")]).get()
        // Refused for the account: the address must not be charged for it.
        for _ in 0..<5 { #expect((try? throttle.reserve([.account("ada"), .address("a")]).get()) == nil) }
        #expect((try? throttle.reserve([.account("bob"), .address("a")]).get()) != nil)
    }

    @Test func concurrentReservationsNeverExceedTheLimit() async throws {
        let throttle = Self.throttle(perAccount: 5)
        let admitted = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<200 { group.addTask { (try? throttle.reserve([.account("ada")]).get()) != nil } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(admitted == 5)
    }

    @Test func signUpsHaveTheirOwnLimitPerAddress() throws {
        let throttle = Self.throttle(registrations: 2)
        for _ in 0..<2 { _ = try throttle.reserve([.registrations(address: "a")]).get() }
        #expect((try? throttle.reserve([.registrations(address: "a")]).get()) == nil)
        #expect((try? throttle.reserve([.registrations(address: "b")]).get()) != nil)
        #expect((try? throttle.reserve([.address("a")]).get()) != nil)  // logins from it are another count
    }

    @Test func attemptsLeaveTheWindowAndThenCountNoMore() async throws {
        let throttle = LoginThrottle(perAccount: 2, perAddress: 100, window: .milliseconds(50))
        for _ in 0..<2 { _ = try throttle.reserve([.account("ada")]).get() }
        #expect(throttle.retryAfter([.account("ada")]) != nil)
        try await Task.sleep(for: .milliseconds(120))  // longer than the window, however busy the machine
        #expect(throttle.retryAfter([.account("ada")]) == nil)
        for _ in 0..<2 { #expect((try? throttle.reserve([.account("ada")]).get()) != nil) }
        #expect((try? throttle.reserve([.account("ada")]).get()) == nil)
    }

    @Test func theWaitIsTheLongestOfTheFullBucketsInWholeSecondsRoundedUp() throws {
        let throttle = Self.throttle(perAccount: 1, perAddress: 1)
        _ = try throttle.reserve([.account("ada")]).get()
        let wait = try #require(throttle.retryAfter([.account("ada"), .address("free")]))
        #expect((899...901).contains(wait), "a whole window: \(wait)")
        guard case .failure(let refused) = throttle.reserve([.address("free"), .account("ada")]) else {
            Issue.record("admitted into a full bucket")
            return
        }
        #expect((899...901).contains(refused.retryAfterSeconds))
        #expect(throttle.retryAfter([.address("free")]) == nil, "the refusal counted nowhere")
    }

    @Test func givingBackTwiceOrClearingAnUnknownBucketChangesNothingElse() throws {
        let throttle = Self.throttle(perAccount: 2)
        let first = try throttle.reserve([.account("ada")]).get()
        _ = try throttle.reserve([.account("ada")]).get()
        throttle.giveBack(first)
        throttle.giveBack(first)
        throttle.clear(.account("nobody"))
        _ = try throttle.reserve([.account("ada")]).get()
        #expect(throttle.retryAfter([.account("ada")]) != nil, "the second attempt is still counted")
    }
}
