import Hummingbird
import NIOCore
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
        return stream(
            on: context.eventLoop,
            try await inShortTask { [chat] in
                try await chat.send(userID: user, conversationID: id, content: input.content, place: input.place)
            })
    }

    @Sendable func regenerate(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let id = try pathID(context, of: "Conversation")
        let input = try await body.decodeOptional(Regenerate.self, from: request)
        let model = try input?.model.map { try Rules.modelID($0) }
        let user = context.user.id
        return stream(
            on: context.eventLoop,
            try await inShortTask { [chat] in
                try await chat.regenerate(userID: user, conversationID: id, messageID: input?.messageId, model: model)
            })
    }

    @Sendable func attach(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let (user, id) = (context.user.id, try pathID(context, of: "Conversation"))
        guard let events = try await inShortTask({ [chat] in try await chat.attach(userID: user, conversationID: id) })
        else {
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

    /// Runs `body` (starting a turn, or finding the answer to re-attach to) in a task of its own, and waits for it.
    ///
    /// Why: a task keeps the stack memory (slabs) of its deepest call until the task ends, and the request's task
    /// lives as long as its stream, which is minutes for a slow answer. The turn's start goes deep (the store, the
    /// model catalog, the model request): run in the request's task, that memory was held for the whole answer
    /// (with the model client's change, 82 → 58 KB per held stream; bench/README "Issue 17, next round"). A short
    /// task gives it back as soon as the turn has started. Cancelling the request cancels the short task.
    private func inShortTask<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task { try await body() }
        return try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    }

    /// The response. Events are written as they happen, and whatever queued up meanwhile goes in the same write;
    /// after a write with pieces of the answer (or its reasoning) the stream waits out `batchInterval` before the
    /// next. A client that leaves only ends its own listening; the generation goes on. On server shutdown the
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
                        try await SSE.relay(listener) {
                            try await writer.write($0)
                        } pause: {
                            if batchInterval > .zero { await executor.sleep(for: batchInterval) }
                        }
                    } onGracefulShutdown: {
                        listener.close()
                    }
                    try await writer.finish(nil)
                }
            })
    }
}
