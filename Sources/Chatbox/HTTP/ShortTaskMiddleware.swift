import Hummingbird

/// Runs the rest of the chain (the other middleware, the router, the controller) in a task of its own for the
/// requests that answer with a long event stream: a turn, a regenerate, a re-attach. It goes first in the chain.
///
/// Why: a Swift task keeps the stack memory (slabs) of its deepest call until it ends, and the connection's task,
/// which writes the stream for as long as the answer runs, would otherwise keep the frames of every middleware and
/// of the turn's start (the store, the model catalog, the model request). Here those frames live in a short task
/// that ends once the response (headers and a body that writes the stream) is ready; the connection's task then
/// only writes. Measured with heaptrack in bench/README ("Issue 17, third round"). Cancelling the request cancels
/// the short task.
struct ShortTaskMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard Self.streams(request) else { return try await next(request, context) }
        return try await withoutActuallyEscaping(next) { next in
            // Safe to send: the task is awaited before `next` goes out of scope, and nothing else calls it.
            let chain = UncheckedSendable(value: next)
            let task = Task { try await chain.value(request, context) }
            return try await withTaskCancellationHandler {
                try await task.value
            } onCancel: {
                task.cancel()
            }
        }
    }

    /// The routes of `ChatController` that answer with a stream: `POST …/messages`, `POST …/regenerate` and
    /// `GET …/stream` under `/api/conversations/`.
    static func streams(_ request: Request) -> Bool {
        let path = request.uri.path
        guard path.hasPrefix("/api/conversations/") else { return false }
        switch request.method {
        case .post: return path.hasSuffix("/messages") || path.hasSuffix("/regenerate")
        case .get: return path.hasSuffix("/stream")
        default: return false
        }
    }
}

/// A value sent to a task that the sender awaits before the value goes out of scope.
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
}
