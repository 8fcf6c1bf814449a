@testable import Chatbox
import Testing

/// The opaque `next_cursor` of the paged lists, straight from `CursorCodec`: no server.
@Suite("CursorCodec: next_cursor round trip and refusals")
struct CursorCodecTests {
    @Test(arguments: [
        PageCursor(updatedAt: 0, id: 0), PageCursor(updatedAt: 1_764_806_400_123, id: 42),
        PageCursor(updatedAt: -5, id: 7), PageCursor(updatedAt: .max, id: .max), PageCursor(updatedAt: .min, id: 1)
    ])
    func whatIsEncodedDecodesToTheSameCursor(cursor: PageCursor) throws {
        let text = CursorCodec.encode(cursor)
        #expect(try CursorCodec.decode(text) == cursor)
    }

    @Test func theTextIsSafeInAURLWithoutEscaping() {
        for id in Int64(0)..<300 {
            let text = CursorCodec.encode(PageCursor(updatedAt: 1_764_806_400_000 + id * 7919, id: id * 104_729))
            #expect(
                !text.isEmpty
                    && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") },
                "\(text)")
        }
    }

    @Test func aCursorWrittenByHandDecodes() throws {
        #expect(try CursorCodec.decode("MTox") == PageCursor(updatedAt: 1, id: 1))  // "1:1"
    }

    @Test(arguments: [
        "", "!!!", "not a cursor",
        "MTIz",  // "123": no id
        "MToxOjI",  // "1:1:2"
        "YToy",  // "a:2"
        "MTo",  // "1:"
        String(repeating: "MTox", count: 17)  // longer than any cursor made
    ])
    func anythingElseIsRefused(text: String) {
        #expect(throws: (any Error).self) { try CursorCodec.decode(text) }
    }
}
