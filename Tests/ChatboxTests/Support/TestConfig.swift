import Chatbox
import Foundation
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

/// Runs `body` against a live server built from `config`.
func withLiveApp(_ config: AppConfig, _ body: @escaping @Sendable (API) async throws -> Void) async throws {
    let app = try await buildApplication(config: config)
    try await app.test(.live) { client in
        try await body(API(client: client))
    }
}

extension Array {
    /// The first two elements (two instances' configurations).
    var pair: (Element, Element) { (self[0], self[1]) }
}
