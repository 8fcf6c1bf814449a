import Foundation

/// List 50 conversations, open the 1,000-message one and search, with 100k conversations / 1M messages stored.
func historyScenario(_ b: Bench, flavor: String) async throws {
    var plan = SeedPlan()
    plan.conversations = b.size("seed-conversations", full: 100_000, quick: 10_000)
    plan.messages = b.size("seed-messages", full: 1_000_000, quick: 100_000)
    let url: String
    var stopMariaDB: (() async -> Void)?
    if flavor == "mysql" {
        guard let mysql = try await startMariaDB(b) else {
            b.report.note(
                "MySQL history figures skipped: no MariaDB could be started (scripts/start-mariadb.sh; "
                    + "apt-get install mariadb-server) and no --mysql-url was given.")
            return
        }
        (url, stopMariaDB) = mysql
    } else {
        let path = b.paths.work + "/history-\(plan.conversations)-\(plan.messages).sqlite"
        if b.options.flag("reseed") {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        url = "sqlite://" + path
    }
    log("seeding \(flavor): \(plan.conversations) conversations, \(plan.messages) messages")
    let seeded = try await seedDatabase(url: url, plan: plan)
    let seedLine =
        seeded.reused
        ? "database reused from an earlier run (--reseed to rebuild)"
        : "seeded in \(fmt(seeded.seconds)) s (\(Int(Double(seeded.messages) / max(seeded.seconds, 0.001))) messages/s, "
            + "\(seeded.bytes / 1_000_000) MB of text)"
    log("\(flavor): \(seedLine)")
    let server = try await b.startServer("history-\(flavor)", databaseURL: url)
    do {
        try await measureHistory(b, server: server, flavor: flavor, plan: plan, seedLine: seedLine)
    } catch {
        await server.stop()
        await stopMariaDB?()
        throw error
    }
    await server.stop()
    await stopMariaDB?()
}

private func measureHistory(_ b: Bench, server: Server, flavor: String, plan: SeedPlan, seedLine: String)
    async throws
{
    let api = server.api
    let token = try await api.signIn(SeedPlan.heavyUser, password: SeedPlan.password)
    let repeats = b.size("history-repeats", full: 200, quick: 40)
    func timed(_ path: String, times: Int) async throws -> [Double] {
        var samples: [Double] = []
        for _ in 0..<times {
            let (status, body, nanos) = try await api.call(.GET, path, token: token)
            guard status == 200 else {
                throw API.Failure(description: "GET \(path): HTTP \(status) \(String(buffer: body).prefix(200))")
            }
            samples.append(ms(nanos))
        }
        return samples
    }
    // Warm caches the way a running server would have them, then measure.
    _ = try await timed("/api/conversations?limit=50", times: 5)
    let list = try await timed("/api/conversations?limit=50", times: repeats)
    let (_, body, _) = try await api.call(.GET, "/api/conversations/1", token: token)
    let messages = (api.object(body)["messages"] as? [Any])?.count ?? 0
    _ = try await timed("/api/conversations/1", times: 3)
    let open = try await timed("/api/conversations/1", times: max(repeats / 4, 10))

    var health: [Double] = []
    for _ in 0..<repeats { health.append(ms(try await b.upstream.api.call(.GET, "/health").nanos)) }
    let floor = "GET of a tiny page: p50 \(fmt(percentile(health, 50), 2)) ms"
    let heavy = Int(Double(plan.conversations) * plan.heavyShare)
    let scale =
        "\(plan.conversations / 1000)k conversations stored, \(flavor == "mysql" ? "MySQL (MariaDB)" : "SQLite")"
    b.report.add(
        "list 50 conversations, p50 (\(scale); user owns \(heavy))", target: "≤ 5 ms",
        measured: "\(fmt(percentile(list, 50), 2)) ms (p99 \(fmt(percentile(list, 99), 2)) ms)", ceiling: floor,
        ok: (percentile(list, 50) ?? 99) <= 5)
    b.report.add(
        "open a \(messages)-message conversation, p50 (\(scale))", target: "≤ 20 ms",
        measured: "\(fmt(percentile(open, 50), 2)) ms (p99 \(fmt(percentile(open, 99), 2)) ms)", ceiling: floor,
        ok: (percentile(open, 50) ?? 99) <= 20 && messages == plan.longConversation)

    let words = b.options.string("search-words", "database,zanzibar,xylophonist,数据库,量子纠缠,麒麟座星云")
        .split(separator: ",").map(String.init)
    let searchRepeats = b.size("search-repeats", full: 10, quick: 3)
    var all: [Double] = []
    var perWord: [String] = []
    for word in words {
        let path =
            "/api/conversations?limit=50&q="
            + (word.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? word)
        let (_, found, _) = try await api.call(.GET, path, token: token)
        let hits = (api.object(found)["conversations"] as? [Any])?.count ?? 0
        let samples = try await timed(path, times: searchRepeats)
        all += samples
        perWord.append("\(word) \(fmt(percentile(samples, 50), 0)) ms (\(hits == 50 ? "50+" : "\(hits)") hits)")
    }
    let p50 = percentile(all, 50) ?? 9999
    b.report.add(
        "search a user's history, p50 over all words (\(plan.messages / 1000)k messages stored, "
            + "\(flavor == "mysql" ? "MySQL" : "SQLite"); common, rare and absent words)",
        target: "≤ 100 ms", measured: "\(fmt(p50, 1)) ms: " + perWord.joined(separator: ", "),
        ceiling: floor, ok: p50 <= 100 && perWord.count == words.count)
    b.report.note("\(flavor) history database: \(seedLine).")
}

/// A private MariaDB in the scratch folder (or --mysql-url), returned with how to stop it.
private func startMariaDB(_ b: Bench) async throws -> (String, () async -> Void)? {
    if let url = b.options.values["mysql-url"] ?? ProcessInfo.processInfo.environment["BENCH_MYSQL_URL"] {
        return (url, {})
    }
    let dir = b.paths.work + "/mariadb"
    let script = b.paths.repo + "/scripts/start-mariadb.sh"
    guard FileManager.default.fileExists(atPath: script) else { return nil }
    guard let output = try? await runScript(script, [dir], log: b.paths.work + "/mariadb-start.log"),
        let url = output.split(separator: "\n").last.map(String.init), url.hasPrefix("mysql://")
    else { return nil }
    let stop = b.paths.repo + "/scripts/stop-mariadb.sh"
    let keep = b.options.flag("keep-mariadb")
    return (url, { if !keep { _ = try? await runScript(stop, [dir], log: b.paths.work + "/mariadb-stop.log") } })
}

/// Runs a script to its end and returns its standard output.
func runScript(_ path: String, _ arguments: [String], log logPath: String) async throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = [path] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    FileManager.default.createFile(atPath: logPath, contents: nil)
    process.standardError = FileHandle(forWritingAtPath: logPath)
    try process.run()
    try? pipe.fileHandleForWriting.close()  // else the read below never sees the end
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    let status = await exitStatus(of: process)  // the script's stdout has closed: it is ending
    guard status == 0 else {
        throw API.Failure(description: "\(path) failed (\(status)); see \(logPath)")
    }
    return String(decoding: data, as: UTF8.self)
}

/// The exit status of a child, by `waitpid`. Foundation's `waitUntilExit()` can wait forever on Linux once the
/// child has exited (it hung the bench after starting MariaDB), so the child is reaped here.
private func exitStatus(of process: Process) async -> Int32 {
    var status: Int32 = 0
    while true {
        let reaped = waitpid(process.processIdentifier, &status, WNOHANG)
        if reaped == process.processIdentifier {
            return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + status & 0x7f
        }
        if reaped == -1 {  // Foundation reaped it first: its status arrives shortly
            for _ in 0..<250 where process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
            return process.isRunning ? -1 : process.terminationStatus
        }
        try? await Task.sleep(for: .milliseconds(20))
    }
}
