import Foundation
import Logging
@testable import MariaDBKit
import SQLKit

/// The test server, from `CHATBOX_TEST_MYSQL_URL` (e.g. the last line of `scripts/start-mariadb.sh DIR`).
let testURL = ProcessInfo.processInfo.environment["CHATBOX_TEST_MYSQL_URL"]
let hasTestServer = testURL != nil

enum Support {
    /// Seconds a loaded machine may add to a timeout before the failure is seen (scheduling, not the driver). The
    /// bounds below only need to tell "the configured timeout applied" from "no timeout" (minutes, or forever).
    static let slack = 10.0

    static func configuration(
        database: String? = nil, poolSize: Int = 4, poolTimeout: Int = 10, connectTimeout: Int = 5
    ) throws -> MariaDBConfiguration {
        var c = try MariaDBConfiguration(url: testURL!, source: "CHATBOX_TEST_MYSQL_URL")
        if let database { c.database = database }
        c.poolSize = poolSize
        c.poolTimeoutSeconds = poolTimeout
        c.connectTimeoutSeconds = connectTimeout
        return c
    }

    static var logger: Logger {
        var l = Logger(label: "mariadb-test")
        l.logLevel = .info
        return l
    }

    /// A database on the test server (created if missing); shut down after `body`.
    static func withDatabase<T>(
        poolSize: Int = 4, poolTimeout: Int = 10, _ body: (MariaDBDatabase) async throws -> T
    ) async throws -> T {
        let db = MariaDBDatabase(
            configuration: try configuration(poolSize: poolSize, poolTimeout: poolTimeout), logger: logger)
        do {
            try await db.createDatabaseIfNeeded()
            let result = try await body(db)
            await db.shutdown()
            return result
        } catch {
            await db.shutdown()
            throw error
        }
    }

    /// A table name no other test uses.
    static func tableName(_ prefix: String) -> String {
        "\(prefix)_\(UInt32.random(in: 0...UInt32.max))"
    }

    static func elapsed<T>(_ body: () async throws -> T) async rethrows -> (T, Double) {
        let clock = ContinuousClock()
        let start = clock.now
        let value = try await body()
        let d = clock.now - start
        return (value, Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }

    static func elapsedError(_ body: () async throws -> Void) async -> ((any Error)?, Double) {
        let clock = ContinuousClock()
        let start = clock.now
        var caught: (any Error)?
        do { try await body() } catch { caught = error }
        let d = clock.now - start
        return (caught, Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }
}
