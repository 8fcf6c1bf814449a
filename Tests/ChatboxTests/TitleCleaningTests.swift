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
        ("   \n  Plain  words  \n", "Plain words"),
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
