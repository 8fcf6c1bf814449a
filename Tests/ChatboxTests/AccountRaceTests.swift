@testable import Chatbox
import Foundation
import Logging
import Testing

/// Check-then-act races on accounts, run against the store on every database: the first account is the only
/// admin however many register at once, and admins acting on each other at once never leave none.
@Suite("Account races, on every database")
struct AccountRaceTests {
    static func services(_ store: SQLChatStore) -> (auth: AuthService, admin: AdminService) {
        let settings = RuntimeSettings(store: store, registrationDefault: true)
        let auth = AuthService(
            store: store, hasher: PasswordHasher(cost: 4),
            throttle: LoginThrottle(store: store, perAccount: 5, perAddress: 1000, window: .seconds(900)),
            sessionLifetime: 3_600_000, settings: settings, logger: Logger(label: "race"))
        return (
            auth,
            AdminService(
                store: store, auth: auth, settings: settings,
                answers: RunningAnswers(
                    generations: Generations(), store: store, instanceID: "test", logger: Logger(label: "test")))
        )
    }

    @Test(arguments: Backend.all)
    func twentyConcurrentFirstAccountsMakeExactlyOneAdmin(backend: Backend) async throws {
        try await backend.withStore(poolSize: 8) { store in
            let auth = Self.services(store).auth
            let users = try await withThrowingTaskGroup(of: User.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        try await auth.addUser(username: "first\(index)", password: "correct horse", role: nil)
                    }
                }
                return try await group.reduce(into: [User]()) { $0.append($1) }
            }
            #expect(users.count == 20)
            #expect(users.filter { $0.role == .admin }.count == 1)
            #expect(try await store.adminCount() == 1)
        }
    }

    enum Action: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case demote, disable, delete
        var testDescription: String { rawValue }
    }

    @Test(arguments: Backend.all, Action.allCases)
    func twoAdminsActingOnEachOtherAtOnceLeaveOneAdmin(backend: Backend, action: Action) async throws {
        for round in 0..<3 {
            try await backend.withStore(poolSize: 8) { store in
                let admin = Self.services(store).admin
                let a = try await store.createUser(
                    username: "a\(round)", usernameKey: "a\(round)", passwordHash: "h", role: .admin)
                let b = try await store.createUser(
                    username: "b\(round)", usernameKey: "b\(round)", passwordHash: "h", role: .admin)
                @Sendable func act(on user: User) async -> Bool {
                    do {
                        switch action {
                        case .demote: _ = try await admin.update(userID: user.id, role: .user, disabled: nil)
                        case .disable: _ = try await admin.update(userID: user.id, role: nil, disabled: true)
                        case .delete: try await admin.delete(userID: user.id, confirm: user.username)
                        }
                        return true
                    } catch AdminError.lastAdmin {
                        return false
                    } catch {
                        Issue.record("unexpected \(error)")
                        return false
                    }
                }
                async let first = act(on: a)
                async let second = act(on: b)
                let done = await [first, second]
                #expect(done.filter { $0 }.count == 1, "round \(round): \(done)")
                #expect(try await store.adminCount() == 1, "round \(round)")
            }
        }
    }

    @Test(arguments: Backend.all)
    func twoAdminsDeletingTheirOwnAccountsAtOnceLeaveOneAdmin(backend: Backend) async throws {
        try await backend.withStore(poolSize: 8) { store in
            let (auth, _) = Self.services(store)
            let account = AccountService(
                store: store, auth: auth,
                answers: RunningAnswers(
                    generations: Generations(), store: store, instanceID: "test", logger: Logger(label: "test")))
            let a = try await auth.addUser(username: "self-a", password: "correct horse", role: .admin)
            let b = try await auth.addUser(username: "self-b", password: "correct horse", role: .admin)
            @Sendable func leave(_ user: User) async -> Bool {
                let session = Session(id: 0, userID: user.id, createdAt: 0, lastUsedAt: 0, expiresAt: 0)
                do {
                    try await account.deleteAccount(
                        Authenticated(user: user, session: session), password: "correct horse")
                    return true
                } catch AdminError.lastAdmin {
                    return false
                } catch {
                    Issue.record("unexpected \(error)")
                    return false
                }
            }
            async let first = leave(a)
            async let second = leave(b)
            let done = await [first, second]
            #expect(done.filter { $0 }.count == 1)
            #expect(try await store.adminCount() == 1)
        }
    }
}
