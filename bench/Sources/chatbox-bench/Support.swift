import Foundation
import Synchronization

/// `--key value` and `--flag` words after the subcommand; positional words kept in order.
struct Options: Sendable {
    var values: [String: String] = [:]
    var positional: [String] = []

    /// Flags that never take a value.
    static let booleans: Set<String> = [
        "quick", "reseed", "keep-mariadb", "help", "hummingbird", "hummingbird-upstream"
    ]

    init(_ words: [String]) {
        var i = 0
        while i < words.count {
            let word = words[i]
            if word.hasPrefix("--") {
                let body = String(word.dropFirst(2))
                if let eq = body.firstIndex(of: "=") {
                    values[String(body[..<eq])] = String(body[body.index(after: eq)...])
                } else if !Self.booleans.contains(body), i + 1 < words.count, !words[i + 1].hasPrefix("--") {
                    values[body] = words[i + 1]
                    i += 1
                } else {
                    values[body] = "true"
                }
            } else {
                positional.append(word)
            }
            i += 1
        }
    }

    func string(_ key: String, _ fallback: String) -> String {
        values[key] ?? ProcessInfo.processInfo.environment["BENCH_" + key.uppercased().replacing("-", with: "_")]
            ?? fallback
    }
    func int(_ key: String, _ fallback: Int) -> Int { Int(string(key, "\(fallback)")) ?? fallback }
    func flag(_ key: String) -> Bool { ["1", "true", "yes"].contains(string(key, "false")) }
}

/// Monotonic nanoseconds.
@inline(__always) func nowNanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

func ms(_ nanos: UInt64) -> Double { Double(nanos) / 1_000_000 }

/// Percentile (nearest rank) of milliseconds; nil when empty.
func percentile(_ values: [Double], _ p: Double) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank - 1, 0), sorted.count - 1)]
}

func fmt(_ value: Double?, _ digits: Int = 1) -> String {
    guard let value else { return "–" }
    return String(format: "%.\(digits)f", value)
}

func log(_ text: String) {
    FileHandle.standardError.write(Data("[bench] \(text)\n".utf8))
}

/// A value behind a lock that closures can capture (a `Mutex` itself cannot be copied into one).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    var value: Value { withLock { $0 } }
}

/// A counter and gauge shared by many tasks.
final class Gauge: Sendable {
    private let state = Mutex((value: 0, peak: 0))
    func add(_ n: Int) {
        state.withLock { s in
            s.value += n
            s.peak = max(s.peak, s.value)
        }
    }
    var value: Int { state.withLock { $0.value } }
    var peak: Int { state.withLock { $0.peak } }
}

/// What `/proc` tells about a process.
struct ProcStats {
    /// user + system CPU seconds.
    static func cpuSeconds(pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After "pid (comm)": state is field 3, utime 14, stime 15 → indexes 11 and 12 here.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// A `Vm…` line of /proc/PID/status in MB (10^6 bytes, as the targets are written).
    static func memoryMB(pid: Int32, _ key: String) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            let kb = line.split(separator: " ").compactMap { Double($0) }.first
            return kb.map { $0 * 1024 / 1_000_000 }
        }
        return nil
    }

    static func openFiles(pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
    }
}

/// The machine the figures came from.
func machineDescription() -> String {
    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let model =
        cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
        .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) }
        ?? "unknown CPU"
    let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
    let totalKB =
        meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal") }
        .flatMap { $0.split(separator: " ").compactMap { Double($0) }.first } ?? 0
    let cores = ProcessInfo.processInfo.activeProcessorCount
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    let kernel =
        (try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8))?
        .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
    let load = ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "")
        .split(separator: " ").prefix(3).joined(separator: " ")
    return "\(cores) cores (nproc), \(model), \(String(format: "%.1f", totalKB / 1024 / 1024)) GiB RAM, "
        + "Linux \(kernel), open files limit \(limit.rlim_cur), load average \(load) (other processes add noise)"
}

/// Raises the soft open-files limit to the hard limit; returns the new soft limit.
@discardableResult func raiseFileLimit() -> Int {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    limit.rlim_cur = limit.rlim_max
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    return Int(limit.rlim_cur)
}
