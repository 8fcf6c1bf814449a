@testable import Chatbox
import Foundation
import Synchronization
import Testing

/// One task keeps every running answer's first-token and stall deadlines.
@Suite("Watchdog: first-token and stall deadlines of every answer, on one task")
struct WatchdogTests {
    /// What the watchdog reported, by answer.
    final class Reports: Sendable {
        private let state = Mutex<[String: String]>([:])
        var all: [String: String] { state.withLock { $0 } }
        func add(_ name: String, _ error: ModelError) { state.withLock { $0[name] = error.message } }
    }

    /// (Progress that keeps an answer alive is checked end to end: `aLongThinkWithSteadyProgressIsNotATimeout`.)
    @Test func aSilentAnswerTimesOutThenAStalledOneAndAnUnwatchedOneNever() async throws {
        let watchdog = Watchdog(firstTokenTimeout: .seconds(1), stallTimeout: .seconds(2), tick: .milliseconds(20))
        let reports = Reports()
        let (expired, expire) = AsyncStream<String>.makeStream()
        func watch(_ name: String, _ progress: Chatbox.Progress) -> UInt64 {
            watchdog.watch(progress, started: .now) { error in
                reports.add(name, error)
                expire.yield(name)
            }
        }
        let clock = ContinuousClock()
        let began = clock.now
        let (silent, stalled, gone) = (Chatbox.Progress(), Chatbox.Progress(), Chatbox.Progress())
        _ = watch("silent", silent)
        stalled.record(0)  // one piece at once, then nothing
        _ = watch("stalled", stalled)
        watchdog.unwatch(watch("gone", gone))
        #expect(watchdog.count == 2)
        // Both time out, each no earlier than its deadline (they may come in the same tick on a busy machine).
        var seen: Set<String> = []
        for await name in expired {
            seen.insert(name)
            #expect(clock.now - began >= (name == "silent" ? .seconds(1) : .seconds(2)), "\(name)")
            if seen.count == 2 { break }
        }
        #expect(seen == ["silent", "stalled"])
        #expect(reports.all["silent"] == "The model did not start answering within 1 seconds.")
        #expect(reports.all["stalled"] == "The model stopped sending for 2 seconds.")
        #expect(reports.all["gone"] == nil)
        #expect(watchdog.count == 0, "an answer that timed out is no longer watched")
    }
}
