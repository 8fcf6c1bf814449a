import Foundation

/// Reads a model command's stdout as it arrives (see `CommandModel` for the convention): plain text, or JSON lines
/// when the first line is exactly `#chatbox-jsonl`.
///
/// Bounded whatever the program writes: in plain mode nothing is held beyond an incomplete UTF-8 character (and,
/// at the very start, the few bytes that could still be the marker); in JSON-lines mode one line of at most
/// `maxLine` bytes.
struct CommandOutputReader {
    static let marker = Array("#chatbox-jsonl".utf8)
    /// A JSON line longer than this fails the answer (a line is held whole until its newline).
    static let maxLine = 4 * 1024 * 1024

    private enum Mode {
        /// The first bytes, which could still be the marker line.
        case sniffing
        case plain
        case jsonLines
    }

    private var mode = Mode.sniffing
    private var held: [UInt8] = []
    private var decoder = UTF8ChunkDecoder()
    private var usage: TokenUsage?
    private let maxLine: Int
    private lazy var json = JSONDecoder()

    init(maxLine: Int = CommandOutputReader.maxLine) {
        self.maxLine = maxLine
    }

    /// One JSON line: each member is optional; a line may carry several (reasoning before content).
    private struct Line: Decodable {
        struct Usage: Decodable {
            var prompt_tokens: Int
            var completion_tokens: Int
        }
        var reasoning: String?
        var content: String?
        var usage: Usage?
        var error: String?
    }

    /// Reads `bytes`; outputs go to `output`. Throws `ModelError` when the program broke the JSON-lines
    /// convention or reported an error: the answer then fails with it.
    mutating func read(_ bytes: ArraySlice<UInt8>, _ output: (ModelOutput) -> Void) throws {
        switch mode {
        case .plain:
            let text = decoder.decode(bytes)
            if !text.isEmpty { output(.answer(text)) }
        case .sniffing:
            held.append(contentsOf: bytes)
            try sniff(atEnd: false, output)
        case .jsonLines:
            try readLines(bytes, output)
        }
    }

    /// Stdout reached its end (the program exited 0 or closed it): what is held back, then the usage.
    mutating func finish(_ output: (ModelOutput) -> Void) throws {
        switch mode {
        case .sniffing:
            try sniff(atEnd: true, output)
            if mode == .sniffing { return }
            try finish(output)
            return
        case .plain:
            let rest = decoder.flush()
            if !rest.isEmpty { output(.answer(rest)) }
        case .jsonLines:
            if !held.isEmpty {
                let line = held
                held.removeAll()
                try handle(line: line[...], output)
            }
            if let usage {
                output(.usage(usage))
                self.usage = nil
            }
        }
    }

    private mutating func sniff(atEnd: Bool, _ output: (ModelOutput) -> Void) throws {
        let marker = Self.marker
        let prefixLength = min(held.count, marker.count)
        let matches = held.prefix(prefixLength).elementsEqual(marker.prefix(prefixLength))
        if matches, held.count > marker.count {
            var rest = held[marker.count...]
            if rest.first == UInt8(ascii: "\r") { rest = rest.dropFirst() }
            if rest.first == UInt8(ascii: "\n") {
                mode = .jsonLines
                let after = Array(rest.dropFirst())
                held.removeAll()
                try readLines(after[...], output)
                return
            }
            if !rest.isEmpty { return goPlain(output) }  // "#chatbox-jsonlx…": plain text
            if !atEnd { return }  // "#chatbox-jsonl\r": wait for the newline
        }
        if matches, !atEnd { return }
        if matches, held.count == marker.count, atEnd {
            mode = .jsonLines  // the marker and nothing else: an empty answer in JSON-lines mode
            held.removeAll()
            return
        }
        goPlain(output)
    }

    private mutating func goPlain(_ output: (ModelOutput) -> Void) {
        mode = .plain
        let bytes = held
        held.removeAll()
        let text = decoder.decode(bytes[...])
        if !text.isEmpty { output(.answer(text)) }
    }

    private mutating func readLines(_ bytes: ArraySlice<UInt8>, _ output: (ModelOutput) -> Void) throws {
        var rest = bytes
        while let newline = rest.firstIndex(of: UInt8(ascii: "\n")) {
            let part = rest[..<newline]
            rest = rest[rest.index(after: newline)...]
            if held.isEmpty {
                try checkLength(part.count)
                try handle(line: part, output)
            } else {
                try checkLength(held.count + part.count)
                held.append(contentsOf: part)
                let line = held
                held.removeAll(keepingCapacity: true)
                try handle(line: line[...], output)
            }
        }
        try checkLength(held.count + rest.count)
        held.append(contentsOf: rest)
    }

    private func checkLength(_ length: Int) throws {
        guard length > maxLine else { return }
        throw ModelError(
            .process,
            "The model command sent a JSON line longer than \(OpenAIStreamState.size(maxLine)) (JSON-lines mode); "
                + "the answer was stopped there.")
    }

    private mutating func handle(line: ArraySlice<UInt8>, _ output: (ModelOutput) -> Void) throws {
        var line = line
        while let last = line.last, last == 0x20 || last == 0x0D || last == 0x09 { line = line.dropLast() }
        while let first = line.first, first == 0x20 || first == 0x09 { line = line.dropFirst() }
        guard !line.isEmpty else { return }
        let decoded: Line
        do {
            decoded = try json.decode(Line.self, from: Data(line))
        } catch {
            let text = String(decoding: line.prefix(120), as: UTF8.self)
            throw ModelError(
                .process,
                "The model command sent a line that is not a JSON object in JSON-lines mode: \(text)")
        }
        if let error = decoded.error {
            let message = error.trimmingCharacters(in: .whitespacesAndNewlines)
            throw ModelError(.process, message.isEmpty ? "The model command reported an error." : message)
        }
        if let reasoning = decoded.reasoning, !reasoning.isEmpty { output(.reasoning(reasoning)) }
        if let content = decoded.content, !content.isEmpty { output(.answer(content)) }
        if let usage = decoded.usage {
            self.usage = TokenUsage(promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens)
        }
    }
}
