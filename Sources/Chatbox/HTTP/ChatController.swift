import Hummingbird
import ServiceLifecycle

/// The turn, re-attach, stop and regenerate routes: turns `ChatService` events into Server-Sent Events.
struct ChatController {
    let chat: ChatService
    let body: JSONBody

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
        let id = try pathID(context)
        let input = try await body.decode(NewMessage.self, from: request)
        return Self.stream(try await chat.send(userID: context.user.id, conversationID: id, content: input.content))
    }

    @Sendable func regenerate(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let id = try pathID(context)
        _ = try await body.decodeOptional(Empty.self, from: request)
        return Self.stream(try await chat.regenerate(userID: context.user.id, conversationID: id))
    }

    @Sendable func attach(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        guard let events = try await chat.attach(userID: context.user.id, conversationID: try pathID(context)) else {
            return .noContent
        }
        return Self.stream(events)
    }

    @Sendable func stop(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        try await chat.stop(userID: context.user.id, conversationID: try pathID(context))
        return .noContent
    }

    struct Empty: Decodable {}

    /// The response: each event written (and flushed) as it happens. A client that leaves only ends its own
    /// listening; the generation goes on. On server shutdown the stream ends so the server can stop.
    static func stream(_ events: AsyncStream<ChatEvent>) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache", .xAccelBuffering: "no"],
            body: ResponseBody { writer in
                for await event in events.cancelOnGracefulShutdown() {
                    try await writer.write(SSE.frame(event))
                }
                try await writer.finish(nil)
            })
    }
}
