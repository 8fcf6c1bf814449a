import Foundation

/// Runs commands for tests. The blocking wait happens on a thread of its own, and the child is reaped with
/// `waitpid`: on Linux, `Process.waitUntilExit()` can miss a child's exit and hang.
enum Shell {
    struct Failed: Error, CustomStringConvertible {
        let description: String
    }

    /// A script of the repository's `scripts/` folder.
    static func script(_ name: String) -> String {
        URL(fileURLWithPath: TestConfig.webRoot).deletingLastPathComponent().appendingPathComponent("scripts/\(name)")
            .path
    }

    /// Runs a command with `input` on standard input; returns its exit status and its output (stdout and stderr).
    static func status(_ arguments: [String], input: String = "", environment: [String: String]? = nil) async throws
        -> (status: Int32, output: String)
    {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(
                    with: Result {
                        let process = Process()
                        process.executableURL = URL(
                            fileURLWithPath: arguments[0].hasPrefix("/") ? arguments[0] : "/usr/bin/env")
                        process.arguments = arguments[0].hasPrefix("/") ? Array(arguments.dropFirst()) : arguments
                        if let environment { process.environment = environment }
                        let stdin = Pipe(), output = Pipe()
                        process.standardInput = stdin
                        process.standardOutput = output
                        process.standardError = output
                        try process.run()
                        stdin.fileHandleForWriting.write(Data(input.utf8))
                        try stdin.fileHandleForWriting.close()
                        let data = output.fileHandleForReading.readDataToEndOfFile()
                        // Reap the child ourselves: Foundation's own monitor can miss its exit on Linux.
                        var status: Int32 = 0
                        var reaped: pid_t
                        repeat {
                            reaped = waitpid(process.processIdentifier, &status, 0)
                        } while reaped < 0 && errno == EINTR
                        guard reaped > 0 else {  // Foundation reaped it first, so it knows the status.
                            process.waitUntilExit()
                            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
                        }
                        let code = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
                        return (code, String(decoding: data, as: UTF8.self))
                    })
            }.start()
        }
    }

    /// Runs a command and returns its output; throws when it exits non-zero.
    @discardableResult
    static func run(_ arguments: String...) async throws -> String {
        let (status, output) = try await status(arguments)
        guard status == 0 else { throw Failed(description: "\(arguments) exited \(status): \(output)") }
        return output
    }

    /// Starts a command and does not wait for it (clean-up in `defer`).
    static func runDetached(_ arguments: String...) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        try? process.run()
    }
}
