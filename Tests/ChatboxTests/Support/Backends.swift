@testable import Chatbox
import Foundation
import Logging
import Testing

/// The databases every store and flow test runs on: SQLite always, MariaDB when `CHATBOX_TEST_MYSQL_URL` names
/// a server (scripts/test.sh and CI always start one; `MariaDBIsUnderTestInCI` fails if it is missing there).
enum Backend: String, CustomTestStringConvertible, Sendable {
    case sqlite, mariadb

    static let mysqlURL = ProcessInfo.processInfo.environment["CHATBOX_TEST_MYSQL_URL"]
    static let all: [Backend] = mysqlURL == nil ? [.sqlite] : [.sqlite, .mariadb]

    var testDescription: String { rawValue }

    /// A fresh, empty database of this kind (a new SQLite file, or a new MySQL database on the test server).
    func freshLocation() -> DatabaseLocation {
        switch self {
        case .sqlite:
            return .sqlite(path: TestConfig.temporaryDirectory().appendingPathComponent("store.sqlite").path)
        case .mariadb:
            let base = Backend.mysqlURL!
            let name = "chatbox_t_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
            return .mysql(url: base[..<base.lastIndex(of: "/")!] + "/" + name)
        }
    }

    /// Opens a migrated store on a fresh database (or `location`), runs `body`, closes it. `searchIndex` forces
    /// a MySQL search index (nil: the best the server offers).
    /// `poolTimeout`: how long a MySQL query may wait for a pooled connection (the driver's default is 10 s).
    func withStore(
        poolSize: Int = 4, poolTimeout: Int? = nil, searchIndex: SearchIndexKind? = nil,
        location: DatabaseLocation? = nil, _ body: (SQLChatStore) async throws -> Void
    ) async throws {
        let logger = Logger(label: "store-test")
        var location = location ?? freshLocation()
        if let poolTimeout, case .mysql(let url) = location {
            location = .mysql(url: url + "?poolTimeout=\(poolTimeout)")
        }
        let database = try await OpenDatabase.open(location, mysqlPoolSize: poolSize, logger: logger)
        let store = SQLChatStore(
            db: database.sql, flavor: database.flavor, logger: logger, searchIndex: searchIndex)
        do {
            try await store.migrate()
            try await body(store)
        } catch {
            await database.close()
            throw error
        }
        await database.close()
    }
}

@Suite struct MariaDBIsUnderTestInCI {
    @Test func ciAlwaysRunsTheSuitesOnMariaDBToo() {
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            #expect(Backend.mysqlURL != nil, "CI must run scripts/test.sh, which starts MariaDB")
        }
    }
}

/// Builds the version-6 schema (before the message tree) on a fresh store, holding the user "old" with the
/// conversation "before" of two rounds (q1, a1, q2, a2); returns the user.
func seedVersion6(_ store: SQLChatStore) async throws -> User {
    try await Migrations.run(on: store.db, flavor: store.flavor, now: 1, through: 6)
    let user = try await store.createUser(username: "old", usernameKey: "old", passwordHash: "h", role: .user)
    try await store.db.raw(
        """
        INSERT INTO conversations (user_id, title, title_set_by_user, created_at, updated_at) \
        VALUES (\(bind: user.id), 'before', 1, 1000, 1000)
        """
    ).run()
    for (role, content) in [("user", "q1"), ("assistant", "a1"), ("user", "q2"), ("assistant", "a2")] {
        try await store.db.raw(
            """
            INSERT INTO messages (conversation_id, role, content, status, created_at, updated_at) \
            SELECT id, \(bind: role), \(bind: content), 'completed', 1000, 1000 FROM conversations
            """
        ).run()
    }
    return user
}
