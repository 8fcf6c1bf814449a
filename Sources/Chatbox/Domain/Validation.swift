import Foundation

/// A value a person typed that breaks a rule; `message` says which rule.
public struct ValidationError: Error, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The rules for names, passwords, titles and messages, in one place.
public enum Rules {
    public static let usernameMaxCharacters = 32
    /// The MariaDB column is VARCHAR(64) (code points): 64 bytes of UTF-8 always fit.
    public static let usernameMaxBytes = 64
    public static let passwordBytes = 8...72
    public static let titleMaxCharacters = 200

    /// A username in canonical form (trimmed, NFC), or why it is not acceptable: 1–32 characters and at most
    /// 64 bytes of letters (any script, with their combining marks), digits, `_`, `.`, `-`; nothing invisible.
    public static func username(_ raw: String) throws(ValidationError) -> String {
        let name = canonical(raw)
        guard !name.isEmpty else { throw ValidationError("Username is required.") }
        guard name.count <= usernameMaxCharacters else {
            throw ValidationError("Username must be at most \(usernameMaxCharacters) characters.")
        }
        guard name.utf8.count <= usernameMaxBytes else {
            throw ValidationError(
                "Username must be at most \(usernameMaxBytes) bytes in UTF-8 (\(usernameMaxBytes / 3) characters in Chinese)."
            )
        }
        var previous: Unicode.Scalar?
        for scalar in name.unicodeScalars {
            if isInvisible(scalar) {
                throw ValidationError(
                    "Username must not contain invisible or formatting characters (U+\(hex(scalar)) is one).")
            }
            if isMark(scalar), !(previous.map { isMark($0) || isLetterOrDigit($0) } ?? false) {
                throw ValidationError(
                    "Username must not have a combining mark (U+\(hex(scalar))) that does not follow a letter or digit."
                )
            }
            guard isUsernameScalar(scalar) else {
                let shown = scalar.properties.isWhitespace ? "spaces" : "\"\(Character(scalar))\""
                throw ValidationError("Username may contain letters, digits, '_', '.' and '-' only (not \(shown)).")
            }
            previous = scalar
        }
        return name
    }

    /// The form usernames are compared in (unique without regard to case): trimmed, NFC, lower case. Login input
    /// goes through exactly this too, so every spelling of a name meets the same account and the same throttle.
    public static func usernameKey(_ name: String) -> String {
        canonical(name).lowercased()
    }

    /// Surrounding white space removed, then NFC.
    private static func canonical(_ raw: String) -> String {
        raw.trimmingCharacters(in: .whitespacesAndNewlines).precomposedStringWithCanonicalMapping
    }

    /// Characters that show nothing or steer the text: Hangul fillers, zero-width and other default-ignorable
    /// code points, format (Cf) characters, bidi controls.
    private static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        let properties = scalar.properties
        return properties.isDefaultIgnorableCodePoint || properties.generalCategory == .format
            || properties.isBidiControl || [0x115F, 0x1160, 0x3164, 0xFFA0].contains(scalar.value)
    }

    private static func isMark(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: true
        default: false
        }
    }

    private static func isLetterOrDigit(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .decimalNumber: true
        default: false
        }
    }

    private static func hex(_ scalar: Unicode.Scalar) -> String {
        let digits = String(scalar.value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    private static func isUsernameScalar(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "_" || scalar == "." || scalar == "-" { return true }
        return isLetterOrDigit(scalar) || (isMark(scalar) && scalar.properties.generalCategory != .enclosingMark)
    }

    /// Checks a new password: 8 to 72 bytes (bcrypt reads no further than 72).
    public static func password(_ password: String) throws(ValidationError) {
        let bytes = password.utf8.count
        guard bytes >= passwordBytes.lowerBound else {
            throw ValidationError("Password must be at least \(passwordBytes.lowerBound) characters.")
        }
        guard bytes <= passwordBytes.upperBound else {
            throw ValidationError("Password must be at most \(passwordBytes.upperBound) bytes (bcrypt reads no more).")
        }
        guard !password.unicodeScalars.contains(where: { $0.value == 0 }) else {
            throw ValidationError("Password must not contain a NUL character.")
        }
    }

    /// A title trimmed to one line; empty is refused.
    public static func title(_ raw: String) throws(ValidationError) -> String {
        try noNUL(raw, field: "title")
        let title = oneLine(raw)
        guard !title.isEmpty else { throw ValidationError("Title must not be empty.") }
        guard title.count <= titleMaxCharacters else {
            throw ValidationError("Title must be at most \(titleMaxCharacters) characters.")
        }
        return title
    }

    /// The longest per-conversation (or preset) system prompt, in characters.
    public static let systemPromptMaxCharacters = 20_000

    /// A per-conversation system prompt as given ("" means none), at most `systemPromptMaxCharacters`.
    public static func systemPrompt(_ text: String) throws(ValidationError) -> String {
        try noNUL(text, field: "system prompt")
        guard text.count <= systemPromptMaxCharacters else {
            throw ValidationError("The system prompt must be at most \(systemPromptMaxCharacters) characters.")
        }
        return text
    }

    /// A sampling temperature: a number from 0 to 2.
    public static func temperature(_ value: Double) throws(ValidationError) -> Double {
        guard value.isFinite, (0...2).contains(value) else {
            throw ValidationError("The temperature must be a number from 0 to 2.")
        }
        return value
    }

    /// A model id as given by a client: 1–255 characters, no NUL (whether it is offered is checked elsewhere).
    public static func modelID(_ text: String) throws(ValidationError) -> String {
        try noNUL(text, field: "model")
        guard !text.isEmpty, text.count <= 255 else {
            throw ValidationError("The model id must be 1 to 255 characters.")
        }
        return text
    }

    /// Refuses text with a NUL character: no database keeps it reliably, and no person types it.
    public static func noNUL(_ text: String, field: String) throws(ValidationError) {
        if text.utf8.contains(0) { throw ValidationError("The \(field) contains a NUL character.") }
    }

    /// Collapses line breaks, tabs and other control characters to single spaces and trims.
    public static func oneLine(_ text: String) -> String {
        var out = ""
        var pendingSpace = false
        for scalar in text.unicodeScalars {
            if scalar.properties.isWhitespace || scalar.properties.generalCategory == .control {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" ") }
                pendingSpace = false
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
