import Foundation
import Testing

@testable import Chatbox

@Suite("LLM: command model")
struct LLMCommandModelTests {
    private var exampleCommand: String {
        "python3 '\(LLMTest.repositoryRoot.appendingPathComponent("examples/command-model.py").path)'"
    }

    private func environment(_ extra: [String: String] = [:]) -> [String: String] {
        ProcessInfo.processInfo.environment.merging(extra) { $1 }
    }

    @Test("the example script streams its answer in pieces over time")
    func exampleStreams() async throws {
        let model = CommandModel(command: exampleCommand, environment: environment(["COMMAND_MODEL_DELAY": "0.08"]))
        let result = await LLMTest.drain(
            model.streamAnswer(to: [
                ChatMessage(role: .user, content: "earlier"),
                ChatMessage(role: .assistant, content: "reply"),
                ChatMessage(role: .user, content: "one two three four")
            ]))
        #expect(result.error == nil)
        #expect(
            result.text
                == "You said 4 words (this is message 3 of the conversation).\n\nBackwards: four three two one\n")
        // Streamed, not collected until exit: each flush was read and handed on as its own piece. (Counted in pieces,
        // not in arrival times: a busy machine delays the consumer, which then takes several pieces at once.)
        #expect(result.pieces.count >= 5)
    }

    @Test("exit status 1 is an error carrying the end of stderr")
    func exitStatusOne() async throws {
        let model = CommandModel(command: exampleCommand)
        let result = await LLMTest.drain(model.streamAnswer(to: [ChatMessage(role: .user, content: "fail")]))
        #expect(
            result.modelError
                == ModelError(
                    .process,
                    "The model command exited with status 1: command-model.py: you asked me to fail, so I exit with status 1"
                ))
    }

    @Test("a Python traceback shows up in the error message, cut to its last ~1,000 characters")
    func tracebackTail() async throws {
        let command =
            "python3 -c 'import sys; sys.stdout.write(\"partial\"); sys.stdout.flush(); "
            + "print(\"x\" * 5000, file=sys.stderr); raise ValueError(\"bad input\")'"
        let result = await LLMTest.drain(CommandModel(command: command).streamAnswer(to: []))
        #expect(result.text == "partial")
        let error = try #require(result.modelError)
        #expect(error.kind == .process)
        #expect(error.message.hasPrefix("The model command exited with status 1: …"))
        #expect(error.message.hasSuffix("ValueError: bad input"))
        #expect(error.message.count < 1_100)
    }

    @Test("a command that does not exist is a clear .process error")
    func missingCommand() async throws {
        let result = await LLMTest.drain(CommandModel(command: "no-such-model-command --x").streamAnswer(to: []))
        let error = try #require(result.modelError)
        #expect(error.kind == .process)
        #expect(error.message.contains("status 127 (command not found)"))
        #expect(error.message.contains("no-such-model-command"))
    }

    @Test("the conversation arrives on stdin as JSON followed by EOF")
    func stdinContract() async throws {
        let messages = [
            ChatMessage(role: .system, content: "sys"), ChatMessage(role: .user, content: "héllo \"q\"\n中文")
        ]
        let result = await LLMTest.drain(CommandModel(command: "cat").streamAnswer(to: messages))
        #expect(result.error == nil)
        #expect(result.text.hasSuffix("\n"))
        struct Input: Decodable { var messages: [ChatMessage] }
        let input = try JSONDecoder().decode(Input.self, from: Data(result.text.utf8))
        #expect(input.messages == messages)
    }

    @Test("a big conversation is written without deadlocking against a program that echoes as it reads")
    func bigInput() async throws {
        let messages = [ChatMessage(role: .user, content: String(repeating: "0123456789", count: 100_000))]  // 1 MB
        let result = await LLMTest.drain(CommandModel(command: "cat").streamAnswer(to: messages))
        #expect(result.error == nil)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let expected = try encoder.encode(CommandInput(messages: messages)) + Data("\n".utf8)
        let received = Data(result.text.utf8)  // compared as bytes: fast in debug, and a failure prints no 1 MB string
        #expect(received.count == expected.count)
        #expect(
            received == expected,
            "first difference at \(zip(received, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1)"
        )
    }

    @Test("UTF-8 split across writes is decoded whole")
    func utf8AcrossReads() async throws {
        // 你 = E4 BD A0, 好 = E5 A5 BD, written a byte at a time with pauses
        let command =
            #"printf '\344'; sleep 0.05; printf '\275\240\345'; sleep 0.05; printf '\245'; sleep 0.05; printf '\275!'"#
        let result = await LLMTest.drain(CommandModel(command: command).streamAnswer(to: []))
        #expect(result.error == nil)
        #expect(result.text == "你好!")
        #expect(!result.pieces.contains { $0.contains("\u{FFFD}") })
    }

    @Test("the environment is passed, and PYTHONUNBUFFERED is set")
    func environmentIsPassed() async throws {
        let model = CommandModel(
            command: #"printf '%s/%s' "$CHATBOX_TEST_VALUE" "$PYTHONUNBUFFERED""#,
            environment: ["CHATBOX_TEST_VALUE": "hello", "PATH": "/usr/bin:/bin"])
        #expect(await LLMTest.drain(model.streamAnswer(to: [])).text == "hello/1")
    }

    @Test("cancelling stops the program and the helpers it started")
    func cancellationKillsProcessGroup() async throws {
        // The shell starts a helper (`sleep`) in the background and reports its PID, then waits.
        let stream = CommandModel(command: "sleep 30 & echo $!; wait").streamAnswer(to: [])
        let (pieces, piecesContinuation) = AsyncStream<String>.makeStream()
        let consumer = Task {
            for try await piece in stream { piecesContinuation.yield(piece) }
        }
        var first = ""
        for await piece in pieces {
            first = piece
            break
        }
        let helper = try #require(Int32(first.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(LLMTest.processIsAlive(helper))
        consumer.cancel()
        _ = try? await consumer.value
        let gone = await LLMTest.eventually(within: .seconds(10)) { !LLMTest.processIsAlive(helper) }
        #expect(gone, "helper: \((try? String(contentsOfFile: "/proc/\(helper)/stat", encoding: .utf8)) ?? "none")")
    }

    @Test("a program that ignores SIGTERM is killed 2 s later")
    func sigkillAfterGracePeriod() async throws {
        let consumer = Task {
            var pid: Int32?
            var dropped = ContinuousClock.now
            let command = "trap '' TERM; echo $$; while true; do sleep 0.1; done"
            for try await piece in CommandModel(command: command).streamAnswer(to: []) {
                pid = Int32(piece.trimmingCharacters(in: .whitespacesAndNewlines))
                dropped = ContinuousClock.now
                break  // dropping the stream cancels the run: SIGTERM now, SIGKILL 2 s later
            }
            return (pid, dropped)
        }
        let (pid, dropped) = try await consumer.value
        let child = try #require(pid)
        #expect(await LLMTest.eventually { !LLMTest.processIsAlive(child) }, "SIGKILL ends it")
        // Lower bounds only (a loaded machine makes every span longer, never shorter): the program, which ignores
        // SIGTERM, lived on until the SIGKILL of the grace period.
        #expect(ContinuousClock.now - dropped >= .seconds(1.5), "it outlived the SIGTERM")
    }

    @Test("the display name shows the program")
    func displayName() {
        #expect(CommandModel(command: "python3 my_model.py --fast").displayName == "command: python3")
    }
}

@Suite("LLM: UTF-8 chunk decoder")
struct LLMUTF8ChunkDecoderTests {
    @Test("every split of multi-byte text decodes to the same string")
    func everySplit() {
        let text = "aé你🎉z"
        let bytes = Array(text.utf8)
        for cut in 0...bytes.count {
            var decoder = UTF8ChunkDecoder()
            let out = decoder.decode(bytes[0..<cut]) + decoder.decode(bytes[cut...]) + decoder.flush()
            #expect(out == text, "cut at \(cut)")
        }
    }

    @Test("invalid bytes become replacement characters instead of being held back forever")
    func invalidBytes() {
        var decoder = UTF8ChunkDecoder()
        let out = decoder.decode([0xFF, 0x41][...]) + decoder.flush()
        #expect(out == "\u{FFFD}A")
    }
}
