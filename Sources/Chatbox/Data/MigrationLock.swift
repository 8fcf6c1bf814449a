import Foundation
import MariaDBKit
import SQLKit
import SQLiteKit

/// The lock that makes instances starting together on one database migrate one at a time: a row in
/// `migration_lock` with a fixed key. Whoever inserts it holds the lock; the others' INSERT is a duplicate (on
/// Galera maybe a deadlock 1213), and they wait and try again. `GET_LOCK` would be simpler but Galera does not
/// support it, and a row works on SQLite too.
///
/// The holder renews the row's time while it migrates (a long step, such as indexing every message, takes
/// minutes); a row not renewed for `staleAfter` belongs to an instance that died mid-migration and is taken over.
/// The row is deleted when the migration ends, whether it succeeded or not.
enum MigrationLock {
    struct Timing: Sendable {
        /// A row older than this (not renewed) is presumed left by a dead instance and taken over.
        var staleAfter: Duration = .seconds(120)
        /// The holder renews its row this often.
        var renewEvery: Duration = .seconds(15)
        /// Waiting for the lock ends with `TimedOut` after this long.
        var maxWait: Duration = .seconds(1800)
        /// The first pause between two tries; each pause doubles, up to one second.
        var firstPause: Duration = .milliseconds(50)
    }

    /// Another instance held the lock (and kept renewing it) for longer than `maxWait`.
    struct TimedOut: Error, CustomStringConvertible {
        let waited: Duration
        let holder: String?
        var description: String {
            "the database migration lock was still held by another instance (\(holder ?? "unknown")) after "
                + "\(waited.components.seconds) s; if no instance is migrating, delete the row of migration_lock"
        }
    }

    static let key = 1

    /// Creates the table if needed, takes the lock, runs `body`, and gives the lock back (also when `body`
    /// throws).
    static func holding<T: Sendable>(
        on db: any SQLDatabase, flavor: SQLFlavor, timing: Timing, _ body: () async throws -> T
    ) async throws -> T {
        let table = flavor == .sqlite ? "" : " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        try await db.raw(
            SQLQueryString(
                """
                CREATE TABLE IF NOT EXISTS migration_lock (id INT NOT NULL PRIMARY KEY, \
                owner VARCHAR(64) NOT NULL, acquired_at BIGINT NOT NULL)\(table)
                """)
        ).run()
        let owner = "\(ProcessInfo.processInfo.hostName.prefix(20)):\(getpid()):\(UUID().uuidString.prefix(8))"
        try await acquire(on: db, owner: owner, timing: timing)
        let renewal = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: timing.renewEvery)
                try? await db.raw(
                    """
                    UPDATE migration_lock SET acquired_at = \(bind: Millis.now()) \
                    WHERE id = \(bind: key) AND owner = \(bind: owner)
                    """
                ).run()
            }
        }
        let result: T
        do {
            result = try await body()
        } catch {
            renewal.cancel()
            try? await release(on: db, owner: owner)
            throw error
        }
        renewal.cancel()
        try await release(on: db, owner: owner)
        return result
    }

    private static func acquire(on db: any SQLDatabase, owner: String, timing: Timing) async throws {
        let started = ContinuousClock.now
        var pause = timing.firstPause
        var holder: String?
        while true {
            do {
                try await db.raw(
                    """
                    INSERT INTO migration_lock (id, owner, acquired_at) \
                    VALUES (\(bind: key), \(bind: owner), \(bind: Millis.now()))
                    """
                ).run()
                return
            } catch  where isTaken(error) {}
            if let row = try await db.raw("SELECT owner, acquired_at FROM migration_lock WHERE id = \(bind: key)")
                .first()
            {
                let other = try row.decode(column: "owner", as: String.self)
                let at = try row.decode(column: "acquired_at", as: Int64.self)
                holder = other
                if Millis.now() - at > timing.staleAfter.wholeNanoseconds / 1_000_000 {
                    // Left by an instance that died mid-migration: taken over (only that very row, so two
                    // waiters cannot both delete a fresh holder's).
                    try await db.raw(
                        """
                        DELETE FROM migration_lock WHERE id = \(bind: key) AND owner = \(bind: other) \
                        AND acquired_at = \(bind: at)
                        """
                    ).run()
                    continue
                }
            } else {
                continue  // released meanwhile: try at once
            }
            let waited = ContinuousClock.now - started
            if waited > timing.maxWait { throw TimedOut(waited: waited, holder: holder) }
            let nanos = pause.wholeNanoseconds
            try await Task.sleep(for: .nanoseconds(Int64.random(in: nanos...(2 * nanos))))
            pause = min(pause * 2, .seconds(1))
        }
    }

    private static func release(on db: any SQLDatabase, owner: String) async throws {
        try await db.raw("DELETE FROM migration_lock WHERE id = \(bind: key) AND owner = \(bind: owner)").run()
    }

    /// The INSERT found the row there: a duplicate key, or on MariaDB/Galera a lost race reported as a deadlock
    /// or lock wait; on SQLite a constraint, or the file busy with another process's migration.
    private static func isTaken(_ error: any Error) -> Bool {
        if let error = error as? MariaDBError { return error.isDuplicateKey || error.isWriteConflict }
        if let error = error as? SQLiteFailure { return error.isConstraint || error.isBusy }
        return false
    }
}
