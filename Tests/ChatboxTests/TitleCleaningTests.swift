import Chatbox
import Testing

@Suite("Title clean-up")
struct TitleCleaningTests {
    @Test(arguments: [
        ("<think>the user wants\na title</think>\n**\"Swift 并发入门\"**\nextra line", "Swift 并发入门"),
        ("Title: Cats and dogs.", "Cats and dogs"),
        ("标题：猫和狗", "猫和狗"),
        ("# “Baking bread”", "Baking bread"),
        ("<think>never closed", ""),
        ("   \n  Plain  words  \n", "Plain words")
    ])
    func modelRepliesAreCleaned(reply: String, title: String) {
        #expect(TitleService.clean(reply) == title)
    }

    @Test func longTitlesAreCutToOneSidebarLine() {
        let long = String(repeating: "word ", count: 40)
        let cleaned = TitleService.clean(long)
        #expect(cleaned.count <= TitleService.maxCharacters)
        #expect(cleaned.hasSuffix("…"))
    }

    @Test func theFallbackIsTheStartOfTheQuestionOnOneLine() {
        #expect(TitleService.fallback("How do\nI   start?") == "How do I start?")
        #expect(TitleService.fallback("   ") == "…")
    }
}

@Suite("Timestamps")
struct TimestampTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"), (1_700_000_000_500, "2023-11-14T22:13:20.500Z"),
        (-1, "1969-12-31T23:59:59.999Z"), (-86_400_000, "1969-12-31T00:00:00.000Z")
    ])
    func millisecondsFormatAsISO8601UTC(millis: Int64, text: String) {
        #expect(millis.iso8601 == text)
    }
}
