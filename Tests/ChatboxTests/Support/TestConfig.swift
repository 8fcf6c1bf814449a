import Chatbox
import Foundation
import Synchronization
import Hummingbird
import HummingbirdTesting

/// A fresh app configuration for one test: its own SQLite file (or the test MariaDB), port 0, cheap bcrypt.
enum TestConfig {
    /// A new temporary folder, removed by the caller when it is done.
    static func temporaryDirectory() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("chatbox-tests-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func make(
        database: DatabaseLocation? = nil, modelBaseURL: String? = nil, _ adjust: (inout AppConfig) -> Void = { _ in }
    )
        -> AppConfig
    {
        var config = AppConfig()
        config.port = 0
        config.bcryptCost = 4
        config.logLevel =
            ProcessInfo.processInfo.environment["CHATBOX_TEST_LOG_LEVEL"].flatMap { .init(rawValue: $0) } ?? .error
        config.database = database ?? .sqlite(path: temporaryDirectory().appendingPathComponent("test.sqlite").path)
        config.webRoot = webRoot
        config.flushInterval = .milliseconds(200)
        config.model.demoTokenDelay = .milliseconds(1)
        // Every test signs its accounts up from 127.0.0.1; the per-address sign-up limit has its own tests.
        config.registrationsPerAddress = 10_000
        if let modelBaseURL {
            config.model.baseURL = modelBaseURL
            config.model.model = "fake"
        }
        adjust(&config)
        return config
    }

    /// The repository's `web/` folder.
    static let webRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("web").path
    }()
}

/// Runs `body` against a live server built from `config`. A run still going after `liveAppLimit` (in the test
/// body, or while the app shuts down) fails, saying where it was, instead of hanging the whole test run; the stuck
/// work is cancelled and left behind.
func withLiveApp(_ config: AppConfig, _ body: @escaping @Sendable (API) async throws -> Void) async throws {
    let app = try await buildApplication(config: config)
    let phase = Phase()
    let run = Task {
        try await app.test(.live) { client in
            phase.set("in the test body")
            try await body(API(client: client))
            phase.set("shutting the app down")
        }
    }
    let ended = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Void, any Error>?, Never>) in
        let once = ResumeOnce(continuation)
        let timer = Task {
            do { try await Task.sleep(for: liveAppLimit) } catch { return }  // cancelled: the run ended
            once.resume(nil)
        }
        Task {
            let result = await run.result
            timer.cancel()
            once.resume(result)
        }
    }
    guard let ended else {
        run.cancel()
        throw LiveAppTimedOut(phase: phase.value)
    }
    try ended.get()
}

/// Where a live app's run is.
final class Phase: Sendable {
    private let state = Mutex("starting the app")
    var value: String { state.withLock { $0 } }
    func set(_ phase: String) { state.withLock { $0 = phase } }
}

/// A continuation resumed by whichever comes first.
final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, Never>?>
    init(_ continuation: CheckedContinuation<T, Never>) { self.continuation = Mutex(continuation) }
    func resume(_ value: T) { continuation.withLock { $0.take() }?.resume(returning: value) }
}

/// How long one live app may run in a test, from its start to the end of its shutdown.
let liveAppLimit: Duration = .seconds(300)

struct LiveAppTimedOut: Error, CustomStringConvertible {
    let phase: String
    var description: String { "the live app was still running after \(liveAppLimit), \(phase)" }
}

extension Array {
    /// The first two elements (two instances' configurations).
    var pair: (Element, Element) { (self[0], self[1]) }
}
