import Foundation
import Logging
import MariaDBKit
import SQLKit
import SQLiteKit

/// Why a database URL cannot be used, in one line (the configuration adds which setting it was).
public struct DatabaseURLError: Error, Equatable {
    public let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// Where the data lives, from the database URL setting.
public enum DatabaseLocation: Sendable, Equatable {
    case sqlite(path: String)
    case mysql(url: String)

    /// Parses `sqlite:///abs/path.sqlite`, `sqlite://relative.sqlite` or `mysql://user:pass@host:port/db`.
    public init(url: String) throws(DatabaseURLError) {
        if url.hasPrefix("sqlite://") {
            let path = String(url.dropFirst("sqlite://".count))
            guard !path.isEmpty else {
                throw DatabaseURLError("an sqlite URL needs a file path, e.g. sqlite://data/chatbox.sqlite")
            }
            self = .sqlite(path: path)
        } else if url.hasPrefix("mysql://") {
            do { _ = try MariaDBConfiguration(url: url) } catch {
                throw DatabaseURLError("\(error)")
            }
            self = .mysql(url: url)
        } else {
            throw DatabaseURLError(
                "must start with sqlite:// or mysql://, e.g. sqlite://data/chatbox.sqlite or "
                    + "mysql://root:PASSWORD@127.0.0.1:3306/chatbox_db")
        }
    }

    /// How it is shown in logs: never with a password.
    public var redacted: String {
        switch self {
        case .sqlite(let path): "sqlite://\(path)"
        case .mysql(let url): url.replacing(/:[^:@\/]*@/, with: ":***@")
        }
    }
}

/// The database could not be opened at start-up; `message` says where and why, in one line.
public struct DatabaseOpenError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// A database that runs a closure in a transaction on one connection: committed when it returns, rolled back
/// (and rethrown) when it throws. MariaDBKit's `MariaDBDatabase` is one; so is `SQLitePool`.
public protocol TransactionalDatabase: SQLDatabase {
    func transaction<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T
}

extension MariaDBDatabase: TransactionalDatabase {}

/// An open database: the SQLKit handle the store uses, its flavour, and how to close it.
public struct OpenDatabase: Sendable {
    public let sql: any TransactionalDatabase
    public let flavor: SQLFlavor
    public let close: @Sendable () async -> Void

    /// Opens SQLite (creating the file and its folder) or MySQL (creating the database if it does not exist).
    public static func open(_ location: DatabaseLocation, mysqlPoolSize: Int, logger: Logger) async throws
        -> OpenDatabase
    {
        switch location {
        case .sqlite(let path):
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let pool: SQLitePool
            do { pool = try await SQLitePool.open(path: path, logger: logger) } catch {
                throw DatabaseOpenError(message: "Cannot open the SQLite database at \(path): \(error)")
            }
            return OpenDatabase(sql: pool, flavor: .sqlite, close: { await pool.close() })
        case .mysql(let url):
            var configuration = try MariaDBConfiguration(url: url)
            configuration.poolSize = mysqlPoolSize
            let database = MariaDBDatabase(configuration: configuration, logger: logger)
            do {
                try await database.createDatabaseIfNeeded()
            } catch {
                await database.shutdown()
                throw error
            }
            return OpenDatabase(sql: database, flavor: .mysql, close: { await database.shutdown() })
        }
    }
}

/// Recognises failures that mean "the database cannot serve right now" rather than a bug, with what to tell
/// the person: MySQL unreachable, or an SQLite file that cannot be written (read-only, full disk, I/O error).
public enum DatabaseErrors {
    /// What a person is told when their change lost to a concurrent one (`isWriteConflict`).
    public static let conflictMessage = "The database is busy with a conflicting change; please try again."

    /// A write that lost to a concurrent one and is worth trying again: `StoreError.conflict` (the store's
    /// transactions gave up after retrying), or a single statement's MariaDB deadlock 1213 (on Galera also a
    /// certification failure) or lock wait timeout 1205.
    public static func isWriteConflict(_ error: any Error) -> Bool {
        if case StoreError.conflict? = error as? StoreError { return true }
        return (error as? MariaDBError)?.isWriteConflict == true
    }

    public static func unavailableMessage(_ error: any Error) -> String? {
        if isWriteConflict(error) { return conflictMessage }
        // 1047 (ER_UNKNOWN_COM_ERROR): a Galera node that is not part of the primary component refuses queries.
        if let error = error as? MariaDBError, error.isConnectionError || error.isPoolTimeout || error.code == 1047 {
            return "The database is unavailable; please try again shortly."
        }
        if error is AsyncPoolClosed { return "The server is shutting down; please try again shortly." }
        if let error = error as? SQLiteFailure {
            if error.isUnwritable {
                return "The database cannot be written (its disk is full or read-only); nothing was changed."
            }
            if error.isBusy { return "The database is busy; please try again shortly." }
        }
        return nil
    }
}
