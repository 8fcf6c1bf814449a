import Chatbox
import FakeUpstream
import Foundation
import Testing

/// The model, system prompt and temperature of a conversation, as the provider receives them, and what each answer
/// records (model, usage, timings).
@Suite("A model per conversation: picking, switching, settings, usage, a model that is gone")
struct ModelPerConversationTests {
    static func id(_ reply: API.Reply) -> Int64 {
        ((reply.json["conversation"] as? [String: Any])?["id"] as? NSNumber)?.int64Value ?? 0
    }
    static func conversation(_ reply: API.Reply) -> [String: Any] {
        reply.json["conversation"] as? [String: Any] ?? [:]
    }
    static func done(_ events: [ReceivedEvent]) -> [String: Any] {
        events.first { $0.name == "done" }?.object("message") ?? [:]
    }

    @Test(arguments: Backend.all)
    func aConversationAnswersWithItsModelAndASwitchAppliesFromTheNextTurn(_ backend: Backend) async throws {
        try await withChatApp(database: backend.freshLocation(), models: ["alpha", "beta"]) { chat in
            let created = try await chat.create(["model": "beta"])
            #expect(created.status == .created)
            #expect(Self.conversation(created)["model"] as? String == "beta")
            let id = Self.id(created)

            let first = try await chat.turn(id, "[[fake tokens=2]] hello")
            #expect(Self.done(first)["model"] as? String == "beta")
            #expect(chat.fake.requests().last { !$0.isTitleRequest }?.model == "beta")

            let switched = try await chat.change(id, ["model": "alpha"])
            #expect(switched.status == .ok && Self.conversation(switched)["model"] as? String == "alpha")
            _ = try await chat.turn(id, "[[fake tokens=2]] again")
            #expect(chat.fake.requests().last { !$0.isTitleRequest }?.model == "alpha")
            let answers = try await chat.stored(id).messages.filter { $0["role"] as? String == "assistant" }
            #expect(answers.map { $0["model"] as? String } == ["beta", "alpha"], "each answer keeps its own model")

            let next = try await chat.create([:])
            #expect(Self.conversation(next)["model"] as? String == "alpha", "a new chat starts with the last choice")
            let unknown = try await chat.create(["model": "no-such-model"])
            #expect(unknown.status == .unprocessableContent)
            #expect(unknown.errorMessage == "The model \"no-such-model\" is not available.")
            #expect((try await chat.change(id, ["model": "gone"])).status == .unprocessableContent)
        }
    }

    @Test(arguments: Backend.all)
    func theSystemPromptAndTemperatureReachTheProviderAndNullRestoresTheDefaults(_ backend: Backend) async throws {
        try await withChatApp(database: backend.freshLocation(), { $0.model.systemPrompt = "The server's own prompt." })
        {
            chat in
            let created = try await chat.create(["system_prompt": "Answer like a pirate.", "temperature": 0.3])
            let id = Self.id(created)
            #expect(Self.conversation(created)["system_prompt"] as? String == "Answer like a pirate.")
            #expect(Self.conversation(created)["temperature"] as? Double == 0.3)
            _ = try await chat.turn(id, "[[fake tokens=1]] ahoy")
            let asked = try #require(chat.fake.requests().last { !$0.isTitleRequest })
            #expect(asked.messages.first == .init(role: "system", content: "Answer like a pirate."))
            #expect(asked.temperature == 0.3)

            let reset = try await chat.change(id, ["system_prompt": NSNull(), "temperature": NSNull()])
            #expect(reset.status == .ok)
            #expect(Self.conversation(reset)["system_prompt"] is NSNull)
            #expect(Self.conversation(reset)["temperature"] is NSNull)
            _ = try await chat.turn(id, "[[fake tokens=1]] and now")
            let plain = try #require(chat.fake.requests().last { !$0.isTitleRequest })
            #expect(plain.messages.first == .init(role: "system", content: "The server's own prompt."))
            #expect(plain.temperature == nil, "no temperature is sent unless one is set")

            #expect((try await chat.change(id, ["temperature": 2.5])).status == .unprocessableContent)
            #expect((try await chat.change(id, [:])).status == .unprocessableContent)
            let long = String(repeating: "x", count: Rules.systemPromptMaxCharacters + 1)
            #expect((try await chat.change(id, ["system_prompt": long])).status == .unprocessableContent)
            #expect((try await chat.change(id, ["system_prompt": ""])).status == .ok, "an empty prompt means none")
            _ = try await chat.turn(id, "[[fake tokens=1]] bare")
            let bare = try #require(chat.fake.requests().last { !$0.isTitleRequest })
            #expect(bare.messages.allSatisfy { $0.role != "system" })
        }
    }

    @Test(arguments: Backend.all)
    func usageAndTimingsAreRecordedAndAProviderThatRefusesStreamOptionsStillAnswers(_ backend: Backend) async throws {
        try await withChatApp(database: backend.freshLocation()) { chat in
            let id = try await chat.conversation()
            let done = Self.done(try await chat.turn(id, "[[fake tokens=5]] count"))
            let usage = try #require(done["usage"] as? [String: Any])
            #expect(usage["completion_tokens"] as? Int == 5)
            #expect((usage["prompt_tokens"] as? Int ?? 0) > 0)
            let first = try #require(done["first_token_ms"] as? Int)
            let duration = try #require(done["duration_ms"] as? Int)
            #expect(first >= 0 && duration >= first)
            let stored = try #require(try await chat.stored(id).messages.last)
            #expect((stored["usage"] as? [String: Any])?["completion_tokens"] as? Int == 5)
            #expect(stored["first_token_ms"] as? Int == first && stored["duration_ms"] as? Int == duration)

            let refused = Self.done(try await chat.turn(id, "[[fake tokens=3 refuse_stream_options]] again"))
            #expect(refused["status"] as? String == "completed")
            #expect(refused["usage"] is NSNull, "the provider that refuses stream_options reports no usage")
            let sent = chat.fake.requests().filter { !$0.isTitleRequest }.suffix(2)
            #expect(sent.map(\.hasStreamOptions) == [true, false], "asked with stream_options, then again without")
        }
    }

    @Test(arguments: Backend.all)
    func aModelThatIsGoneIsRefusedBeforeAnythingIsStoredAndOldChatsStillOpen(_ backend: Backend) async throws {
        try await withChatApp(database: backend.freshLocation(), models: ["alpha", "beta"]) { chat in
            let id = Self.id(try await chat.create(["model": "beta"]))
            _ = try await chat.turn(id, "[[fake tokens=2]] first")
            let hidden = try await chat.api.adminModels(token: chat.token, ["hidden": ["beta"]])
            #expect(hidden.status == .ok, "the first account is the admin")

            let refused = try await chat.events.send(id, "a question that must not be lost")
            #expect(refused.status == 409)
            let stored = try await chat.stored(id)
            #expect(stored.messages.count == 2, "nothing of the refused turn was stored")
            #expect(stored.messages.last?["model"] as? String == "beta", "the old answer keeps its model")

            let again = try await chat.api.call(
                .post, "/api/conversations/\(id)/messages", json: API.json(["content": "x"]), token: chat.token)
            #expect(again.status == .conflict)
            #expect(again.errorMessage == "The model \"beta\" is no longer available. Pick another model.")
            #expect(again.errorCode == "model_unavailable")
            #expect((try await chat.change(id, ["model": "alpha"])).status == .ok)
            #expect(Self.done(try await chat.turn(id, "[[fake tokens=1]] now"))["model"] as? String == "alpha")
        }
    }

    @Test(arguments: Backend.all)
    func regenerateWithAnotherModelAnswersAgainAndTheChatGoesOnWithIt(_ backend: Backend) async throws {
        try await withChatApp(database: backend.freshLocation(), models: ["alpha", "beta"]) { chat in
            let id = Self.id(try await chat.create(["model": "alpha"]))
            _ = try await chat.turn(id, "[[fake tokens=2]] question")
            let opened = try await chat.events.post(
                "/api/conversations/\(id)/regenerate", json: API.json(["model": "beta"]))
            #expect(opened.status == 200)
            #expect(Self.done(try await opened.all())["model"] as? String == "beta")
            #expect(chat.fake.requests().last { !$0.isTitleRequest }?.model == "beta")
            let stored = try await chat.api.getConversation(id, token: chat.token)
            #expect(Self.conversation(stored)["model"] as? String == "beta")
            #expect((try await chat.stored(id)).messages.count == 3, "a new version beside the first answer")

            let unknown = try await chat.events.post(
                "/api/conversations/\(id)/regenerate", json: API.json(["model": "nope"]))
            #expect(unknown.status == 409)
        }
    }
}

extension FakeRequest {
    /// A request of the title model (its system message asks for a title).
    var isTitleRequest: Bool { messages.contains { $0.role == "system" && $0.content.lowercased().contains("title") } }
}
