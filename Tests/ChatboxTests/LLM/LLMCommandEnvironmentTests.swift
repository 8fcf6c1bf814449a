import Foundation
import Testing

@testable import Chatbox

/// The command model's program gets a minimal environment, and its errors carry no secret.
@Suite("LLM: command model environment")
struct LLMCommandEnvironmentTests {
    /// Variables of the server's environment as these tests give it to the model (not with `setenv`: changing
    /// this process's environment while other tests start processes crashed Foundation's `Process.run`).
    private static let secretName = "CHATBOX_TEST_ENV_SECRET_7Q"
    private static let listedName = "CHATBOX_TEST_ENV_LISTED_7Q"
    private static let secretValue = "hunter2-database-password"
    private static let listedValue = "listed-api-key-value"
    private static let server = ProcessInfo.processInfo.environment.merging(
        [secretName: secretValue, listedName: listedValue]) { _, new in new }

    @Test("the program sees PATH, HOME, LANG and the listed names, not the rest of the server's environment")
    func minimalEnvironment() async throws {
        let model = CommandModel(command: "env", passingEnvironment: [Self.listedName], serverEnvironment: Self.server)
        let result = await LLMTest.drain(model.streamAnswer(to: []))
        #expect(result.error == nil)
        let names = Set(
            result.text.split(separator: "\n").compactMap { $0.split(separator: "=").first.map(String.init) })
        #expect(result.text.contains("\(Self.listedName)=\(Self.listedValue)\n"))
        #expect(!result.text.contains(Self.secretValue))
        #expect(!names.contains(Self.secretName))
        #expect(!names.contains("CHATBOX_TEST_MYSQL_URL"))
        #expect(names.contains("PATH") == (ProcessInfo.processInfo.environment["PATH"] != nil))
        #expect(names.contains("HOME") == (ProcessInfo.processInfo.environment["HOME"] != nil))
        #expect(names.contains("PYTHONUNBUFFERED"))
        // /bin/sh itself may add PWD, SHLVL and `_`; nothing else may appear.
        let allowed = Set(
            CommandModel.baseEnvironment + [Self.listedName, "PYTHONUNBUFFERED", "PWD", "SHLVL", "_", "OLDPWD"])
        #expect(names.subtracting(allowed).isEmpty, "\(names.subtracting(allowed))")
    }

    @Test("the minimal environment is built from the base names and the listed ones only")
    func minimalEnvironmentFunction() {
        let server = ["PATH": "/bin", "HOME": "/h", "LANG": "C.UTF-8", "TZ": "UTC", "SECRET": "s", "LISTED": "l"]
        #expect(
            CommandModel.minimalEnvironment(from: server, passing: ["LISTED", "MISSING"])
                == ["PATH": "/bin", "HOME": "/h", "LANG": "C.UTF-8", "TZ": "UTC", "LISTED": "l"])
    }

    @Test("a listed variable's value printed to stderr is redacted from the error")
    func stderrRedacted() async throws {
        let model = CommandModel(
            command: "echo \"token=$\(Self.listedName) failed\" >&2; exit 3", passingEnvironment: [Self.listedName],
            serverEnvironment: Self.server)
        let result = await LLMTest.drain(model.streamAnswer(to: []))
        #expect(
            result.modelError == ModelError(.process, "The model command exited with status 3: token=[redacted] failed")
        )
    }

    @Test("the relay's path hands pieces straight over and ends like the stream")
    func answerPath() async throws {
        let model = CommandModel(command: "printf 'one two'; exit 4")
        let pieces = PieceBox()
        await #expect(throws: ModelError.self) {
            try await model.answer(to: []) { pieces.add($0) }
        }
        #expect(pieces.text == "one two")
        let ok = CommandModel(command: "printf 'fine'")
        let more = PieceBox()
        try await ok.answer(to: []) { more.add($0) }
        #expect(more.text == "fine")
    }

    @Test("cancelling the relay's path stops the program")
    func answerPathCancels() async throws {
        let model = CommandModel(command: "echo started; exec sleep 30")
        let pieces = PieceBox()
        let task = Task { try await model.answer(to: []) { pieces.add($0) } }
        #expect(await LLMTest.eventually(within: .seconds(20)) { pieces.text.contains("started") })
        let started = ContinuousClock.now
        task.cancel()
        _ = try? await task.value
        #expect(ContinuousClock.now - started < .seconds(10))
    }
}

/// Pieces collected from any thread.
final class PieceBox: @unchecked Sendable {
    private let lock = NSLock()
    private var pieces: [String] = []
    func add(_ piece: String) { lock.withLock { pieces.append(piece) } }
    var text: String { lock.withLock { pieces.joined() } }
}
