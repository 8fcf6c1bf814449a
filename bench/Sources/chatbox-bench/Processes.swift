import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A child process (the server or the fake upstream) with its output in a log file.
final class Child: @unchecked Sendable {
    let process: Process
    let name: String
    var pid: Int32 { process.processIdentifier }

    init(name: String, executable: String, arguments: [String], environment: [String: String], logPath: String) throws {
        self.name = name
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var isRunning: Bool { process.isRunning }

    /// SIGTERM, then SIGKILL if still alive after `grace`.
    func stop(grace: Duration = .seconds(15)) async {
        guard process.isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            log("\(name) did not stop within \(grace); killing it")
            kill(pid, SIGKILL)
            while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound to port 0, then released).
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Polls `url` until it answers 200; returns the nanoseconds waited, or nil after `timeout`.
func waitHealthy(_ client: HTTPClient, url: String, timeout: Duration = .seconds(60), child: Child? = nil) async
    -> UInt64?
{
    let started = nowNanos()
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let child, !child.isRunning { return nil }
        if let request = try? HTTPClient.Request(url: url, method: .GET),
            let response = try? await client.execute(request: request, deadline: .now() + .seconds(2)).get(),
            response.status == HTTPResponseStatus.ok
        {
            return nowNanos() - started
        }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return nil
}

/// Where the binaries and scratch files are.
struct Paths: Sendable {
    let server: String  // the release `chatbox` binary
    let bench: String  // this binary (runs `upstream` too)
    let work: String  // scratch folder for databases and logs
    let repo: String  // the repository (scripts/, web/)
    var hummingbirdUpstream = false

    static func resolve(_ options: Options) -> Paths {
        let bench =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let binDir = URL(fileURLWithPath: bench).deletingLastPathComponent().path
        let repo = options.string("repo", FileManager.default.currentDirectoryPath)
        let work = options.string("work", NSTemporaryDirectory() + "chatbox-bench")
        try? FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        return Paths(
            server: options.string("server", binDir + "/chatbox"), bench: bench, work: work, repo: repo,
            hummingbirdUpstream: options.flag("hummingbird-upstream"))
    }
}

/// A running Chatbox server started for one scenario.
struct Server: Sendable {
    let child: Child
    let port: Int
    let api: API
    /// Launch to the first 200 from /healthz.
    let startupNanos: UInt64

    var pid: Int32 { child.pid }

    static func start(
        _ paths: Paths, client: HTTPClient, databaseURL: String, upstream: String, label: String,
        environment extra: [String: String] = [:]
    ) async throws -> Server {
        let port = freePort()
        var environment = [
            "CHATBOX_HOST": "127.0.0.1", "CHATBOX_PORT": "\(port)", "CHATBOX_DATABASE_URL": databaseURL,
            "CHATBOX_LLM_BASE_URL": upstream, "CHATBOX_LLM_MODEL": "fake", "CHATBOX_BCRYPT_COST": "4",
            "CHATBOX_LOG_LEVEL": "warning", "CHATBOX_LOGIN_MAX_FAILURES_PER_ADDRESS": "100000",
            "CHATBOX_REGISTRATION_MAX_PER_ADDRESS": "100000",
            "CHATBOX_REGISTRATION_OPEN": "true", "CHATBOX_SHUTDOWN_GRACE_SECONDS": "2",
            // The load runs hundreds of streams per account and signs every account up from one address.
            "CHATBOX_CHAT_MAX_RUNNING_PER_USER": "10000", "CHATBOX_CHAT_MAX_STREAMS_PER_USER": "100000",
            "CHATBOX_WEB_ROOT": paths.repo + "/web"
        ]
        for (key, value) in extra { environment[key] = value }
        let child = try Child(
            name: "chatbox", executable: paths.server, arguments: ["serve"], environment: environment,
            logPath: paths.work + "/server-\(label).log")
        guard let waited = await waitHealthy(client, url: "http://127.0.0.1:\(port)/healthz", child: child) else {
            await child.stop()
            throw API.Failure(description: "the server did not become healthy; see \(paths.work)/server-\(label).log")
        }
        return Server(
            child: child, port: port, api: API(client: client, base: "http://127.0.0.1:\(port)"),
            startupNanos: waited)
    }

    func cpuSeconds() -> Double { ProcStats.cpuSeconds(pid: pid) ?? 0 }
    func rssMB() -> Double { ProcStats.memoryMB(pid: pid, "VmRSS") ?? 0 }
    func peakRSSMB() -> Double { ProcStats.memoryMB(pid: pid, "VmHWM") ?? 0 }

    func stop() async { await child.stop() }
}

/// The fake upstream, run as `chatbox-bench upstream` in its own process.
struct Upstream: Sendable {
    let child: Child
    let port: Int
    var baseURL: String { "http://127.0.0.1:\(port)/v1" }
    var api: API

    static func start(_ paths: Paths, client: HTTPClient) async throws -> Upstream {
        let port = freePort()
        let child = try Child(
            name: "fake-upstream", executable: paths.bench,
            arguments: ["upstream", "--port", "\(port)"] + (paths.hummingbirdUpstream ? ["--hummingbird"] : []),
            environment: [:], logPath: paths.work + "/upstream.log")
        guard await waitHealthy(client, url: "http://127.0.0.1:\(port)/health", child: child) != nil else {
            await child.stop()
            throw API.Failure(description: "the fake upstream did not start; see \(paths.work)/upstream.log")
        }
        return Upstream(child: child, port: port, api: API(client: client, base: "http://127.0.0.1:\(port)"))
    }
}
