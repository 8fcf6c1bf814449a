import AsyncHTTPClient
import Foundation
import Synchronization

/// The table every run prints: each figure against its target, with the harness's own ceiling beside it.
final class Report: Sendable {
    struct Row: Sendable {
        var figure: String
        var target: String
        var measured: String
        var ceiling: String
        var verdict: String
    }
    private let rows = Mutex<[Row]>([])
    private let notes = Mutex<[String]>([])

    func add(_ figure: String, target: String, measured: String, ceiling: String = "–", ok: Bool?) {
        let verdict = ok.map { $0 ? "meets" : "**misses**" } ?? "info"
        rows.withLock {
            $0.append(Row(figure: figure, target: target, measured: measured, ceiling: ceiling, verdict: verdict))
        }
        log("\(figure): \(measured) [target \(target); harness \(ceiling)] → \(verdict)")
    }

    func note(_ text: String) {
        notes.withLock { $0.append(text) }
        log("note: \(text)")
    }

    func render(machine: String, command: String, started: Date, seconds: Double) -> String {
        var out = "## Chatbox benchmark\n\n"
        out += "- command: `\(command)`\n- machine: \(machine)\n"
        out += "- run: \(ISO8601DateFormatter().string(from: started)), \(Int(seconds)) s\n\n"
        out +=
            "| figure | target | measured | harness ceiling (load generator → fake upstream, same load) | verdict |\n"
        out += "|---|---|---|---|---|\n"
        for row in rows.withLock({ $0 }) {
            out += "| \(row.figure) | \(row.target) | \(row.measured) | \(row.ceiling) | \(row.verdict) |\n"
        }
        let notes = self.notes.withLock { $0 }
        if !notes.isEmpty {
            out += "\nNotes:\n"
            for note in notes { out += "- \(note)\n" }
        }
        return out
    }
}

/// Everything a scenario needs.
struct Bench: Sendable {
    let paths: Paths
    let client: HTTPClient
    let upstream: Upstream
    let options: Options
    let report: Report

    var quick: Bool { options.flag("quick") }

    /// A size: `full` normally, `quick` with --quick; `--NAME N` (or BENCH_NAME) overrides both.
    func size(_ name: String, full: Int, quick: Int) -> Int { options.int(name, self.quick ? quick : full) }

    /// A new, empty SQLite database URL in the scratch folder.
    func freshSQLite(_ label: String) -> String {
        let path = paths.work + "/\(label).sqlite"
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        return "sqlite://" + path
    }

    func startServer(_ label: String, databaseURL: String? = nil, environment: [String: String] = [:]) async throws
        -> Server
    {
        try await Server.start(
            paths, client: client, databaseURL: databaseURL ?? freshSQLite(label), upstream: upstream.baseURL,
            label: label, environment: environment)
    }

    func upstreamCPU() -> Double { ProcStats.cpuSeconds(pid: upstream.child.pid) ?? 0 }
    func ownCPU() -> Double { ProcStats.cpuSeconds(pid: getpid()) ?? 0 }
}
