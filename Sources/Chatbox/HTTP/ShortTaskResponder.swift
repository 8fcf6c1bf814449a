import Hummingbird

/// Wraps the router: the requests `inShortTask` picks (the ones answered with a long event stream: a turn, a
/// regenerate, a re-attach, `ChatController.answersWithStream`) are answered by the router (its middleware, the
/// controller) in a task of their own.
///
/// Why: a Swift task keeps the stack memory (slabs) of its deepest call until it ends, and the connection's task,
/// which writes the stream for as long as the answer runs, would otherwise keep the frames of the router, of every
/// middleware and of the turn's start (the store, the model catalog, the model request). Here those frames live in
/// a short task that ends once the response (headers and a body that writes the stream) is ready; the connection's
/// task then only writes. Measured with heaptrack in bench/README ("Issue 17, third round"). Cancelling the
/// request cancels the short task.
struct ShortTaskResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context: RequestContext {
    typealias Context = Inner.Context
    let inner: Inner
    let inShortTask: @Sendable (Request) -> Bool

    init(_ inner: Inner, inShortTask: @escaping @Sendable (Request) -> Bool) {
        self.inner = inner
        self.inShortTask = inShortTask
    }

    @Sendable func respond(to request: Request, context: Context) async throws -> Response {
        guard inShortTask(request) else { return try await inner.respond(to: request, context: context) }
        let task = Task { [inner] in try await inner.respond(to: request, context: context) }
        return try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    }
}
