import FakeUpstream
import Foundation

// chatbox-bench: load generator, fake upstream, seeding tool and report for Chatbox (see bench/README.md).

let usage = """
    chatbox-bench run [SCENARIO…] [--quick] [--out FILE] [--server PATH] [--work DIR] [--SIZE N…]
        scenarios: startup ttft cpu (= plain and with reasoning; cpu-plain, cpu-reasoning alone) concurrency slow
                   history (= history-sqlite history-mysql) soak turn-store
        (default: all but soak and turn-store). Sizes: see bench/README.md.
    chatbox-bench soak [--soak-users 200] [--soak-seconds 180] [--soak-tokens 20] [--soak-delay-ms 250]
    chatbox-bench seed --database-url URL [--conversations 100000] [--messages 1000000] [--users 10]
    chatbox-bench upstream [--port P] [--max-seconds S]
    """

let arguments = Array(CommandLine.arguments.dropFirst())
let command = arguments.first ?? "help"
let options = Options(Array(arguments.dropFirst()))

func runUpstream(_ options: Options) async throws {
    var stop: @Sendable () async -> Void
    let base: String
    if options.flag("hummingbird") {  // the project's FakeUpstream (Hummingbird), for comparison
        let upstream = try await FakeUpstream.start(
            port: options.int("port", 0),
            behaviour: FakeUpstream.makeDirectiveBehaviour(defaultDelay: .milliseconds(5), defaultTokens: 200))
        (base, stop) = (upstream.baseURL, { await upstream.stop() })
    } else {
        let channel = try await FastUpstream.start(port: options.int("port", 0))
        base = "http://127.0.0.1:\(channel.localAddress?.port ?? 0)/v1"
        stop = { try? await channel.close() }
    }
    FileHandle.standardOutput.write(Data("listening on \(base)\n".utf8))
    let parent = getppid()
    for _ in 0..<options.int("max-seconds", 4 * 3600) {
        if getppid() != parent { break }  // the bench that started it is gone
        try? await Task.sleep(for: .seconds(1))
    }
    await stop()
}

func runSeed(_ options: Options) async throws {
    guard let url = options.values["database-url"] else {
        print(usage)
        exit(2)
    }
    var plan = SeedPlan()
    plan.conversations = options.int("conversations", plan.conversations)
    plan.messages = options.int("messages", plan.messages)
    plan.users = options.int("users", plan.users)
    plan.longConversation = options.int("long-conversation", plan.longConversation)
    let result = try await seedDatabase(url: url, plan: plan)
    print(
        result.reused
            ? "already seeded: \(result.conversations) conversations, \(result.messages) messages"
            : "seeded \(result.conversations) conversations, \(result.messages) messages "
                + "(\(result.bytes / 1_000_000) MB of text) in \(fmt(result.seconds)) s")
}

func runBench(_ options: Options, scenarios requested: [String]) async throws -> Bool {
    let limit = raiseFileLimit()
    let paths = Paths.resolve(options)
    guard FileManager.default.isExecutableFile(atPath: paths.server) else {
        log("no server binary at \(paths.server) (swift build -c release --product chatbox, or --server PATH)")
        return false
    }
    let client = API.makeClient()
    let upstream = try await Upstream.start(paths, client: client)
    let report = Report()
    let bench = Bench(paths: paths, client: client, upstream: upstream, options: options, report: report)
    let began = Date()
    let startedNanos = nowNanos()
    log("machine: \(machineDescription()); scratch folder \(paths.work); open files \(limit)")
    var expanded: [String] = []
    for name in requested.isEmpty ? ["startup", "ttft", "cpu", "concurrency", "slow", "history"] : requested {
        expanded += name == "history" ? ["history-sqlite", "history-mysql"] : [name]
    }
    var ok = true
    for name in expanded {
        log("— scenario \(name) —")
        do {
            switch name {
            case "startup": try await startupScenario(bench)
            case "ttft": try await ttftScenario(bench)
            case "cpu": try await cpuScenario(bench)
            case "cpu-plain": try await cpuScenario(bench, reasoning: false)
            case "cpu-reasoning": try await cpuScenario(bench, plain: false)
            case "concurrency": try await concurrencyScenario(bench)
            case "slow": try await slowScenario(bench)
            case "history-sqlite": try await historyScenario(bench, flavor: "sqlite")
            case "history-mysql": try await historyScenario(bench, flavor: "mysql")
            case "soak": try await soakScenario(bench)
            case "turn-store": try await turnStoreScenario(bench)
            default:
                report.note("unknown scenario \(name)")
                ok = false
            }
        } catch {
            report.note("scenario \(name) failed: \(error)")
            ok = false
        }
    }
    await upstream.child.stop()
    try? await client.shutdown()
    let words = options.string(
        "command", "chatbox-bench run " + CommandLine.arguments.dropFirst(2).joined(separator: " "))
    let table = report.render(
        machine: machineDescription(), command: words, started: began, seconds: ms(nowNanos() - startedNanos) / 1000)
    print(table)
    if let out = options.values["out"] {
        try? FileManager.default.createDirectory(
            atPath: URL(fileURLWithPath: out).deletingLastPathComponent().path, withIntermediateDirectories: true)
        try table.write(toFile: out, atomically: true, encoding: .utf8)
        log("table written to \(out)")
    }
    return ok
}

do {
    switch command {
    case "upstream": try await runUpstream(options)
    case "seed": try await runSeed(options)
    case "run": exit(try await runBench(options, scenarios: options.positional) ? 0 : 1)
    case "soak": exit(try await runBench(options, scenarios: ["soak"]) ? 0 : 1)
    default: print(usage)
    }
} catch {
    log("error: \(error)")
    exit(1)
}
