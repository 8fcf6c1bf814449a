import Chatbox
import FakeUpstream
import Foundation

/// Start-up to healthy and idle memory: several starts of a fresh server process (the first on an empty file).
func startupScenario(_ b: Bench) async throws {
    let starts = b.size("starts", full: 5, quick: 2)
    let url = b.freshSQLite("startup")
    var times: [Double] = []
    var rss: [Double] = []
    for _ in 0..<starts {
        let server = try await b.startServer("startup", databaseURL: url)
        times.append(ms(server.startupNanos))
        try await Task.sleep(for: .seconds(2))
        rss.append(server.rssMB())
        await server.stop()
    }
    let startup = percentile(times, 50) ?? 0
    let idle = percentile(rss, 50) ?? 0
    b.report.add(
        "start-up to healthy (median of \(starts) starts; first on an empty database)", target: "≤ 1 s",
        measured: "\(fmt(startup)) ms (first \(fmt(times.first)) ms, max \(fmt(times.max())) ms)", ok: startup <= 1000)
    b.report.add(
        "idle RSS (2 s after healthy, median)", target: "≤ 40 MB",
        measured: "\(fmt(idle)) MB (max \(fmt(rss.max())) MB)", ok: idle <= 40)
}

/// Time to first token added over the upstream, at 1 and at 100 concurrent streams (200 tokens, 5 ms apart).
func ttftScenario(_ b: Bench) async throws {
    let server = try await b.startServer("ttft")
    do {
        for (streams, turns) in [
            (1, b.size("ttft-turns-1", full: 50, quick: 10)),
            (100, b.size("ttft-turns-100", full: 10, quick: 3))
        ] {
            let slots = try await prepareSlots(server.api, streams: streams, users: 20, prefix: "ttft\(streams)u")
            let content: @Sendable (Int, Int) -> String = { question($0, $1, tokens: 200, delayMs: 5) }
            _ = await driveServer(server.api, slots: slots, turns: 1, content: content)  // warm-up: first round, title
            var started = nowNanos()
            let measured = LoadSummary(
                await driveServer(server.api, slots: slots, turns: turns, content: content),
                wallSeconds: ms(nowNanos() - started) / 1000)
            log("server, \(streams) streams: \(measured.line)")
            // The model's own TTFT: the same conversations sent to it directly, as the server sends them (a longer
            // prompt takes the fake model longer to read, as it takes a real one longer to prefill).
            started = nowNanos()
            let ceiling = LoadSummary(
                await driveUpstream(b.upstream.api, streams: streams, turns: turns) { i, t in
                    conversationSoFar(turn: t, question: { content(i, $0) })
                },
                wallSeconds: ms(nowNanos() - started) / 1000)
            log("upstream direct, the same conversations, \(streams) streams: \(ceiling.line)")
            // As measured up to the seventh round: against a request of the question alone.
            started = nowNanos()
            let single = LoadSummary(
                await driveUpstream(b.upstream.api, streams: streams, turns: turns, content: content),
                wallSeconds: ms(nowNanos() - started) / 1000)
            log("upstream direct, the question alone, \(streams) streams: \(single.line)")
            let (s50, s99) = (percentile(measured.ttft, 50) ?? .nan, percentile(measured.ttft, 99) ?? .nan)
            let (c50, c99) = (percentile(ceiling.ttft, 50) ?? .nan, percentile(ceiling.ttft, 99) ?? .nan)
            let (q50, q99) = (percentile(single.ttft, 50) ?? .nan, percentile(single.ttft, 99) ?? .nan)
            let (a50, a99) = (s50 - c50, s99 - c99)
            // Issue 17's targets: at 1 stream ≤ 1 / ≤ 5 ms, at 100 streams ≤ 10 / ≤ 50 ms.
            let (t50, t99): (Double, Double) = streams == 1 ? (1, 5) : (10, 50)
            b.report.add(
                "TTFT added over upstream, \(streams) concurrent stream\(streams == 1 ? "" : "s"), p50 / p99 "
                    + "(\(measured.turns) turns)",
                target: "≤ \(fmt(t50, 0)) ms / ≤ \(fmt(t99, 0)) ms",
                measured: "\(fmt(a50, 2)) / \(fmt(a99, 2)) ms (server TTFT \(fmt(s50, 2)) / \(fmt(s99, 2)) ms, "
                    + "\(measured.errors) errors; over the question alone: \(fmt(s50 - q50, 2)) / \(fmt(s99 - q99, 2)) ms)",
                ceiling:
                    "TTFT \(fmt(c50, 2)) / \(fmt(c99, 2)) ms (the question alone: \(fmt(q50, 2)) / \(fmt(q99, 2)) ms)",
                ok: a50 <= t50 && a99 <= t99 && measured.errors == 0)
        }
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}

/// What the server sends the model at measured turn `turn` of a ttft stream: the warm-up round, the measured
/// rounds before this one, then the question; each answer the fake model's 200 numbered tokens. Cut by the server's
/// own `ContextWindow` (its default 24,000 characters, no system prompt), as the server cuts it.
func conversationSoFar(turn: Int, question: (Int) -> String, budget: Int = 24_000) -> [(role: String, content: String)]
{
    let answer = FakeReply.numberedTokens(200).joined()
    let questions = [question(0)] + (0..<turn).map(question)
    var history: [Message] = []
    for text in questions {
        for (role, content) in [(MessageRole.user, text), (.assistant, answer)] {
            history.append(
                Message(
                    id: Int64(history.count + 1), conversationID: 1, role: role, content: content, status: .completed,
                    error: nil, createdAt: 0))
        }
    }
    history.append(
        Message(
            id: Int64(history.count + 1), conversationID: 1, role: .user, content: question(turn), status: .completed,
            error: nil, createdAt: 0))
    return ContextWindow(systemPrompt: nil, budget: budget).messages(from: history).map {
        ($0.role.rawValue, $0.content)
    }
}

/// Server CPU per 1,000 relayed tokens: 200-token answers 5 ms apart, turn start and storage included; then the
/// same with a reasoning model (100 reasoning tokens in `delta.reasoning_content`, then 100 answer tokens: reasoning
/// relayed as `reasoning` events counts as relayed tokens). `reasoning: false` / `true` runs only one of the two.
func cpuScenario(_ b: Bench, plain: Bool = true, reasoning: Bool = true) async throws {
    let streams = b.size("cpu-streams", full: 20, quick: 10)
    let turns = b.size("cpu-turns", full: 25, quick: 5)
    let server = try await b.startServer("cpu")
    do {
        let slots = try await prepareSlots(server.api, streams: streams, users: 5, prefix: "cpu-u")
        var variants: [(name: String, reasoning: Int)] = []
        if plain { variants.append(("", 0)) }
        if reasoning { variants.append((", with reasoning (100 reasoning + 100 answer tokens)", 100)) }
        var first = true
        for variant in variants {
            let answerTokens = 200 - variant.reasoning
            let content: @Sendable (Int, Int) -> String = {
                question($0, $1, tokens: answerTokens, delayMs: 5, reasoning: variant.reasoning)
            }
            if first {
                _ = await driveServer(server.api, slots: slots, turns: 1, content: content)  // first round + title
                first = false
            }
            let (server0, own0, up0) = (server.cpuSeconds(), b.ownCPU(), b.upstreamCPU())
            var started = nowNanos()
            let measured = LoadSummary(
                await driveServer(server.api, slots: slots, turns: turns, content: content),
                wallSeconds: ms(nowNanos() - started) / 1000)
            let (server1, own1, up1) = (server.cpuSeconds(), b.ownCPU(), b.upstreamCPU())
            log("server\(variant.name): \(measured.line); \(measured.reasoningTokens) of the tokens as reasoning")
            started = nowNanos()
            let ceiling = LoadSummary(
                await driveUpstream(b.upstream.api, streams: streams, turns: turns, content: content),
                wallSeconds: ms(nowNanos() - started) / 1000)
            let (own2, up2) = (b.ownCPU(), b.upstreamCPU())
            let tokens = Double(max(measured.tokens, 1))
            let perK = (server1 - server0) * 1000 / (tokens / 1000)
            let harnessDuring = ((own1 - own0) + (up1 - up0)) * 1000 / (tokens / 1000)
            let harnessDirect = ((own2 - own1) + (up2 - up1)) * 1000 / (Double(max(ceiling.tokens, 1)) / 1000)
            // The fake model's own CPU for the same tokens, meanwhile: issue 17 wants the server at or below it.
            let modelPerK = (up1 - up0) * 1000 / (tokens / 1000)
            let relayed = variant.reasoning == 0 || measured.reasoningTokens > 0
            b.report.add(
                "server CPU per 1,000 relayed tokens\(variant.name) (\(streams) streams × \(turns) turns of 200 tokens, "
                    + "5 ms apart)",
                target: "≤ 50 ms and ≤ the fake model's own",
                measured:
                    "\(fmt(perK, 2)) ms (\(fmt((server1 - server0) * 1000, 0)) ms CPU for \(measured.tokens) tokens"
                    + (variant.reasoning > 0 ? ", \(measured.reasoningTokens) of them reasoning" : "")
                    + ", \(measured.errors) errors; the fake model meanwhile \(fmt(modelPerK, 2)) ms, "
                    + "with the load generator \(fmt(harnessDuring, 2)) ms)"
                    + (relayed ? "" : " — the server relayed no reasoning"),
                ceiling: "load generator + upstream direct: \(fmt(harnessDirect, 2)) ms per 1,000 tokens",
                ok: perK <= 50 && perK <= modelPerK && measured.errors == 0 && relayed)
        }
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}

/// Concurrent streams with zero errors against a fast upstream: steps of N streams opened at once.
func concurrencyScenario(_ b: Bench) async throws {
    let steps = b.options.string("concurrency-steps", b.quick ? "100,250" : "250,500,1000,2000")
        .split(separator: ",").compactMap { Int($0) }
    let turns = b.size("concurrency-turns", full: 1, quick: 1)
    guard let largest = steps.max() else { return }
    let server = try await b.startServer("concurrency")
    let content: @Sendable (Int, Int) -> String = { question($0, $1, tokens: 200, delayMs: 5) }
    var best = 0
    var lines: [String] = []
    var ceilingLine = "–"
    do {
        let slots = try await prepareSlots(server.api, streams: largest, users: 100, prefix: "conc-u")
        for n in steps {
            let gauges = StreamGauges()
            let started = nowNanos()
            let results = await driveServer(
                server.api, slots: Array(slots.prefix(n)), turns: turns, gauges: gauges, content: content)
            let summary = LoadSummary(results, wallSeconds: ms(nowNanos() - started) / 1000)
            log("\(n) streams: \(summary.line); peak \(gauges.active.peak) streaming at once")
            lines.append(
                "\(n): \(summary.errors) errors, peak \(gauges.active.peak) at once, "
                    + "TTFT p99 \(fmt(percentile(summary.ttft, 99), 0)) ms")
            if summary.errors > 0 { break }
            best = n
        }
        let gauges = StreamGauges()
        let ceiling = LoadSummary(
            await driveUpstream(b.upstream.api, streams: largest, turns: turns, gauges: gauges, content: content),
            wallSeconds: 0)
        ceilingLine =
            "\(largest) streams: \(ceiling.errors) errors, peak \(gauges.active.peak) at once, "
            + "TTFT p99 \(fmt(percentile(ceiling.ttft, 99), 0)) ms"
    } catch {
        await server.stop()
        throw error
    }
    b.report.add(
        "concurrent streams with zero errors (fast upstream: 200 tokens 5 ms apart, all opened at once, \(turns) turns each)",
        target: "≥ 1,000",
        measured: "\(best) (\(lines.joined(separator: "; ")); peak RSS \(fmt(server.peakRSSMB(), 0)) MB)",
        ceiling: ceilingLine, ok: best >= 1000)
    await server.stop()
}

/// Slow streams (1 token a second) held at once, and the server's memory at that load.
func slowScenario(_ b: Bench) async throws {
    // Each stream costs the server two sockets (client and upstream): its open-files hard limit bounds this.
    let streams = b.size("slow-streams", full: 9_900, quick: 1_000)
    let tokens = b.size("slow-tokens", full: 60, quick: 20)
    let rampSeconds = b.size("slow-ramp", full: 20, quick: 5)
    let server = try await b.startServer("slow")
    let content: @Sendable (Int, Int) -> String = { question($0, $1, tokens: tokens, delayMs: 1000) }
    do {
        let slots = try await prepareSlots(server.api, streams: streams, users: 100, prefix: "slow-u")
        let baseRSS = server.rssMB()
        let gauges = StreamGauges()
        let sampler = Sampler(every: .seconds(1), limit: .seconds(600), gauges: gauges) { server.rssMB() }
        let fdPeak = Gauge()
        let fdTask = Task {
            for _ in 0..<600 where !Task.isCancelled {
                let n = ProcStats.openFiles(pid: server.pid)
                if n > fdPeak.peak { fdPeak.add(n - fdPeak.value) }
                try? await Task.sleep(for: .seconds(2))
            }
        }
        let started = nowNanos()
        let summary = LoadSummary(
            await driveServer(
                server.api, slots: slots, turns: 1, stagger: .seconds(rampSeconds), gauges: gauges,
                content: content),
            wallSeconds: ms(nowNanos() - started) / 1000)
        let samples = await sampler.stop()
        fdTask.cancel()
        log("slow: \(summary.line)")
        let peak = samples.max { $0.active < $1.active }
        let upGauges = StreamGauges()
        let upSampler = Sampler(every: .seconds(1), limit: .seconds(600), gauges: upGauges) { 0 }
        let ceiling = LoadSummary(
            await driveUpstream(
                b.upstream.api, streams: streams, turns: 1, stagger: .seconds(rampSeconds),
                gauges: upGauges, content: content), wallSeconds: 0)
        _ = await upSampler.stop()
        b.report.add(
            "concurrent slow streams held (1 token/s, \(tokens) tokens each, \(streams) opened over \(rampSeconds) s)",
            target: "≥ 10,000",
            measured: "\(gauges.active.peak) streaming at once, \(gauges.open.peak) open; \(summary.errors) errors"
                + (summary.errorSamples.first.map { " (e.g. \($0.prefix(120)))" } ?? ""),
            ceiling: "\(upGauges.active.peak) at once, \(ceiling.errors) errors",
            ok: gauges.active.peak >= 10_000 && summary.errors == 0)
        b.report.add(
            "server RSS at that load (peak; idle before \(fmt(baseRSS, 0)) MB)", target: "≤ 400 MB at 9,900",
            measured: "\(fmt(server.peakRSSMB(), 0)) MB (\(fmt(peak?.rss, 0)) MB at the most streams; "
                + "peak \(fdPeak.peak) open files)",
            ok: streams >= 9_900 ? server.peakRSSMB() <= 400 : nil)  // the target is for 9,900 streams
        // Memory per held stream: RSS at the most streams above the idle RSS, over those streams (KB = 1,000 B).
        let held = Double(max(peak?.active ?? 0, 1))
        let perStream = ((peak?.rss ?? .nan) - baseRSS) * 1000 / held
        b.report.add(
            "memory per held slow stream (RSS at the most streams − idle, over \(Int(held)) streams)",
            target: "≤ 35 KB", measured: "\(fmt(perStream, 1)) KB", ok: perStream <= 35)
        if streams < 10_000 {
            b.report.note(
                "slow streams: \(streams) tried, not 10,000 — the server holds 2 sockets per stream and this "
                    + "machine's hard open-files limit is \(raiseFileLimit()) per process (not raisable here).")
        }
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}
