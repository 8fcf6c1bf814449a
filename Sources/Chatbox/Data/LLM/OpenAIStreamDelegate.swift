import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Turns one streamed `/chat/completions` response into outputs (reasoning, answer pieces, usage), right on the event loop that receives it.
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

    /// Every output in order on the event loop, then the end.
    private let output: AnswerOutput
    private let eventLoop: any EventLoop
    /// What has happened so far and what to do next; the delegate only performs its actions.
    private var state: OpenAIStreamState
    private var connectTimer: Scheduled<Void>?
    /// The outputs a call into `state` read, handed out once it has returned (see `deliver`). Kept between calls,
    /// so that its storage is reused.
    private var outputs: [ModelOutput] = []
    /// `output.end` was called (or a retry took over): nothing more goes out.
    private var ended = false

    /// Called instead of failing when a reused keep-alive connection turns out to have been closed by the server
    /// before it answered (nothing was received, so sending the request again is safe). Nil: no retry.
    private let retryOnStaleConnection: (@Sendable () -> Void)?
    /// Called instead of failing when the provider answered 400 or 422 to a request that carried
    /// `stream_options` (the request is sent again without them). Nil: the request had none.
    private let retryWithoutStreamOptions: (@Sendable () -> Void)?

    init(
        errors: ModelErrorText, logger: Logger, limits: SSEParser.Limits = .model, output: AnswerOutput,
        eventLoop: any EventLoop, retryOnStaleConnection: (@Sendable () -> Void)? = nil,
        retryWithoutStreamOptions: (@Sendable () -> Void)? = nil
    ) {
        self.state = OpenAIStreamState(
            errors: errors, logger: logger, limits: limits,
            refusalCanBeStreamOptions: retryWithoutStreamOptions != nil)
        self.output = output
        self.eventLoop = eventLoop
        self.retryOnStaleConnection = retryOnStaleConnection
        self.retryWithoutStreamOptions = retryWithoutStreamOptions
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
        deliver(state.receivedBodyPart(buffer) { outputs.append($0) }, task)
        return eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveError(task: HTTPClient.Task<Void>, _ error: any Error) {
        perform(state.receivedError(error, canRetry: retryOnStaleConnection != nil), task)
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {
        deliver(state.bodyEnded { outputs.append($0) }, task)
    }

    /// Hands out the outputs the last call read, then performs its action. Not from inside the call: an output can
    /// stop the answer, and the stop can come straight back into this delegate (a cancelled request fails at once
    /// on its event loop) while `state` would still be in use. A stop ends the answer: its later outputs are
    /// dropped.
    private func deliver(_ action: OpenAIStreamState.Action, _ task: HTTPClient.Task<Void>) {
        var index = 0
        while index < outputs.count, !ended {
            output.output(outputs[index])
            index += 1
        }
        outputs.removeAll(keepingCapacity: true)
        perform(action, task)
    }

    private func perform(_ action: OpenAIStreamState.Action, _ task: HTTPClient.Task<Void>) {
        guard !ended else { return }
        switch action {
        case .none:
            return
        case .end(let error, let dropConnection):
            ended = true
            cancelConnectTimer()
            output.end(error)
            if dropConnection { task.cancel() }
        case .retry:
            ended = true
            cancelConnectTimer()
            retryOnStaleConnection?()
        case .retryWithoutStreamOptions(let error, let dropConnection):
            ended = true
            cancelConnectTimer()
            if dropConnection { task.cancel() }  // the rest of the error body is not wanted
            guard let retryWithoutStreamOptions else {
                output.end(error)
                return
            }
            retryWithoutStreamOptions()
        }
    }

    private func cancelConnectTimer() {
        connectTimer?.cancel()
        connectTimer = nil
    }
}
