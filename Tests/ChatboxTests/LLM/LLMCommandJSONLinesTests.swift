import Foundation
import Testing

@testable import Chatbox

@Suite("LLM: command model, temperature and the JSON-lines mode")
struct LLMCommandJSONLinesTests {
    private let question = [ChatMessage(role: .user, content: "hi")]

    /// A shell command printing `lines` (each followed by a newline) with printf.
    private func printing(_ lines: [String]) -> String {
        let quoted = lines.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        return "cat >/dev/null; printf '%s\\n' " + quoted.joined(separator: " ")
    }

    @Test("the temperature goes on stdin when set, and is left out otherwise")
    func temperatureOnStdin() async throws {
        let warm = await LLMOutputs.drain(
            CommandModel(command: "cat").stream(ModelRequest(messages: question, temperature: 0.25)))
        #expect(warm.error == nil)
        #expect(warm.answer.contains(#""temperature":0.25"#))
        let plain = await LLMOutputs.drain(CommandModel(command: "cat").stream(ModelRequest(messages: question)))
        #expect(!plain.answer.contains("temperature"))
        #expect(plain.answer == #"{"messages":[{"content":"hi","role":"user"}]}"# + "\n")
    }

    @Test("JSON lines: reasoning, content and usage, in order; usage last")
    func jsonLines() async throws {
        let command = printing([
            "#chatbox-jsonl",
            #"{"reasoning": "Let me think. "}"#,
            #"{"reasoning": "Done."}"#,
            "",
            #"{"content": "Hello"}"#,
            #"{"usage": {"prompt_tokens": 3, "completion_tokens": 4}}"#,
            #"{"content": " world", "extra": 1}"#
        ])
        let result = await LLMOutputs.drain(CommandModel(command: command).stream(ModelRequest(messages: question)))
        #expect(result.error == nil)
        #expect(
            result.outputs == [
                .reasoning("Let me think. "), .reasoning("Done."), .answer("Hello"), .answer(" world"),
                .usage(TokenUsage(promptTokens: 3, completionTokens: 4))
            ])
    }

    @Test("JSON lines: a line split across writes and CRLF endings are read whole")
    func splitLines() async throws {
        let command =
            #"cat >/dev/null; printf '#chatbox-jsonl\r\n{"cont'; sleep 0.05; printf 'ent": "a\u00e9"}\r\n{"content":"b"}'"#
        let result = await LLMOutputs.drain(CommandModel(command: command).stream(ModelRequest(messages: question)))
        #expect(result.error == nil)
        #expect(result.answer == "aéb", "the last line needs no newline")
    }

    @Test("JSON lines: {\"error\": …} fails the answer with that message, after what came before")
    func errorLine() async throws {
        let command =
            printing(["#chatbox-jsonl", #"{"content": "partial"}"#, #"{"error": "quota exhausted"}"#])
            + "; sleep 30"
        let result = await LLMOutputs.drain(CommandModel(command: command).stream(ModelRequest(messages: question)))
        #expect(result.answer == "partial")
        #expect(result.error as? ModelError == ModelError(.process, "quota exhausted"))
    }

    @Test("JSON lines: a line that is not JSON fails with a sentence saying so")
    func notJSON() async throws {
        let command = printing(["#chatbox-jsonl", "Hello there"])
        let result = await LLMOutputs.drain(CommandModel(command: command).stream(ModelRequest(messages: question)))
        let error = try #require(result.error as? ModelError)
        #expect(error.kind == .process)
        #expect(error.message.contains("not a JSON object in JSON-lines mode: Hello there"))
    }

    @Test("JSON lines: a line longer than the limit stops the answer with a clear sentence, memory bounded")
    func overLongLine() async throws {
        // 5 MiB without a newline, from a program that would go on for ever.
        let command =
            "cat >/dev/null; printf '#chatbox-jsonl\\n{\"content\": \"'; "
            + "head -c 5242880 /dev/zero | tr '\\0' x; sleep 30"
        let result = await LLMOutputs.drain(CommandModel(command: command).stream(ModelRequest(messages: question)))
        let error = try #require(result.error as? ModelError)
        #expect(
            error.message
                == "The model command sent a JSON line longer than 4 MB (JSON-lines mode); the answer was stopped there."
        )
        #expect(result.answer.isEmpty)
    }

    @Test("the reader bounds a line at any limit, and plain text is untouched")
    func readerLimits() throws {
        var reader = CommandOutputReader(maxLine: 16)
        var outputs: [ModelOutput] = []
        try reader.read(Array("#chatbox-jsonl\n{\"content\":\"ok\"}\n".utf8)[...]) { outputs.append($0) }
        #expect(outputs == [.answer("ok")])
        #expect(throws: ModelError.self) {
            try reader.read(Array(repeating: UInt8(ascii: "x"), count: 17)[...]) { _ in }
        }

        var plain = CommandOutputReader()
        var text = ""
        for piece in ["#", "chat", " not the marker\n", "#chatbox-jsonl\n", "é"] {
            try plain.read(Array(piece.utf8)[...]) { if case .answer(let t) = $0 { text += t } }
        }
        try plain.finish { if case .answer(let t) = $0 { text += t } }
        #expect(text == "#chat not the marker\n#chatbox-jsonl\né")

        var markerOnly = CommandOutputReader()
        var none: [ModelOutput] = []
        try markerOnly.read(Array("#chatbox-jsonl".utf8)[...]) { none.append($0) }
        try markerOnly.finish { none.append($0) }
        #expect(none.isEmpty)
    }

    @Test("plain-text mode is unchanged: a program printing text is the answer, reasoning never")
    func plainMode() async throws {
        let command = printing(["Hello", #"{"reasoning": "not special"}"#])
        let result = await LLMOutputs.drain(CommandModel(command: command).stream(ModelRequest(messages: question)))
        #expect(result.error == nil)
        #expect(result.answer == "Hello\n{\"reasoning\": \"not special\"}\n")
        #expect(result.reasoningPieces == 0)
    }
}
