// Directives: how a chat message scripts the fake upstream (used by the `fake-upstream` executable and the browser
// suite, where a test can only type text). They are read from the LAST USER MESSAGE, written as
//
//     [[fake key=value key="quoted value" flag]]
//
// (several blocks merge, later keys win; quoted values understand \" \\ \n). Without any directive the answer is a
// fixed ~40-word Markdown reply (echoing the start of the message, with a table, a fenced code block and $x^2$),
// streamed word by word with the default delay.
//
//   tokens=N             stream N tokens "word1 word2 … wordN" instead of the default reply
//   reply="text"         stream this text, word by word
//   delay_ms=N           delay between tokens (default: the server's default, 20 ms for the executable)
//   first_delay_ms=N     delay before the first token
//   status=N             answer HTTP N with an OpenAI-style JSON error; message="…" sets its message
//   drop_after=N         close the connection abruptly after N tokens (no finish chunk, no [DONE])
//   stall_after=N        stop sending after N tokens but keep the response open (a stalled model)
//   hang                 send the 200 head and then nothing (a model that never starts)
//   malformed[=N]        N good tokens (default 3), then a `data:` line that is not JSON
//   stream_error="msg"   3 tokens, then an in-stream {"error":{"message":"msg"}} event
//   huge_kb=N            one single token of N KiB (letters), then the normal end (with tokens=M: M such tokens)
//   deep_nest=N          3 tokens, then one chunk nested N levels deep ([[[[…]]]]), then the normal end
//   endless_line         3 tokens, then a `data:` line that never ends (until the client leaves)
//   endless_event        3 tokens, then `data:` lines without the blank line that ends the event, forever
//   endless_error=N      HTTP N (e.g. 500) with a JSON error body that never ends
//   json                 answer with a non-streamed chat.completion JSON document (with reasoning: in
//                        message.reasoning_content / message.reasoning, or <think>…</think> in the content)
//   echo                 reply with what was received: "model=M temperature=T N messages: role: text | role: text …"
//                        (T is `none` when the request had no temperature)
//
// Reasoning (before the reply; each reasoning token counts as a sent token for usage):
//   think=N              N reasoning tokens "thought1 thought2 …" inside a leading <think>…</think> in the content
//                        (Ollama, llama.cpp, LM Studio), then the normal reply
//   think_open=0         with think=N: leave out the opening <think> (an R1 distill whose template put it in the
//                        prompt): the content starts with the reasoning and has only </think>
//   reasoning_content=N  N reasoning tokens in delta.reasoning_content, with content null (DeepSeek, vLLM)
//   reasoning=N          N reasoning tokens in delta.reasoning, with content "" (OpenRouter)
//   think_delay_ms=N     delay between reasoning tokens (a slow think: think_delay_ms=200 reasoning_content=50 thinks
//                        for 10 s); the reply's tokens then follow with delay_ms
//
// Usage: when the request has `stream_options: {"include_usage": true}`, the stream ends with one chunk
// {"choices":[],"usage":{"prompt_tokens":P,"completion_tokens":C,…}} before [DONE]: P = characters of all messages
// / 4 (at least 1), C = reply tokens + reasoning tokens sent. (A non-streamed answer always has usage.)
//   no_usage             never report usage
//   refuse_stream_options  HTTP 400 {"error":{"message":"Unrecognized request argument supplied: stream_options"}}
//                        to a request that has `stream_options` (like some older OpenAI-compatible servers)
//
// Title requests (any system message containing "title") ignore all of the above except refuse_stream_options and
// get the first words of the last user message, unless a `title_reply="…"` directive appears anywhere in the
// conversation, e.g. [[fake title_reply="<think>hm</think>\"My Title\""]] to test how the app cleans titles;
// `title_delay_ms=N` (anywhere in the conversation) waits N ms before the title (a slow title model).
import Foundation
import Hummingbird

extension FakeUpstream {
    /// The default behaviour: directives, a 20 ms delay between tokens, the ~40-word default reply.
    public static let directiveBehaviour: @Sendable (FakeRequest) -> FakeReply = makeDirectiveBehaviour()

    /// Directive behaviour with another default delay, or a default reply of `defaultTokens` numbered tokens.
    public static func makeDirectiveBehaviour(
        defaultDelay: Duration = .milliseconds(20), defaultTokens: Int? = nil
    ) -> @Sendable (FakeRequest) -> FakeReply {
        { request in reply(to: request, defaultDelay: defaultDelay, defaultTokens: defaultTokens) }
    }

    /// The directives in `text`, merged (later keys win). Flags map to "".
    public static func directives(in text: String) -> [String: String] {
        var result: [String: String] = [:]
        var rest = Substring(text)
        while let open = rest.range(of: "[[fake") {
            var cursor = open.upperBound
            var body = ""
            var inQuotes = false
            var closed = false
            while cursor < rest.endIndex {
                let c = rest[cursor]
                if inQuotes, c == "\\", rest.index(after: cursor) < rest.endIndex {
                    body.append(c)
                    cursor = rest.index(after: cursor)
                    body.append(rest[cursor])
                } else if c == "\"" {
                    inQuotes.toggle()
                    body.append(c)
                } else if !inQuotes, rest[cursor...].hasPrefix("]]") {
                    closed = true
                    break
                } else {
                    body.append(c)
                }
                cursor = rest.index(after: cursor)
            }
            guard closed else { break }
            for (key, value) in parsePairs(body) { result[key] = value }
            rest = rest[rest.index(cursor, offsetBy: 2)...]
        }
        return result
    }

    /// `text` without its directive blocks.
    public static func strippingDirectives(_ text: String) -> String {
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "[[fake"), let close = rest[open.upperBound...].range(of: "]]") {
            out += rest[..<open.lowerBound]
            rest = rest[close.upperBound...]
        }
        out += rest
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func parsePairs(_ body: String) -> [(String, String)] {
        var pairs: [(String, String)] = []
        var i = body.startIndex
        func skipSpaces() { while i < body.endIndex, body[i].isWhitespace { i = body.index(after: i) } }
        while true {
            skipSpaces()
            guard i < body.endIndex else { break }
            var key = ""
            while i < body.endIndex, !body[i].isWhitespace, body[i] != "=" {
                key.append(body[i])
                i = body.index(after: i)
            }
            var value = ""
            if i < body.endIndex, body[i] == "=" {
                i = body.index(after: i)
                if i < body.endIndex, body[i] == "\"" {
                    i = body.index(after: i)
                    while i < body.endIndex, body[i] != "\"" {
                        if body[i] == "\\", body.index(after: i) < body.endIndex {
                            i = body.index(after: i)
                            value.append(body[i] == "n" ? "\n" : body[i])
                        } else {
                            value.append(body[i])
                        }
                        i = body.index(after: i)
                    }
                    if i < body.endIndex { i = body.index(after: i) }
                } else {
                    while i < body.endIndex, !body[i].isWhitespace {
                        value.append(body[i])
                        i = body.index(after: i)
                    }
                }
            }
            if !key.isEmpty { pairs.append((key.lowercased(), value)) }
        }
        return pairs
    }

    static func reply(to request: FakeRequest, defaultDelay: Duration, defaultTokens: Int?) -> FakeReply {
        let d = directives(in: request.lastUserMessage)
        func int(_ key: String) -> Int? { d[key].flatMap { Int($0) } }
        if d["refuse_stream_options"] != nil, request.hasStreamOptions {
            return .error(400, message: "Unrecognized request argument supplied: stream_options")
        }
        if request.isTitleRequest {
            var title: String?
            var titleDelay = Duration.zero
            for message in request.messages.reversed() {
                let found = directives(in: message.content)
                if title == nil, let reply = found["title_reply"] { title = reply }
                if titleDelay == .zero, let ms = found["title_delay_ms"].flatMap({ Int($0) }) {
                    titleDelay = .milliseconds(ms)
                }
            }
            if title == nil {
                let words = strippingDirectives(request.lastUserMessage).split(whereSeparator: \.isWhitespace)
                title = words.isEmpty ? "New chat" : words.prefix(4).joined(separator: " ")
            }
            return .stream(tokens: FakeReply.wordPieces(title ?? ""), firstDelay: titleDelay)
        }
        let delay = int("delay_ms").map { Duration.milliseconds($0) } ?? defaultDelay
        let firstDelay = int("first_delay_ms").map { Duration.milliseconds($0) } ?? .zero

        if let status = int("status") {
            return .error(status, message: d["message"] ?? "Fake upstream error \(status)")
        }
        if d["hang"] != nil { return .hang }
        if let depth = int("deep_nest") { return .hostile(.deepNesting(depth: depth)) }
        if d["endless_line"] != nil { return .hostile(.endlessLine) }
        if d["endless_event"] != nil { return .hostile(.endlessEvent) }
        if let status = int("endless_error") { return .hostile(.endlessErrorBody(status: status)) }
        if let malformed = d["malformed"] { return .malformed(afterTokens: Int(malformed) ?? 3) }
        if let message = d["stream_error"] { return .streamError(afterTokens: 3, message: message) }

        var tokens: [String]
        if let kb = int("huge_kb") {
            let letters = String(repeating: "abcdefghijklmnopqrstuvwxyz", count: kb * 1024 / 26 + 1)
            tokens = Array(repeating: String(letters.utf8.prefix(kb * 1024))!, count: max(int("tokens") ?? 1, 1))
        } else if let count = int("tokens") {
            tokens = FakeReply.numberedTokens(count)
        } else if let text = d["reply"] {
            tokens = FakeReply.wordPieces(text)
        } else if d["echo"] != nil {
            let lines = request.messages.map { "\($0.role): \(strippingDirectives($0.content))" }
            let temperature = request.temperature.map { "\($0)" } ?? "none"
            tokens = FakeReply.wordPieces(
                "model=\(request.model) temperature=\(temperature) \(request.messages.count) messages: "
                    + lines.joined(separator: " | "))
        } else if let count = defaultTokens {
            tokens = FakeReply.numberedTokens(count)
        } else {
            tokens = FakeReply.wordPieces(defaultReply(to: strippingDirectives(request.lastUserMessage)))
        }
        var reasoning: [String] = []
        var form = FakeStream.ReasoningForm.reasoningContent
        if let count = int("think") {
            reasoning = FakeStream.reasoningTokens(count)
            form = .think(openTag: d["think_open"] != "0")
        } else if let count = int("reasoning_content") {
            reasoning = FakeStream.reasoningTokens(count)
        } else if let count = int("reasoning") {
            reasoning = FakeStream.reasoningTokens(count)
            form = .reasoning
        }
        let noUsage = d["no_usage"] != nil
        if d["json"] != nil {
            guard !reasoning.isEmpty else { return .json(content: tokens.joined()) }
            let body = ChunkFramer.completion(
                model: request.model, content: tokens.joined(), reasoning: reasoning.joined(), form: form,
                usage: (request.promptTokens, tokens.count + reasoning.count))
            return .raw(body: String(buffer: body), contentType: "application/json")
        }
        if reasoning.isEmpty, !noUsage {
            return .stream(
                tokens: tokens, delay: delay, firstDelay: firstDelay,
                dropAfter: int("drop_after"), hangAfter: int("stall_after"))
        }
        return .scripted(
            FakeStream(
                tokens: tokens, delay: delay, firstDelay: firstDelay, reasoning: reasoning, reasoningForm: form,
                reasoningDelay: int("think_delay_ms").map { .milliseconds($0) } ?? .zero, usage: !noUsage,
                dropAfter: int("drop_after"), hangAfter: int("stall_after")))
    }

    /// The fixed default answer (~40 words): an echo of the question, a table, a code block and a formula.
    public static func defaultReply(to question: String) -> String {
        let echo = question.count > 60 ? String(question.prefix(60)) + "…" : question
        return """
            Fake upstream reply to: \(echo.isEmpty ? "(empty)" : echo)

            | Item | Value |
            |------|-------|
            | alpha | 1 |
            | beta | 2 |

            ```python
            def square(x):
                return x * x
            ```

            The square of $x$ is $x^2$, and that is the end of this deterministic answer.
            """
    }
}
