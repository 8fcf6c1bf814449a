@testable import Chatbox
import Foundation

/// Runs commands for tests, through `ChildProcess` (posix_spawn, all other descriptors closed in the child, reaped
/// with `waitpid`) rather than Foundation's `Process`: under the parallel suite `Process.run` crashed in `memcpy`
/// (twice in CI), and on Linux `Process.waitUntilExit()` can miss a child's exit and hang. The blocking part runs on
/// a thread of its own.
enum Shell {
    struct Failed: Error, CustomStringConvertible {
        let description: String
    }

    /// A script of the repository's `scripts/` folder.
    static func script(_ name: String) -> String {
        URL(fileURLWithPath: TestConfig.webRoot).deletingLastPathComponent().appendingPathComponent("scripts/\(name)")
            .path
    }

    /// Runs a command with `input` on standard input; returns its exit status (128 + the signal when killed) and
    /// its output (stdout and stderr together). `environment` nil: this process's.
    static func status(_ arguments: [String], input: String = "", environment: [String: String]? = nil) async throws
        -> (status: Int32, output: String)
    {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try runBlocking(arguments, input: input, environment: environment) })
            }.start()
        }
    }

    private static func runBlocking(_ arguments: [String], input: String, environment: [String: String]?) throws
        -> (status: Int32, output: String)
    {
        let child = try ChildProcess.spawn(
            shellCommand: quoted(arguments) + " 2>&1", environment: environment ?? ProcessInfo.processInfo.environment)
        close(child.stderr)
        var pending = Array(input.utf8)[...]  // small inputs: they fit in the pipe
        while !pending.isEmpty {
            let written = pending.withUnsafeBytes { write(child.stdin, $0.baseAddress, $0.count) }
            if written > 0 {
                pending = pending.dropFirst(written)
            } else if written < 0 && (errno == EAGAIN || errno == EINTR) {
                usleep(1000)
            } else {
                break
            }
        }
        close(child.stdin)
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = read(child.stdout, &buffer, buffer.count)
            if count > 0 {
                output += buffer[0..<count]
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                break
            }
        }
        close(child.stdout)
        let status: Int32
        switch child.wait() {
        case .exited(let code): status = code
        case .signaled(let signal): status = 128 + signal
        }
        return (status, String(decoding: output, as: UTF8.self))
    }

    @discardableResult
    static func run(_ arguments: String...) async throws -> String {
        let (status, output) = try await status(arguments)
        guard status == 0 else { throw Failed(description: "\(arguments) exited \(status): \(output)") }
        return output
    }

    /// Starts a command and does not wait for it (clean-up in `defer`): it writes nowhere, so it runs to its end
    /// even if this process exits first; a thread of its own reaps it meanwhile.
    static func runDetached(_ arguments: String...) {
        guard
            let child = try? ChildProcess.spawn(
                shellCommand: quoted(arguments) + " </dev/null >/dev/null 2>&1",
                environment: ProcessInfo.processInfo.environment)
        else { return }
        for fd in [child.stdin, child.stdout, child.stderr] { close(fd) }
        Thread { _ = child.wait() }.start()
    }

    /// The arguments as one `sh` command line, each single-quoted.
    private static func quoted(_ arguments: [String]) -> String {
        arguments.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
    }
}
