import Chatbox
import FakeUpstream
import Foundation
import Testing

/// Reasoning models end to end: the three ways providers send reasoning, streamed as `reasoning` events before the
/// answer, stored apart, never sent back nor used for titles, saved with progress, counted as progress for the
/// timeouts, exported and imported; and a conversation that is free at `done` while its title is written.
@Suite("Reasoning models: streamed, stored apart, never sent back; the chat is free at done")
struct ReasoningChatTests {
    static func done(_ events: [ReceivedEvent]) -> [String: Any] {
        events.first { $0.name == "done" }?.object("message") ?? [:]
    }

    /// The fake's three forms: DeepSeek's field, OpenRouter's field, and a <think> block in the content.
    static let forms = ["reasoning_content=4", "reasoning=4", "think=4"]

    @Test(arguments: Backend.all, forms)
    func reasoningComesFirstIsStoredApartAndIsNeverSentBack(_ backend: Backend, form: String) async throws {
        try await withChatApp(database: backend.freshLocation()) { chat in
            let id = try await chat.conversation()
            let events = try await chat.turn(id, "[[fake tokens=3 \(form)]] think first")
            let names = events.map(\.name).filter { $0 == "reasoning" || $0 == "delta" }
            let firstDelta = try #require(names.firstIndex(of: "delta"))
            #expect(names.contains("reasoning") && !names[firstDelta...].contains("reasoning"), "\(names)")
            let streamed = events.filter { $0.name == "reasoning" }.map { $0.json["text"] as? String ?? "" }.joined()
            #expect(streamed.trimmingCharacters(in: .whitespacesAndNewlines) == "thought1 thought2 thought3 thought4.")
            let done = Self.done(events)
            #expect((done["reasoning"] as? String)?.contains("thought4") == true)
            #expect(done["content"] as? String == "word1 word2 word3")
            let stored = try #require(try await chat.stored(id).messages.last)
            #expect(stored["reasoning"] as? String == done["reasoning"] as? String)
            #expect(stored["content"] as? String == "word1 word2 word3")

            _ = try await chat.turn(id, "[[fake tokens=1]] and then")
            let asked = try #require(chat.fake.requests().last { !$0.isTitleRequest })
            #expect(asked.messages.map(\.content).contains("word1 word2 word3"), "the earlier answer goes back")
            #expect(!asked.messages.contains { $0.content.contains("thought") }, "its reasoning never does")
            let titleRequest = try #require(chat.fake.requests().first { $0.isTitleRequest })
            #expect(!titleRequest.messages.contains { $0.content.contains("thought") }, "nor into the title prompt")
        }
    }

    @Test(arguments: Backend.all)
    func aThinkWithoutItsOpeningTagEndsUpAsReasoning(_ backend: Backend) async throws {
        try await withChatApp(database: backend.freshLocation()) { chat in
            let id = try await chat.conversation()
            let events = try await chat.turn(id, "[[fake tokens=2 think=3 think_open=0]] distilled")
            // The answer streams as text until `</think>` shows it was reasoning: a client that applies the events
            // (a replacing `reasoning` empties the answer so far) ends with the same split as the server. When the
            // tag came before the turn was stored, the split is made before anything is sent and nothing is replaced.
            var (content, reasoning) = ("", "")
            for event in events {
                let text = event.json["text"] as? String ?? ""
                if event.name == "delta" { content += text }
                if event.name == "reasoning" {
                    if event.json["replace"] as? Bool == true {
                        (reasoning, content) = (text, "")
                    } else {
                        reasoning += text
                    }
                }
            }
            #expect(content == "word1 word2")
            #expect(reasoning.contains("thought1") && reasoning.contains("thought3") && !reasoning.contains("</think>"))
            let done = Self.done(events)
            #expect(done["content"] as? String == "word1 word2")
            #expect((done["reasoning"] as? String)?.contains("thought3") == true)
            #expect(try await chat.stored(id).messages.last?["content"] as? String == "word1 word2")
        }
    }

    @Test func aLongThinkWithSteadyProgressIsNotATimeout() async throws {
        // 60 reasoning tokens 100 ms apart: 6 s of thinking, longer than either timeout, but never silent for 4 s
        // (a margin a busy machine's scheduling keeps).
        try await withChatApp({ config in
            config.model.firstTokenTimeout = .seconds(4)
            config.model.stallTimeout = .seconds(4)
        }) { chat in
            let id = try await chat.conversation()
            let done = Self.done(
                try await chat.turn(id, "[[fake tokens=1 reasoning_content=60 think_delay_ms=100]] ponder"))
            #expect(done["status"] as? String == "completed", "\(done["error"] ?? "")")
            #expect((done["reasoning"] as? String)?.contains("thought60") == true)
        }
    }

    @Test(arguments: Backend.all)
    func reasoningIsSavedWithTheAnswersProgress(_ backend: Backend) async throws {
        try await withChatApp(database: backend.freshLocation()) { chat in
            let id = try await chat.conversation()
            let opened = try await chat.events.send(
                id, "[[fake tokens=1 reasoning_content=400 think_delay_ms=20]] slow")
            #expect(opened.status == 200)
            let saved = try await eventually(timeout: .seconds(20)) {
                let last = try await chat.stored(id).messages.last
                return last?["status"] as? String == "processing"
                    && (last?["reasoning"] as? String)?.hasPrefix("thought1 ") == true
            }
            #expect(saved, "the reasoning so far is in the database while the model still thinks")
            _ = try await chat.api.call(.post, "/api/conversations/\(id)/stop", json: "{}", token: chat.token)
            opened.cancel()
        }
    }

    @Test(arguments: Backend.all)
    func theChatIsFreeAtDoneAndTheTitleFollowsOnTheSameStream(_ backend: Backend) async throws {
        try await withChatApp(database: backend.freshLocation()) { chat in
            let id = try await chat.conversation()
            let opened = try await chat.events.send(id, "[[fake tokens=2 title_delay_ms=2000]] first question")
            var names: [String] = []
            var title = ""
            for try await event in opened.events {
                names.append(event.name)
                if event.name == "title" { title = event.json["title"] as? String ?? "" }
                if event.name == "done" {
                    // The next question goes at once, while the title model is still writing.
                    let next = try await chat.events.send(id, "[[fake tokens=1]] second question")
                    #expect(next.status == 200, "the conversation is free from done")
                    _ = try await next.all()
                }
            }
            #expect(names.last == "title", "the title comes after done on the still-open stream: \(names)")
            let done = try #require(names.firstIndex(of: "done"), "\(names)")
            let titled = try #require(names.firstIndex(of: "title"), "\(names)")
            #expect(done < titled)
            let stored = try await chat.stored(id)
            #expect(!title.isEmpty && stored.title == title)
            #expect(stored.messages.count == 4)
        }
    }

    @Test(arguments: Backend.all)
    func anExportCarriesModelReasoningAndUsageAndAnImportBringsThemBack(_ backend: Backend) async throws {
        try await withChatApp(database: backend.freshLocation()) { chat in
            let id = try await chat.conversation()
            _ = try await chat.change(id, ["system_prompt": "Be brief.", "temperature": 0.5])
            _ = try await chat.turn(id, "[[fake tokens=2 reasoning_content=2]] export me")
            let export = try await chat.api.exportAll(token: chat.token)
            let conversation = try #require((export.json["conversations"] as? [[String: Any]])?.first)
            #expect(conversation["model"] as? String == "fake")
            #expect(conversation["system_prompt"] as? String == "Be brief.")
            #expect(conversation["temperature"] as? Double == 0.5)
            let answer = try #require((conversation["messages"] as? [[String: Any]])?.last)
            #expect(answer["reasoning"] as? String == "thought1 thought2.")
            #expect(answer["model"] as? String == "fake")
            #expect((answer["usage"] as? [String: Any])?["completion_tokens"] as? Int == 4)

            #expect((try await chat.api.deleteConversation(id, token: chat.token)).status == .noContent)
            let report = try await chat.api.importHistory(token: chat.token, export.text)
            #expect(report.json["imported"] as? Int == 1)
            let list = try await chat.api.listConversations(token: chat.token)
            let imported = try #require((list.json["conversations"] as? [[String: Any]])?.first)
            #expect(imported["model"] as? String == "fake" && imported["temperature"] as? Double == 0.5)
            let newID = try #require((imported["id"] as? NSNumber)?.int64Value)
            let back = try #require(try await chat.stored(newID).messages.last)
            #expect(back["reasoning"] as? String == "thought1 thought2.")
            #expect((back["usage"] as? [String: Any])?["completion_tokens"] as? Int == 4)
        }
    }
}
