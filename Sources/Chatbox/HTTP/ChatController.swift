import Hummingbird
import NIOCore
import ServiceLifecycle

/// The turn, re-attach, stop and regenerate routes: turns `ChatService` events into Server-Sent Events.
struct ChatController {
    let chat: ChatService
    let body: JSONBody
    /// How long a stream waits after writing pieces of an answer before its next write (see `AppConfig`).
    let batchInterval: Duration

    /// Under `/api/conversations/`.
    func addRoutes(to group: RouterGroup<AuthenticatedContext>) {
        group.post(":id/messages", use: send)
            .get(":id/stream", use: attach)
            .post(":id/stop", use: stop)
            .post(":id/regenerate", use: regenerate)
    }

    /// Whether a request goes to one of the routes above that answer with a stream (a turn, a re-attach, a
    /// regenerate): `ShortTaskResponder` answers those in a task of their own. Kept beside `addRoutes`.
    static func answersWithStream(_ request: Request) -> Bool {
        let path = request.uri.path
        guard path.hasPrefix("/api/conversations/") else { return false }
        switch request.method {
        case .post: return path.hasSuffix("/messages") || path.hasSuffix("/regenerate")
        case .get: return path.hasSuffix("/stream")
        default: return false
        }
    }

    /// `{"content", "parent_id"?}`: without `parent_id` the question follows the current leaf; with an answer's id
    /// it follows that answer (how an edited question becomes a new version); `null` makes it a new version of
    /// the first question.
    struct NewMessage: Decodable {
        let content: String
        let place: QuestionPlace
        enum CodingKeys: String, CodingKey { case content, parentId }  // snake_case on the wire
        init(from decoder: any Decoder) throws {
            let object = try decoder.container(keyedBy: CodingKeys.self)
            content = try object.decode(String.self, forKey: .content)
            if !object.contains(.parentId) {
                place = .afterCurrentLeaf
            } else if try object.decodeNil(forKey: .parentId) {
                place = .root
            } else {
                place = .after(messageID: try object.decode(Int64.self, forKey: .parentId))
            }
        }
    }

    @Sendable func send(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let id = try pathID(context, of: "Conversation")
        let input = try await body.decode(NewMessage.self, from: request)
        let user = context.user.id
        let events = try await chat.send(
            userID: user, conversationID: id, content: input.content, place: input.place,
            streamingOn: context.eventLoop)
        return stream(on: context.eventLoop, events)
    }

    @Sendable func regenerate(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let id = try pathID(context, of: "Conversation")
        let input = try await body.decodeOptional(Regenerate.self, from: request)
        let model = try input?.model.map { try Rules.modelID($0) }
        let user = context.user.id
        let events = try await chat.regenerate(
            userID: user, conversationID: id, messageID: input?.messageId, model: model, streamingOn: context.eventLoop)
        return stream(on: context.eventLoop, events)
    }

    @Sendable func attach(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let (user, id) = (context.user.id, try pathID(context, of: "Conversation"))
        guard let events = try await chat.attach(userID: user, conversationID: id) else {
            return .noContent
        }
        return stream(on: context.eventLoop, events)
    }

    @Sendable func stop(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        try await chat.stop(userID: context.user.id, conversationID: try pathID(context, of: "Conversation"))
        return .noContent
    }

    /// `{"message_id"?, "model"?}`: the question above that message (default: the current leaf) is answered
    /// again, by another model if given (and the conversation goes on with it).
    struct Regenerate: Decodable {
        let messageId: Int64?
        let model: String?
    }

    /// The response. Events are written as they happen, and whatever queued up meanwhile goes in the same write;
    /// pieces of the answer (or its reasoning) are written at most once per tick of `batchInterval` (see
    /// `SSE.relay`). A
    /// client that leaves only ends its own listening; the generation goes on. On server shutdown the
    /// stream ends. The stream runs on `eventLoop`, the client connection's (see `EventLoopExecutor`).
    func stream(on eventLoop: any EventLoop, _ listener: Listener) -> Response {
        let batchInterval = self.batchInterval
        let executor = EventLoopExecutor(eventLoop)
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache", .xAccelBuffering: "no"
            ],
            body: ResponseBody { writer in
                defer { listener.close() }
                try await withTaskExecutorPreference(executor) {
                    try await withGracefulShutdownHandler {
                        try await SSE.relay(listener, interval: batchInterval) {
                            try await writer.write($0)
                        } sleep: {
                            await executor.sleep(until: $0)
                        }
                    } onGracefulShutdown: {
                        listener.close()
                    }
                    try await writer.finish(nil)
                }
            })
    }
}
