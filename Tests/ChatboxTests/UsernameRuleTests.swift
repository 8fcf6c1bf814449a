import Chatbox
import Foundation
import Testing

/// Usernames people can see and tell apart: no invisible or format characters, no marks on nothing, and a size
/// the database column holds.
@Suite("Username rules")
struct UsernameRuleTests {
    static let invisible: [String] = [
        "\u{3164}", "ab\u{3164}", "\u{3164}\u{3164}", "\u{115F}x", "x\u{1160}", "\u{FFA0}",  // Hangul fillers
        "a\u{200B}b", "a\u{200C}b", "a\u{200D}b", "a\u{2060}b", "\u{FEFF}ab",  // zero width
        "a\u{00AD}b", "a\u{034F}b", "ab\u{180E}", "a\u{FE0F}b", "a\u{E0041}b",  // soft hyphen, CGJ, FVS, VS, tag
        "admin\u{202E}", "a\u{2066}b\u{2069}", "a\u{200E}b", "a\u{200F}", "a\u{061C}b"  // bidi controls
    ]

    @Test(arguments: invisible)
    func invisibleAndFormatCharactersAreRefused(name: String) {
        #expect {
            try Rules.username(name)
        } throws: { error in
            let message = (error as? ValidationError)?.message ?? ""
            return message.hasPrefix("Username must not contain invisible or formatting characters (U+")
        }
    }

    @Test(arguments: ["\u{301}", "\u{301}abc", "\u{301}\u{302}", "\u{93F}", "_\u{301}", "a.\u{301}"])
    func aCombiningMarkMustFollowALetterOrDigit(name: String) {
        #expect {
            try Rules.username(name)
        } throws: { error in
            let message = (error as? ValidationError)?.message ?? ""
            return message.hasPrefix("Username must not have a combining mark")
        }
    }

    @Test func lettersWithMarksInAnyScriptAreFine() throws {
        #expect(try Rules.username("Zoe\u{308}") == "Zoë")  // NFD in, NFC out
        #expect(try Rules.username("नमस्ते") == "नमस्ते")
        #expect(try Rules.username("x\u{301}\u{302}") == "x\u{301}\u{302}")
        #expect(try Rules.username("김철수") == "김철수")
        #expect(try Rules.username("_a.b-1") == "_a.b-1")
    }

    @Test func surroundingSpacesAreTrimmedLikeAtLogin() throws {
        #expect(try Rules.username("  ada\t") == "ada")
        #expect(Rules.usernameKey("  ADA\t") == Rules.usernameKey("ada"))
        #expect(Rules.usernameKey("Zoe\u{308} ") == Rules.usernameKey("zoë"))
    }

    @Test func theLengthIsCappedInCharactersAndInUTF8Bytes() throws {
        #expect(try Rules.username(String(repeating: "a", count: 32)).count == 32)
        #expect(try Rules.username(String(repeating: "张", count: 21)).utf8.count == 63)
        #expect {
            try Rules.username(String(repeating: "张", count: 22))  // 22 characters, 66 bytes
        } throws: { error in
            (error as? ValidationError)?.message
                == "Username must be at most 64 bytes in UTF-8 (21 characters in Chinese)."
        }
        // One character with many marks: short in characters, long in bytes.
        #expect(throws: ValidationError.self) { try Rules.username("x" + String(repeating: "\u{301}", count: 40)) }
    }

    @Test(arguments: ["", "   ", "\t\n"])
    func aNameIsRequired(name: String) {
        #expect(throws: ValidationError("Username is required.")) { try Rules.username(name) }
    }

    @Test func moreThan32CharactersAreRefused() {
        #expect(throws: ValidationError("Username must be at most 32 characters.")) {
            try Rules.username(String(repeating: "a", count: 33))
        }
    }

    @Test(arguments: [("ada lovelace", "spaces"), ("ada@home", "\"@\""), ("a/b", "\"/\""), ("hi😀", "\"😀\"")])
    func onlyLettersDigitsAndThreeMarksArePunctuation(name: String, shown: String) {
        #expect(throws: ValidationError("Username may contain letters, digits, '_', '.' and '-' only (not \(shown))."))
        {
            try Rules.username(name)
        }
    }
}
