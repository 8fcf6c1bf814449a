import Configuration
import Foundation
import Hummingbird
import Logging

/// Splits `chatbox user add ada --admin --port 1` into the command words and the flags.
public enum CommandLineWords {
    public static func split(_ arguments: [String]) -> (command: [String], flags: [String]) {
        let rest = arguments.dropFirst()
        let firstFlag = rest.firstIndex { $0.hasPrefix("-") } ?? rest.endIndex
        return (Array(rest[..<firstFlag]), [arguments.first ?? "chatbox"] + rest[firstFlag...])
    }
}

/// The `chatbox` sub-commands: serve (default), migrate, and user management for operators.
public enum Commands {
    static let usage = """
        usage: chatbox [serve] [--host H] [--port P] [--database-url URL] …   run the server (the default)
               chatbox migrate                                                   create or upgrade the schema, then exit
               chatbox user add NAME [--admin]                                   add a user (password read from stdin)
               chatbox user reset-password NAME                                  set a new password (from stdin), sign out everywhere
               chatbox user set-role NAME admin|user                             make or unmake an admin
        Every setting is also an environment variable: --database-url = CHATBOX_DATABASE_URL (see README).
        """

    public static func main(_ command: [String], reader: ConfigReader) async {
        do {
            try await run(command, flags: CommandLine.arguments, reader: reader)
        } catch let error as ConfigError {
            fail("chatbox: \(error)", code: 2)
        } catch let error as UsageError {
            fail("chatbox: \(error.message)\n\(usage)", code: 2)
        } catch let error as any UserFacingError {
            fail("chatbox: \(error.message)", code: 1)
        } catch {
            fail("chatbox: \(error)", code: 1)
        }
    }

    struct UsageError: Error {
        let message: String
    }

    static func run(_ command: [String], flags: [String], reader: ConfigReader) async throws {
        if flags.contains("--help") || flags.contains("-h") || command.first == "help" {
            print(usage)
            return
        }
        let config = try AppConfig(reader: reader)
        switch command {
        case [], ["serve"]:
            try await buildApplication(config: config).runService()
        case ["migrate"]:
            try await withStore(config) { store, _ in
                try await store.migrate()
                print("Database is up to date (\(config.database.redacted)).")
            }
        case let words where words.count == 3 && words[0] == "user" && words[1] == "add":
            let password = try readPassword()
            try await withStore(config) { store, auth in
                let user = try await auth.addUser(
                    username: words[2], password: password, role: flags.contains("--admin") ? .admin : nil)
                print("Added \(user.role.rawValue) \(user.username) (id \(user.id)).")
            }
        case let words where words.count == 3 && words[0] == "user" && words[1] == "reset-password":
            let password = try readPassword()
            try await withStore(config) { store, auth in
                let user = try await auth.resetPassword(username: words[2], password: password)
                print("Password of \(user.username) reset; their sessions were signed out.")
            }
        case let words where words.count == 4 && words[0] == "user" && words[1] == "set-role":
            guard let role = Role(rawValue: words[3]) else { throw UsageError(message: "role must be admin or user") }
            try await withStore(config) { store, auth in
                let user = try await auth.setRole(username: words[2], role: role)
                print("\(user.username) is now \(role == .admin ? "an admin" : "a user").")
            }
        default:
            throw UsageError(message: "unknown command \"\(command.joined(separator: " "))\"")
        }
    }

    private static func withStore(_ config: AppConfig, _ body: (SQLChatStore, AuthService) async throws -> Void)
        async throws
    {
        var logger = Logger(label: "chatbox")
        logger.logLevel = .warning
        let database = try await OpenDatabase.open(config.database, mysqlPoolSize: 2, logger: logger)
        do {
            let store = SQLChatStore(
                db: database.sql, flavor: database.flavor, logger: logger, searchIndex: config.searchIndex)
            try await store.migrate()
            try await body(store, makeAuthService(store: store, config: config, logger: logger))
        } catch {
            await database.close()
            throw error
        }
        await database.close()
    }

    /// The password from standard input (first line); prompts without echo on a terminal.
    private static func readPassword() throws -> String {
        if isatty(STDIN_FILENO) != 0, let typed = getpass("Password: ") {
            return String(cString: typed)
        }
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw UsageError(
                message: "give the password on standard input, e.g. echo 'secret-pass' | chatbox user add NAME")
        }
        return line
    }

    private static func fail(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(code)
    }
}
