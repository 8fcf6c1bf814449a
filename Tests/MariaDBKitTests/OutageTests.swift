import Foundation
#if canImport(Glibc)
    import Glibc
#endif
@testable import MariaDBKit
import SQLKit
import Testing

/// A second, private MariaDB in a temp dir, started and stopped with scripts/start-mariadb.sh and
/// scripts/stop-mariadb.sh, so stopping it disturbs nobody else's server.
struct PrivateServer {
    static let scripts = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts")
    static var available: Bool {
        hasTestServer
            && FileManager.default.isExecutableFile(atPath: scripts.appendingPathComponent("start-mariadb.sh").path)
            && (FileManager.default.isExecutableFile(atPath: "/usr/sbin/mariadbd")
                || FileManager.default.isExecutableFile(atPath: "/usr/bin/mariadbd"))
    }

    let dir: String

    init() throws {
        dir =
            FileManager.default.temporaryDirectory.appendingPathComponent("mdbkit-\(UInt32.random(in: 0...UInt32.max))")
            .path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    /// Starts (or restarts, same port) the server; returns its URL.
    @discardableResult
    func start() async throws -> String {
        // One more try when the first fails: on a busy machine another test can take the port picked for the
        // server between the pick and the bind, or the first start can die while the machine is loaded.
        let out: String
        do { out = try await Self.onThread { [dir] in try Self.run("start-mariadb.sh", dir) } } catch {
            print("start-mariadb.sh failed once, trying again: \(error)")
            out = try await Self.onThread { [dir] in try Self.run("start-mariadb.sh", dir) }
        }
        guard let url = out.split(separator: "\n").last.map(String.init), url.hasPrefix("mysql://") else {
            throw MariaDBConfigurationError(message: "start-mariadb.sh printed no URL: \(out)")
        }
        return url
    }

    func stop() async throws { _ = try await Self.onThread { [dir] in try Self.run("stop-mariadb.sh", dir) } }

    /// Stops the server and deletes its directory (synchronous, for `defer`).
    func remove() {
        _ = try? Self.run("stop-mariadb.sh", dir)
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Blocking work on its own thread, not on a Swift concurrency thread.
    private static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    /// Runs a script with posix_spawn + waitpid (Foundation's `Process.waitUntilExit` can miss the child's
    /// exit when called from a Swift concurrency thread on Linux, and hang).
    private static func run(_ script: String, _ argument: String) throws -> String {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw MariaDBConfigurationError(message: "pipe failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)  // its reasons too, for the error message
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])
        let argv = ["/bin/bash", scripts.appendingPathComponent(script).path, argument]
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/bash", &actions, nil, &cArgs, environ)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw MariaDBConfigurationError(message: "posix_spawn failed: \(rc)")
        }
        var output = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fds[0], &buffer, buffer.count)
            if n > 0 { output += buffer[0..<n] } else if n == 0 || errno != EINTR { break }
        }
        close(fds[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let out = String(decoding: output, as: UTF8.self)
        let exitCode = (status >> 8) & 0xFF
        guard status & 0x7F == 0, exitCode == 0 else {
            throw MariaDBConfigurationError(message: "\(script) failed (status \(status)): \(out)")
        }
        return out
    }
}

@Suite("Server outage and recovery (a private MariaDB stopped and restarted)", .enabled(if: PrivateServer.available))
struct OutageTests {
    func seconds(_ t: Double) -> String { String(format: "%.3f s", t) }

    func one(_ db: MariaDBDatabase) async throws -> Int? {
        try await db.raw("SELECT 1 AS one").first(decodingColumn: "one", as: Int.self)
    }

    @Test("queries fail fast and cleanly while the server is down, then succeed on the same database once it is back")
    func outageAndRecovery() async throws {
        let server = try PrivateServer()
        defer { server.remove() }
        var configuration = try MariaDBConfiguration(url: try await server.start(), source: "test")
        configuration.poolSize = 4
        configuration.connectTimeoutSeconds = 2
        configuration.readWriteTimeoutSeconds = 3
        let db = MariaDBDatabase(configuration: configuration, logger: Support.logger)
        try await db.createDatabaseIfNeeded()

        // Fill the pool with idle connections.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { _ = try await db.raw("SELECT SLEEP(0.05)").run() } }
            try await group.waitForAll()
        }
        #expect(db.pool.statistics.idle >= 2)

        // 1. A query in flight when the server stops fails (no hang).
        async let inFlight = Support.elapsedError { _ = try await db.raw("SELECT SLEEP(20)").run() }
        try await Task.sleep(for: .milliseconds(300))
        let (_, stopTime) = try await Support.elapsed { try await server.stop() }
        let (inFlightError, inFlightTime) = await inFlight
        let inFlightMaria = try #require(inFlightError as? MariaDBError)
        #expect(inFlightMaria.isConnectionError)
        #expect(inFlightTime < 10)
        print(
            "outage: server stopped in \(seconds(stopTime)); in-flight SLEEP(20) failed after \(seconds(inFlightTime)): \(inFlightMaria)"
        )

        // 2. While it is down every query fails quickly with a clear connection error; concurrent ones too.
        let (downError, downTime) = await Support.elapsedError { _ = try await one(db) }
        let down = try #require(downError as? MariaDBError)
        #expect(down.isConnectionError)
        #expect(down.description.contains("MySQL at 127.0.0.1:\(configuration.port)"))
        #expect(downTime < Double(configuration.connectTimeoutSeconds) + Support.slack)
        print("outage: query while down failed after \(seconds(downTime)): \(down)")
        let (failures, burstTime) = await Support.elapsed {
            await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<20 {
                    group.addTask { ((try? await one(db)) ?? nil) == nil }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
        }
        #expect(failures == 20)
        #expect(burstTime < Double(configuration.connectTimeoutSeconds) + Support.slack)
        print("outage: 20 concurrent queries while down all failed within \(seconds(burstTime))")

        // 3. Back up: the very next query succeeds, without restarting anything.
        let (_, startTime) = try await Support.elapsed { try await server.start() }
        let (value, upTime) = try await Support.elapsed { try await one(db) }
        #expect(value == 1)
        print("outage: server restarted in \(seconds(startTime)); first query after it succeeded in \(seconds(upTime))")

        // 4. Restart while the app is idle with a full pool of now-stale connections: still no failed query.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { _ = try await db.raw("SELECT SLEEP(0.05)").run() } }
            try await group.waitForAll()
        }
        let idleBefore = db.pool.statistics.idle
        try await server.stop()
        try await server.start()
        let (values, staleTime) = try await Support.elapsed {
            try await withThrowingTaskGroup(of: Int?.self) { group in
                for _ in 0..<8 { group.addTask { try await one(db) } }
                return try await group.reduce(into: [Int?]()) { $0.append($1) }
            }
        }
        #expect(values.count == 8 && values.allSatisfy { $0 == 1 })
        print(
            "outage: after a restart with \(idleBefore) stale idle connections, 8 queries succeeded in \(seconds(staleTime))"
        )
        #expect(db.pool.statistics.open <= configuration.poolSize)

        // 5. A hung server (SIGSTOP: connections stay open, nothing answers): the query fails after about
        //    readWriteTimeoutSeconds instead of hanging, and once the server runs again queries succeed.
        let pidText = try String(contentsOfFile: server.dir + "/mysqld.pid", encoding: .utf8)
        let pid = try #require(Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        kill(pid, SIGSTOP)
        // Wait until the kernel reports every thread of the server stopped before asking it anything.
        for _ in 0..<100 {
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            if stat.split(separator: " ").dropFirst(2).first == "T" { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let (hungError, hungTime) = await Support.elapsedError { _ = try await one(db) }
        kill(pid, SIGCONT)
        let hung = try #require(hungError as? MariaDBError)
        #expect(hung.isConnectionError)
        #expect(hungTime >= Double(configuration.readWriteTimeoutSeconds) - 0.5)
        #expect(hungTime < Double(configuration.readWriteTimeoutSeconds) * 3 + Support.slack)
        print("outage: hung server (SIGSTOP) failed the query after \(seconds(hungTime)): \(hung)")
        let (afterHung, afterHungTime) = try await Support.elapsed { try await one(db) }
        #expect(afterHung == 1)
        print("outage: after SIGCONT the next query succeeded in \(seconds(afterHungTime))")
        await db.shutdown()
    }
}
