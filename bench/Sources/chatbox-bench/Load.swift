import Foundation
import Synchronization

/// One stream of turns: a signed-in user and the conversation it talks in.
struct StreamSlot: Sendable {
    let token: String
    var conversation: Int64
}

/// Runs `body(i)` for i in 0..<count with at most `width` running at once.
func forEach(_ count: Int, width: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        var next = 0
        while next < min(width, count) {
            let i = next
            group.addTask { try await body(i) }
            next += 1
        }
        while try await group.next() != nil {
            if next < count {
                let i = next
                group.addTask { try await body(i) }
                next += 1
            }
        }
    }
}

/// Signs in `users` users (named `prefix-N`) and creates `streams` conversations spread over them.
func prepareSlots(_ api: API, streams: Int, users: Int, prefix: String) async throws -> [StreamSlot] {
    let userCount = max(1, min(users, streams))
    let tokens = Locked([String](repeating: "", count: userCount))
    try await forEach(userCount, width: 16) { i in
        let token = try await api.signIn("\(prefix)\(i)")
        tokens.withLock { $0[i] = token }
    }
    let all = tokens.withLock { $0 }
    let slots = Locked([StreamSlot](repeating: StreamSlot(token: "", conversation: 0), count: streams))
    try await forEach(streams, width: 64) { i in
        let token = all[i % userCount]
        let id = try await api.createConversation(token: token)
        slots.withLock { $0[i] = StreamSlot(token: token, conversation: id) }
    }
    return slots.withLock { $0 }
}

/// What a batch of turns came to.
struct LoadSummary: Sendable {
    var turns = 0
    var errors = 0
    var ttft: [Double] = []  // ms
    var totals: [Double] = []  // ms
    var tokens = 0
    /// Of `tokens`, those relayed as reasoning.
    var reasoningTokens = 0
    var deltas = 0
    var bytes = 0
    var wallSeconds = 0.0
    var errorSamples: [String] = []

    init(_ results: [TurnResult], wallSeconds: Double) {
        self.wallSeconds = wallSeconds
        turns = results.count
        for result in results {
            if let t = result.ttft { ttft.append(ms(t)) }
            totals.append(ms(result.total))
            tokens += result.tokens
            reasoningTokens += result.reasoningTokens
            deltas += result.deltas
            bytes += result.bytes
            if !result.ok {
                errors += 1
                if errorSamples.count < 5 { errorSamples.append(result.failureReason) }
            }
        }
    }

    var line: String {
        "\(turns) turns, \(errors) errors, TTFT p50 \(fmt(percentile(ttft, 50), 2)) ms p99 \(fmt(percentile(ttft, 99), 2)) ms, "
            + "turn p50 \(fmt(percentile(totals, 50), 0)) ms, \(tokens) tokens in \(deltas) events, \(bytes / 1024) KiB in \(fmt(wallSeconds)) s"
            + (errorSamples.isEmpty ? "" : "; errors e.g. \(errorSamples.prefix(3).joined(separator: " | "))")
    }
}

/// Drives `slots.count` concurrent streams of `turns` turns each against the server; stream i starts after
/// i × stagger / count. `content(i, t)` is the question of stream i's turn t.
func driveServer(
    _ api: API, slots: [StreamSlot], turns: Int, stagger: Duration = .zero, keepText: Bool = false,
    gauges: StreamGauges? = nil, content: @escaping @Sendable (Int, Int) -> String
) async -> [TurnResult] {
    await drive(count: slots.count, turns: turns, stagger: stagger) { i, t in
        await api.turn(
            token: slots[i].token, conversation: slots[i].conversation, content: content(i, t),
            keepText: keepText, gauges: gauges)
    }
}

/// The same shape of load straight against the fake upstream: the harness's own ceiling.
func driveUpstream(
    _ upstream: API, streams: Int, turns: Int, stagger: Duration = .zero, gauges: StreamGauges? = nil,
    content: @escaping @Sendable (Int, Int) -> String
) async -> [TurnResult] {
    await drive(count: streams, turns: turns, stagger: stagger) { i, t in
        await upstream.upstreamTurn(content: content(i, t), gauges: gauges)
    }
}

/// The same turns straight against the fake upstream, each asked with the whole conversation so far, as the server
/// asks the model: `messages(i, t)` are stream i's messages at its turn t (role, content), oldest first.
func driveUpstream(
    _ upstream: API, streams: Int, turns: Int,
    messages: @escaping @Sendable (Int, Int) -> [(role: String, content: String)]
) async -> [TurnResult] {
    await drive(count: streams, turns: turns, stagger: .zero) { i, t in
        await upstream.upstreamTurn(messages: messages(i, t))
    }
}

private func drive(
    count: Int, turns: Int, stagger: Duration,
    _ turn: @escaping @Sendable (Int, Int) async -> TurnResult
) async -> [TurnResult] {
    await withTaskGroup(of: [TurnResult].self) { group in
        for i in 0..<count {
            group.addTask {
                if stagger > .zero, count > 1 { try? await Task.sleep(for: stagger * (Double(i) / Double(count))) }
                var results: [TurnResult] = []
                for t in 0..<turns { results.append(await turn(i, t)) }
                return results
            }
        }
        var all: [TurnResult] = []
        for await results in group { all += results }
        return all
    }
}

/// A question that asks the fake upstream for `tokens` tokens `delayMs` apart (after `reasoning` reasoning tokens in
/// `delta.reasoning_content`, the same delay apart, when given).
func question(_ i: Int, _ t: Int, tokens: Int, delayMs: Int, reasoning: Int = 0) -> String {
    let think = reasoning > 0 ? " reasoning_content=\(reasoning)" : ""
    return
        "[[fake tokens=\(tokens) delay_ms=\(delayMs)\(think)]] Question \(i)-\(t): how does a 数据库 index speed up a search?"
}

/// Samples a value every `every` until `stop` is set; returns the samples.
struct Sample: Sendable {
    var active: Int
    var open: Int
    var rss: Double
}

final class Sampler: Sendable {
    private let samples = Locked<[Sample]>([])
    private let running = Locked(true)
    private let task = Locked<Task<Void, Never>?>(nil)

    init(every: Duration, limit: Duration, gauges: StreamGauges, rss: @escaping @Sendable () -> Double) {
        let samples = self.samples
        let running = self.running
        let t = Task {
            let deadline = ContinuousClock.now + limit
            while running.value, ContinuousClock.now < deadline {
                let sample = Sample(active: gauges.active.value, open: gauges.open.value, rss: rss())
                samples.withLock { $0.append(sample) }
                try? await Task.sleep(for: every)
            }
        }
        task.withLock { $0 = t }
    }

    func stop() async -> [Sample] {
        running.withLock { $0 = false }
        await task.value?.value
        return samples.value
    }
}
