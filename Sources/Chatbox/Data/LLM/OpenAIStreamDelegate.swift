import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Turns one streamed `/chat/completions` response into answer pieces, right on the event loop that receives it.
///
/// Why a delegate and not `HTTPClientResponse.body`: the delegate parses each body part where it arrives (no hop
/// to another task per chunk), and `didSendRequestHead` tells exactly when a connection was made, which is what
/// the connect timeout needs (the response head may legitimately come only with the first token).
///
/// Thread-safety: AsyncHTTPClient calls every delegate method on `eventLoop` (requested with
/// `.delegate(on:)`), and the connect timer is scheduled there too; the mutable state is touched nowhere else.
/// The output closures are `@Sendable`. Hence `@unchecked Sendable`.
final class OpenAIStreamDelegate: HTTPClientResponseDelegate, @unchecked Sendable {
    typealias Response = Void

    /// Every piece in order on the event loop, then the end.
    private let output: AnswerOutput
    private let eventLoop: any EventLoop
    /// What has happened so far and what to do next; the delegate only performs its actions.
    private var state: OpenAIStreamState
    private var connectTimer: Scheduled<Void>?

    /// Called instead of failing when a reused keep-alive connection turns out to have been closed by the server
    /// before it answered (nothing was received, so sending the request again is safe). Nil: no retry.
    private let retryOnStaleConnection: (@Sendable () -> Void)?

    init(
        errors: ModelErrorText, logger: Logger, limits: SSEParser.Limits = .model, output: AnswerOutput,
        eventLoop: any EventLoop, retryOnStaleConnection: (@Sendable () -> Void)? = nil
    ) {
        self.state = OpenAIStreamState(errors: errors, logger: logger, limits: limits)
        self.output = output
        self.eventLoop = eventLoop
        self.retryOnStaleConnection = retryOnStaleConnection
    }

    // MARK: Connect timeout

    func armConnectTimer(task: HTTPClient.Task<Void>, timeout: Duration) {
        eventLoop.assertInEventLoop()
        guard state.phase == .connecting else { return }
        connectTimer = eventLoop.scheduleTask(in: .nanoseconds(timeout.wholeNanoseconds)) { [self] in
            perform(state.connectTimedOut(after: timeout), task)
        }
    }

    func didSendRequestHead(task: HTTPClient.Task<Void>, _ head: HTTPRequestHead) {
        state.requestSent()
        cancelConnectTimer()
    }

    // MARK: Response

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        state.receivedHead(head.status)
        cancelConnectTimer()
        return eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        perform(state.receivedBodyPart(buffer, piece: output.piece), task)
        return eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveError(task: HTTPClient.Task<Void>, _ error: any Error) {
        perform(state.receivedError(error, canRetry: retryOnStaleConnection != nil), task)
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {
        perform(state.bodyEnded(piece: output.piece), task)
    }

    private func perform(_ action: OpenAIStreamState.Action, _ task: HTTPClient.Task<Void>) {
        switch action {
        case .none:
            return
        case .end(let error, let dropConnection):
            cancelConnectTimer()
            output.end(error)
            if dropConnection { task.cancel() }
        case .retry:
            cancelConnectTimer()
            retryOnStaleConnection?()
        }
    }

    private func cancelConnectTimer() {
        connectTimer?.cancel()
        connectTimer = nil
    }
}
