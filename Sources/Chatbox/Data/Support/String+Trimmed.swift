extension StringProtocol {
    /// The text without leading and trailing spaces and tabs (any whitespace but line breaks): what Foundation's
    /// `trimmingCharacters(in: .whitespaces)` gives, without its ~40 µs a call on Linux (bench/README). Header values
    /// of every request are trimmed with it.
    var trimmingSpaces: SubSequence {
        func isSpace(_ character: Character) -> Bool { character.isWhitespace && !character.isNewline }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return self[endIndex...]
        }
        return self[first...last]
    }
}
