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
    public static let passwordBytes = 8...72
    public static let titleMaxCharacters = 200

    /// A username in canonical form (NFC), or why it is not acceptable: 1–32 characters of letters (any
    /// script), digits, `_`, `.`, `-`.
    public static func username(_ raw: String) throws(ValidationError) -> String {
        let name = raw.precomposedStringWithCanonicalMapping
        guard !name.isEmpty else { throw ValidationError("Username is required.") }
        guard name.count <= usernameMaxCharacters else {
            throw ValidationError("Username must be at most \(usernameMaxCharacters) characters.")
        }
        for scalar in name.unicodeScalars where !isUsernameScalar(scalar) {
            let shown = scalar.properties.isWhitespace ? "spaces" : "\"\(Character(scalar))\""
            throw ValidationError(
                "Username may contain letters, digits, '_', '.' and '-' only (not \(shown)).")
        }
        return name
    }

    /// The form usernames are compared in: unique without regard to case.
    public static func usernameKey(_ name: String) -> String {
        name.precomposedStringWithCanonicalMapping.lowercased()
    }

    private static func isUsernameScalar(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "_" || scalar == "." || scalar == "-" { return true }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
            .nonspacingMark, .spacingMark, .decimalNumber:
            return true
        default:
            return false
        }
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
