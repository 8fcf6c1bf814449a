/// Splits a model's content stream into reasoning and answer when the reasoning comes inline, as a leading
/// `<think>…</think>` block (Ollama, llama.cpp, LM Studio serving Qwen3, QwQ, DeepSeek-R1 distills).
///
/// Fed each content piece in order (`feed`), then `finish` at the end of a complete answer:
/// - leading whitespace, then `<think>`: everything up to `</think>` is `.reasoning` (whitespace right after
///   `<think>` dropped), then whitespace and newlines right after `</think>` are dropped and the rest is `.answer`;
/// - content that does not start with `<think>` is `.answer`, but while no think block has been seen a `</think>`
///   in it means the model left out the opening tag (an R1 distill whose template puts `<think>` in the prompt): it
///   sends `.answerWasReasoning` (everything sent as answer so far was reasoning), the text before `</think>` in
///   that piece as `.reasoning`, and what follows as `.answer`; but a `</think>` after an odd number of backticks
///   (inside inline code or a code block) is the answer speaking of the tag: it is answer text, and so is every
///   later tag;
/// - only that first block is special: once a block has ended (or `reasoningArrivedElsewhere()` was called,
///   because the provider sends reasoning in its own field), later `<think>` or `</think>` text is answer text.
///
/// A tag may be split across pieces at any byte: only a possible partial tag at the end of a piece is held back
/// (at most 7 bytes), and it goes out with the next piece or at `finish`. A piece without `<` costs one byte scan.
struct ThinkSplitter {
    private enum Mode {
        /// Nothing but whitespace and a possible start of `<think>` so far (held in `held`).
        case start
        /// Inside the leading `<think>` block; `held` may be the start of `</think>`.
        case thinking
        /// Right after `</think>`: whitespace is dropped until the answer starts.
        case afterThink
        /// An answer without an opening tag: a `</think>` would still turn what came before into reasoning.
        case watching
        /// The answer, passed on as it comes.
        case passing
    }

    private var mode = Mode.start
    private var held = ""
    /// Whitespace right after `<think>` is dropped until the reasoning's first other character.
    private var reasoningStarted = false
    /// Backticks in the answer so far while `.watching`: when odd, a `</think>` is inside code.
    private var backticks = 0

    private static let open = Array("<think>".utf8)
    private static let close = Array("</think>".utf8)

    /// The provider sends reasoning in a field of its own (`reasoning_content`): content is answer only from now
    /// on. Held-back text goes out first as answer (unless it is only whitespace before anything was said).
    mutating func reasoningArrivedElsewhere(_ output: (ModelOutput) -> Void) {
        switch mode {
        case .start, .watching:
            if held.utf8.contains(where: { !Self.isSpace($0) }) { output(.answer(held)) }
            held = ""
            mode = .passing
        case .thinking, .afterThink, .passing:
            break
        }
    }

    /// One content piece; the outputs it makes go to `output`, in order.
    mutating func feed(_ piece: String, _ output: (ModelOutput) -> Void) {
        guard !piece.isEmpty else { return }
        if mode == .passing {
            output(.answer(piece))
            return
        }
        var text: String
        if held.isEmpty {
            text = piece
        } else {
            text = held + piece
            held = ""
        }
        while true {
            switch mode {
            case .passing:
                if !text.isEmpty { output(.answer(text)) }
                return
            case .start:
                let utf8 = text.utf8
                let firstNonSpace = utf8.firstIndex { !Self.isSpace($0) } ?? utf8.endIndex
                let rest = utf8[firstNonSpace...]
                if rest.starts(with: Self.open) {
                    mode = .thinking
                    text = String(text[utf8.index(firstNonSpace, offsetBy: Self.open.count)...])
                    continue
                }
                if rest.count < Self.open.count, Self.open.starts(with: rest) {
                    held = text  // whitespace and maybe the start of `<think>`: wait for more
                    return
                }
                mode = .watching
                continue
            case .thinking:
                if !reasoningStarted {
                    let utf8 = text.utf8
                    guard let first = utf8.firstIndex(where: { !Self.isSpace($0) }) else { return }
                    text = String(text[first...])
                    reasoningStarted = true
                }
                guard
                    let after = untilClose(
                        text, Self.find(Self.close, in: text), as: { .reasoning($0) }, output: output)
                else { return }
                text = after
                continue
            case .afterThink:
                let utf8 = text.utf8
                guard let first = utf8.firstIndex(where: { !Self.isSpace($0) }) else { return }
                mode = .passing
                text = String(text[first...])
                continue
            case .watching:
                let close = Self.find(Self.close, in: text)
                let before = Self.backticks(in: text.utf8[..<(close?.lowerBound ?? text.endIndex)])
                if close != nil, (backticks + before) % 2 == 1 {
                    mode = .passing
                    continue
                }
                backticks += before
                guard
                    let after = untilClose(
                        text, close, as: { .answer($0) }, closed: .answerWasReasoning, output: output)
                else { return }
                text = after
                continue
            }
        }
    }

    /// The answer is complete: what is still held back goes out as what it turned out to be.
    mutating func finish(_ output: (ModelOutput) -> Void) {
        defer { held = "" }
        guard !held.isEmpty else { return }
        switch mode {
        case .start, .watching, .passing: output(.answer(held))
        case .thinking: output(.reasoning(held))
        case .afterThink: break
        }
    }

    /// Sends `text` up to `</think>` (at `close`, where `find` found it) as `piece`s (after `closed`, when given)
    /// and returns what follows the tag, the mode then `.afterThink`; without the tag, sends all but a possible
    /// start of it (held for the next piece) and returns nil.
    private mutating func untilClose(
        _ text: String, _ close: Range<String.Index>?, as piece: (String) -> ModelOutput, closed: ModelOutput? = nil,
        output: (ModelOutput) -> Void
    ) -> String? {
        if let range = close {
            if let closed { output(closed) }
            let before = text[..<range.lowerBound]
            if !before.isEmpty { output(.reasoning(String(before))) }
            mode = .afterThink
            return String(text[range.upperBound...])
        }
        let keep = Self.partialSuffix(of: text, tag: Self.close)
        let cut = text.utf8.index(text.utf8.endIndex, offsetBy: -keep)
        if cut > text.startIndex { output(piece(String(text[..<cut]))) }
        if keep > 0 { held = String(text[cut...]) }
        return nil
    }

    private static func backticks(in bytes: Substring.UTF8View) -> Int {
        bytes.reduce(0) { $0 + ($1 == 0x60 ? 1 : 0) }
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    /// Where `tag` first occurs in `text` (byte search; the tags are ASCII, so the bounds are valid indices).
    private static func find(_ tag: [UInt8], in text: String) -> Range<String.Index>? {
        let utf8 = text.utf8
        guard utf8.count >= tag.count else { return nil }
        var index = utf8.startIndex
        while let start = utf8[index...].firstIndex(of: tag[0]) {
            let end = utf8.index(start, offsetBy: tag.count, limitedBy: utf8.endIndex) ?? utf8.endIndex
            if utf8.distance(from: start, to: end) == tag.count, utf8[start..<end].elementsEqual(tag) {
                return start..<end
            }
            index = utf8.index(after: start)
        }
        return nil
    }

    /// The length of the longest end of `text` that is a proper start of `tag` (0 when none of the last
    /// `tag.count - 1` bytes is a `<`: the usual token costs one short backward scan).
    private static func partialSuffix(of text: String, tag: [UInt8]) -> Int {
        let utf8 = text.utf8
        var end = utf8.endIndex
        var length = 0
        var longest = 0
        while end > utf8.startIndex, length < tag.count - 1 {
            end = utf8.index(before: end)
            length += 1
            if utf8[end] == tag[0], utf8[end...].elementsEqual(tag.prefix(length)) { longest = length }
        }
        return longest
    }
}
