import Chatbox
import FakeUpstream
import Foundation
import Testing

/// A live server wired to a fresh fake upstream, with one signed-in user.
struct ChatHarness: Sendable {
    let api: API
    let events: EventStreamClient
    let fake: FakeUpstream
    let token: String
    let config: AppConfig

    /// A new conversation of this user.
    func conversation(title: String? = nil) async throws -> Int64 {
        try await api.newConversation(token: token, title: title)
    }

    /// `POST /api/conversations` with `body`.
    func create(_ body: [String: Any]) async throws -> API.Reply {
        try await api.call(.post, "/api/conversations", json: API.json(body), token: token)
    }

    /// `PATCH /api/conversations/{id}` with `body`.
    func change(_ id: Int64, _ body: [String: Any]) async throws -> API.Reply {
        try await api.call(.patch, "/api/conversations/\(id)", json: API.json(body), token: token)
    }

    /// Sends a question and reads its stream to the end.
    func turn(_ id: Int64, _ content: String) async throws -> [ReceivedEvent] {
        let opened = try await events.send(id, content)
        #expect(opened.status == 200, "the turn starts")
        return try await opened.all()
    }

    /// The stored conversation: its title and messages as the API returns them.
    func stored(_ id: Int64) async throws -> (title: String, messages: [[String: Any]]) {
        let reply = try await api.getConversation(id, token: token)
        #expect(reply.status == .ok)
        let title = (reply.json["conversation"] as? [String: Any])?["title"] as? String ?? "?"
        return (title, reply.json["messages"] as? [[String: Any]] ?? [])
    }
}

func withChatApp(
    database: DatabaseLocation? = nil, models: [String]? = ["fake"],
    behaviour: @escaping @Sendable (FakeRequest) -> FakeReply = FakeUpstream.makeDirectiveBehaviour(
        defaultDelay: .milliseconds(5)),
    _ adjust: @escaping (inout AppConfig) -> Void = { _ in },
    _ body: @escaping @Sendable (ChatHarness) async throws -> Void
) async throws {
    let fake = try await FakeUpstream.start(models: models, behaviour: behaviour)
    let config = TestConfig.make(database: database, modelBaseURL: fake.baseURL) { config in
        config.model.firstTokenTimeout = .seconds(5)
        config.model.stallTimeout = .seconds(5)
        adjust(&config)
    }
    do {
        try await withLiveApp(config) { api in
            let token = try await api.signUp("chatter")
            let port = try #require(api.port)
            try await body(
                ChatHarness(
                    api: api, events: EventStreamClient(port: port, token: token), fake: fake, token: token,
                    config: config))
        }
    } catch {
        await fake.stop()
        throw error
    }
    await fake.stop()
}
