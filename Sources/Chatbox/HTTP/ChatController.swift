import Hummingbird
import ServiceLifecycle

/// The turn, re-attach, stop and regenerate routes: turns `ChatService` events into Server-Sent Events.
struct ChatController {
    let chat: ChatService
    let body: JSONBody
    /// How long a stream waits after writing pieces of an answer before its next write (see `AppConfig`).
    let batchInterval: Duration

    func addRoutes(to group: RouterGroup<AuthenticatedContext>) {
        group.post(":id/messages", use: send)
            .get(":id/stream", use: attach)
            .post(":id/stop", use: stop)
            .post(":id/regenerate", use: regenerate)
    }

    struct NewMessage: Decodable {
        let content: String
    }

    @Sendable func send(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let id = try pathID(context, of: "Conversation")
        let input = try await body.decode(NewMessage.self, from: request)
        return stream(try await chat.send(userID: context.user.id, conversationID: id, content: input.content))
    }

    @Sendable func regenerate(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let id = try pathID(context, of: "Conversation")
        let input = try await body.decodeOptional(Regenerate.self, from: request)
        let model = try input?.model.map { try Rules.modelID($0) }
        return stream(try await chat.regenerate(userID: context.user.id, conversationID: id, model: model))
    }

    @Sendable func attach(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        guard
            let events = try await chat.attach(
                userID: context.user.id, conversationID: try pathID(context, of: "Conversation"))
        else {
            return .noContent
        }
        return stream(events)
    }

    @Sendable func stop(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        try await chat.stop(userID: context.user.id, conversationID: try pathID(context, of: "Conversation"))
        return .noContent
    }

    /// `{"model"?}`: another model answers again (and the conversation goes on with it).
    struct Regenerate: Decodable {
        let model: String?
    }

    /// The response. Events are written as they happen, and whatever queued up meanwhile goes in the same write;
    /// after a write with pieces of the answer (or its reasoning) the stream waits out `batchInterval` before the
    /// next. A client that
    /// leaves only ends its own listening; the generation goes on. On server shutdown the stream ends.
    func stream(_ listener: Listener) -> Response {
        let batchInterval = self.batchInterval
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache", .xAccelBuffering: "no"
            ],
            body: ResponseBody { writer in
                defer { listener.close() }
                try await withGracefulShutdownHandler {
                    while let events = await listener.next() {
                        try await writer.write(SSE.frames(events))
                        if batchInterval > .zero, events.contains(where: \.isPiece) {
                            try? await Task.sleep(for: batchInterval)
                        }
                    }
                } onGracefulShutdown: {
                    listener.close()
                }
                try await writer.finish(nil)
            })
    }
}

extension ChatEvent {
    /// A piece of the answer or of its reasoning: what the stream batches.
    var isPiece: Bool {
        switch self {
        case .delta, .reasoning: true
        default: false
        }
    }
}
