import HTTPTypes
import Hummingbird
import NIOCore
import Testing

@testable import Chatbox

/// Header values read on every request, without Foundation's trimming.
@Suite("Header values: the session token, trimmed")
struct HeaderParsingTests {
    static func request(_ fields: [(HTTPField.Name, String)]) -> Request {
        var headers = HTTPFields()
        for (name, value) in fields { headers.append(HTTPField(name: name, value: value)) }
        return Request(
            head: HTTPRequest(
                method: .get, scheme: "http", authority: "localhost", path: "/api/me", headerFields: headers),
            body: .init(buffer: ByteBuffer()))
    }

    @Test func spacesAndTabsAreTrimmedButNothingElse() {
        #expect(" \t a b \u{00A0}".trimmingSpaces == "a b")
        #expect("ab".trimmingSpaces == "ab" && "   ".trimmingSpaces.isEmpty && "".trimmingSpaces.isEmpty)
        #expect("\na\n".trimmingSpaces == "\na\n", "line breaks are not spaces")
    }

    @Test func theSessionTokenComesFromABearerHeaderOrTheSessionCookie() {
        #expect(SessionCookie.token(in: Self.request([(.authorization, "Bearer abc")])) == "abc")
        #expect(SessionCookie.token(in: Self.request([(.authorization, "bEaReR \t abc ")])) == "abc")
        #expect(SessionCookie.token(in: Self.request([(.authorization, "Bearer  ")])) == nil)
        #expect(SessionCookie.token(in: Self.request([(.authorization, "Basic abc")])) == nil)
        #expect(SessionCookie.token(in: Self.request([(.cookie, "a=1;  chatbox_session=xyz ; b=2")])) == "xyz")
        #expect(SessionCookie.token(in: Self.request([(.cookie, "a=1"), (.cookie, "chatbox_session=q")])) == "q")
        #expect(SessionCookie.token(in: Self.request([(.cookie, "chatbox_session=; other=1")])) == nil)
        #expect(SessionCookie.token(in: Self.request([(.cookie, "xchatbox_session=1")])) == nil)
    }
}
