import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Testing

@testable import Chatbox

private struct TestSource: RequestContextSource {
    let logger = Logger(label: "test")
}

private struct Context: RequestContext {
    typealias Source = TestSource
    var coreContext: CoreRequestContextStorage
    init(source: TestSource) { coreContext = .init(source: source) }
}

/// `ShortTaskResponder` with `ChatController.answersWithStream`: the stream routes are answered by the router in a
/// task of their own (whose stack memory
/// goes when it ends), every other request in its own task; cancelling the request reaches the short task.
@Suite("ShortTaskResponder: stream routes are answered in a short task")
struct ShortTaskResponderTests {
    private func request(_ method: HTTPRequest.Method, _ path: String) -> Request {
        Request(
            head: HTTPRequest(method: method, scheme: "http", authority: "localhost", path: path),
            body: RequestBody(buffer: ByteBuffer()))
    }

    private static func currentTask() -> Int? { withUnsafeCurrentTask { $0?.hashValue } }

    @Test func theStreamRoutesAreAnsweredInAnotherTaskAndOtherRequestsInTheirOwn() async throws {
        let cases: [(HTTPRequest.Method, String, Bool)] = [
            (.post, "/api/conversations/7/messages", true),
            (.post, "/api/conversations/7/regenerate", true),
            (.get, "/api/conversations/7/stream", true),
            (.get, "/api/conversations/7/messages", false),
            (.post, "/api/conversations/7/stop", false),
            (.post, "/api/auth/login", false),
            (.get, "/index.html", false)
        ]
        for (method, path, separate) in cases {
            let outer = Self.currentTask()
            let responder = ShortTaskResponder(
                CallbackResponder<Context> { _, _ in Response(status: Self.currentTask() == outer ? .ok : .accepted) },
                inShortTask: ChatController.answersWithStream)
            let response = try await responder.respond(
                to: request(method, path), context: Context(source: TestSource()))
            #expect(response.status == (separate ? .accepted : .ok), "\(method) \(path)")
        }
    }

    @Test func cancellingTheRequestCancelsTheShortTask() async throws {
        let started = AsyncStream<Void>.makeStream()
        let responder = ShortTaskResponder(
            CallbackResponder<Context> { _, _ in
                started.continuation.yield()
                try await Task.sleep(for: .seconds(60))
                return Response(status: .ok)
            }, inShortTask: { _ in true })
        let handling = Task {
            try await responder.respond(
                to: request(.post, "/api/conversations/7/messages"), context: Context(source: TestSource()))
        }
        for await _ in started.stream { break }
        handling.cancel()
        await #expect(throws: CancellationError.self) { try await handling.value }
    }
}
