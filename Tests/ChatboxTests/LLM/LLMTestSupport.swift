import Foundation
import Testing

@testable import Chatbox
import FakeUpstream

/// What a model stream produced: its pieces with arrival times, and how it ended.
struct LLMStreamResult {
    var pieces: [String] = []
    var times: [ContinuousClock.Instant] = []
    var error: (any Error)?
    var text: String { pieces.joined() }
    var modelError: ModelError? { error as? ModelError }
}

/// Helpers of the LLM tests (a namespace, so they cannot clash with other suites' helpers).
enum LLMTest {
    /// Reads a whole stream, recording when each piece arrived. Never throws: the error is in the result.
    static func drain(_ stream: AsyncThrowingStream<String, any Error>) async -> LLMStreamResult {
        var result = LLMStreamResult()
        do {
            for try await piece in stream {
                result.pieces.append(piece)
                result.times.append(.now)
            }
        } catch {
            result.error = error
        }
        return result
    }

    /// Runs `body` with a FakeUpstream and an HTTP client made for model streams, then stops both.
    static func withFakeUpstream(
        _ behaviour: @escaping @Sendable (FakeRequest) -> FakeReply,
        _ body: (FakeUpstream, ModelHTTPClients) async throws -> Void
    ) async throws {
        let upstream = try await FakeUpstream.start(behaviour: behaviour)
        let client = ModelHTTPClients()
        do {
            try await body(upstream, client)
        } catch {
            try? await client.shutdown()
            await upstream.stop()
            throw error
        }
        try await client.shutdown()
        await upstream.stop()
    }

    /// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held. The default is
    /// generous: it only bounds a failure, and a loaded machine closes connections and reaps processes late.
    static func eventually(within timeout: Duration = .seconds(20), _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    /// A loopback port where a connection is refused, for the rest of the test run: a socket is bound to it and never
    /// listens, and is never closed. Before, the port of a server just stopped was handed out, and a server of a
    /// test running meanwhile could take it (an "unreachable" model then answered 404).
    static func closedPort() async throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0  // any free port; no SO_REUSEADDR, so no other socket can bind it while this one holds it
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw POSIXError(.EADDRNOTAVAIL)
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// The repository root, found from this file's path (tests run with the package root as working directory too).
    static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()

    /// True while a process with this PID exists and is not a zombie.
    static func processIsAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else {
            return kill(pid, 0) == 0
        }
        guard let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(close, offsetBy: 2)...].prefix(1)
        return state != "Z" && state != "X"
    }
}
