import Chatbox
import FakeUpstream
import Foundation
import Testing

@Suite("Titles and model providers")
struct ChatTitleAndModelTests {
    static func firstRoundTitle(_ chat: ChatHarness, _ content: String, conversationTitle: String? = nil) async throws
        -> (event: String?, stored: String)
    {
        let id = try await chat.conversation(title: conversationTitle)
        let events = try await chat.events.send(id, content).all()
        return (events.first("title")?.json["title"] as? String, try await chat.stored(id).title)
    }

    @Test func theModelNamesTheConversationAfterTheFirstRound() async throws {
        try await withChatApp { chat in
            let (event, stored) = try await Self.firstRoundTitle(chat, "[[fake title_reply=\"Cats and their habits\"]]")
            #expect(event == "Cats and their habits")
            #expect(stored == "Cats and their habits")
        }
    }

    @Test func reasoningQuotesAndMarkdownAreStrippedFromTitles() async throws {
        try await withChatApp { chat in
            let reply = "<think>the user wants\\na title</think>\\n**\\\"Swift 并发入门\\\"**\\nextra line"
            let (event, _) = try await Self.firstRoundTitle(chat, "[[fake title_reply=\"\(reply)\"]]")
            #expect(event == "Swift 并发入门")
        }
    }

    @Test func aFailingTitleModelFallsBackToTheQuestion() async throws {
        let behaviour: @Sendable (FakeRequest) -> FakeReply = { request in
            request.isTitleRequest ? .error(500, message: "no titles today") : .text("An answer.")
        }
        try await withChatApp(behaviour: behaviour) { chat in
            let question = "How do I bake sourdough bread at home without a Dutch oven, step by step please?"
            let (event, stored) = try await Self.firstRoundTitle(chat, question)
            #expect(event == stored)
            #expect(stored.hasPrefix("How do I bake sourdough bread"))
            #expect(stored.count <= TitleService.maxCharacters)
        }
    }

    @Test func aSlowTitleModelFallsBackWithinItsTimeout() async throws {
        let behaviour: @Sendable (FakeRequest) -> FakeReply = { request in
            request.isTitleRequest ? .hang : .text("An answer.")
        }
        try await withChatApp(behaviour: behaviour, { $0.model.titleTimeout = .seconds(1) }) { chat in
            let started = ContinuousClock.now
            let (event, _) = try await Self.firstRoundTitle(chat, "quick question")
            #expect(event == "quick question")
            #expect(ContinuousClock.now - started < .seconds(12), "the 1 s title timeout applies, not the 15 s default")
        }
    }

    @Test func aRunawayTitleReplyIsCutShortAndStillNamesTheConversation() async throws {
        // 4,000 pieces of 10 characters, 5 ms apart, would take 20 s, past the 10 s title timeout (whose fallback,
        // the question, would fail this test); the title stops reading after 2,000 characters, about 1 s in.
        let behaviour: @Sendable (FakeRequest) -> FakeReply = { request in
            request.isTitleRequest
                ? .stream(
                    tokens: ["Runaway title\n"] + Array(repeating: "xxxxxxxxxx", count: 4000), delay: .milliseconds(5))
                : .text("An answer.")
        }
        try await withChatApp(behaviour: behaviour, { $0.model.titleTimeout = .seconds(10) }) { chat in
            let (event, stored) = try await Self.firstRoundTitle(chat, "a question about nothing")
            #expect(event == "Runaway title")
            #expect(stored == "Runaway title")
        }
    }

    @Test func aConversationTheUserNamedKeepsItsName() async throws {
        try await withChatApp { chat in
            let (event, stored) = try await Self.firstRoundTitle(chat, "hello", conversationTitle: "My own name")
            #expect(event == nil)
            #expect(stored == "My own name")
        }
    }

    @Test func theDemoModelIsTheDefaultAndSaysSo() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let config = try await api.call(.get, "/api/config")
            #expect((config.json["model"] as? [String: Any])?["is_demo"] as? Bool == true)
            let token = try await api.signUp("demo")
            let id = try await api.newConversation(token: token)
            let events = try await EventStreamClient(port: try #require(api.port), token: token).send(id, "hi").all()
            let answer = events.first("done")?.object("message")["content"] as? String ?? ""
            #expect(answer.contains("CHATBOX_LLM_BASE_URL"))
            #expect(answer.contains("|") && answer.contains("```") && answer.contains("$$"))
        }
    }

    @Test func theCommandProviderStreamsTheUsersOwnProgram() async throws {
        let script = URL(fileURLWithPath: TestConfig.webRoot).deletingLastPathComponent()
            .appendingPathComponent("examples/command-model.py").path
        // 0.2 s between the program's pieces (8 of them here): it streams for at least 1.4 s.
        let config = TestConfig.make { $0.model.command = "COMMAND_MODEL_DELAY=0.2 python3 \(script)" }
        try await withLiveApp(config) { api in
            let configReply = try await api.call(.get, "/api/config")
            #expect((configReply.json["model"] as? [String: Any])?["is_demo"] as? Bool == false)
            let token = try await api.signUp("commander")
            let id = try await api.newConversation(token: token)
            let client = EventStreamClient(port: try #require(api.port), token: token)
            let events = try await client.send(id, "hello from the test").all()
            let answer = events.first("done")?.object("message")
            #expect(answer?["status"] as? String == "completed")
            let deltas = events.filter { $0.name == "delta" }.compactMap { $0.json["text"] as? String }
            #expect(!deltas.isEmpty && deltas.joined() == answer?["content"] as? String)
            // Streamed, not read at the end: the server saw its first piece long before the program finished
            // (its own timestamps; how the browser's stream groups pieces depends on the machine's load).
            let firstToken = try #require(answer?["first_token_ms"] as? Int)
            let duration = try #require(answer?["duration_ms"] as? Int)
            #expect(duration - firstToken >= 1000, "first piece at \(firstToken) ms, end at \(duration) ms")
            let failed = try await client.send(id, "fail").all()
            let done = failed.first("done")?.object("message")
            #expect(done?["status"] as? String == "failed")
            #expect((done?["error"] as? String)?.contains("exited with status 1") == true)
        }
    }
}
