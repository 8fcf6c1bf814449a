import Logging
import NIOCore
import NIOHTTP1

/// One attempt at a streamed `/chat/completions` request: turns its response into outputs (reasoning, answer
/// pieces, usage), right on the event loop that receives it, by telling `OpenAIStreamState` what happened and
/// performing the action it returns.
///
/// Its events come from the connection's `OpenAIStreamHandler` (request sent, head, body part, end, error), from
/// `ModelConnectionPool` (a connection that could not be opened), from its own connect timer (until the request
/// head is written, TLS handshake included), and from `cancel()` (the consumer left).
///
/// Thread-safety: everything but `cancel()` runs on `eventLoop` (the connection's, chosen before it is opened);
/// `cancel()` hops there. The mutable state is touched nowhere else; the output closures are `@Sendable`. Hence
/// `@unchecked Sendable`.
final class OpenAIStreamExchange: @unchecked Sendable {
    let eventLoop: any EventLoop
    /// Every output in order on the event loop, then the end.
    private let output: AnswerOutput
    /// What has happened so far and what to do next; the exchange only performs its actions.
    private var state: OpenAIStreamState
    private var connectTimer: Scheduled<Void>?
    /// The outputs a call into `state` read, handed out once it has returned (see `deliver`). Kept between calls,
    /// so that its storage is reused.
    private var outputs: [ModelOutput] = []
    /// `output.end` was called (or a retry took over): nothing more goes out.
    private(set) var ended = false
    /// An output (a piece of the answer or its reasoning, usage) went out: the answer's first token is behind.
    private(set) var hasOutput = false
    /// The connection carrying the request while its response is read.
    private var connection: OpenAIStreamHandler?

    /// Called instead of failing when a connection was closed (or reset) before anything was received: a reused
    /// keep-alive connection the server had already closed. Sending the request again is safe. Nil: no retry.
    /// Both retries hold the whole request; they are let go once a successful response head came, after which
    /// neither can happen (the request's body and headers are not kept for a stream's minutes).
    private var retryOnStaleConnection: (@Sendable () -> Void)?
    /// Called instead of failing when the provider answered 400 or 422 to a request that carried
    /// `stream_options` (the request is sent again without them). Nil: the request had none.
    private var retryWithoutStreamOptions: (@Sendable () -> Void)?

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

    // MARK: Connection

    func armConnectTimer(timeout: Duration) {
        eventLoop.assertInEventLoop()
        guard state.phase == .connecting, !ended else { return }
        connectTimer = eventLoop.scheduleTask(in: .nanoseconds(timeout.wholeNanoseconds)) { [self] in
            perform(state.connectTimedOut(after: timeout))
        }
    }

    /// The request is on `handler`'s connection; `detach` when its response is over.
    func attach(_ handler: OpenAIStreamHandler) {
        connection = handler
    }

    func detach() {
        connection = nil
    }

    /// The consumer left: the answer ends without an error, and the connection is closed (the rest of the
    /// response is not wanted). From any thread; on the event loop at once, so that an output that stops the
    /// answer also stops the outputs after it in the same body part (see `deliver`).
    func cancel() {
        guard eventLoop.inEventLoop else {
            eventLoop.execute { [self] in cancel() }
            return
        }
        perform(state.receivedError(ModelStreamError.cancelled, canRetry: false))
        dropConnection()
    }

    // MARK: Events

    func requestSent() {
        state.requestSent()
        cancelConnectTimer()
    }

    func receivedHead(_ status: HTTPResponseStatus) {
        state.receivedHead(status)
        cancelConnectTimer()
        if (200..<300).contains(status.code) {
            retryOnStaleConnection = nil
            retryWithoutStreamOptions = nil
        }
    }

    func receivedBodyPart(_ buffer: ByteBuffer) {
        deliver(state.receivedBodyPart(buffer) { outputs.append($0) })
    }

    func bodyEnded() {
        deliver(state.bodyEnded { outputs.append($0) })
    }

    /// The connection could not be opened, or failed or closed before the response ended.
    func failed(_ error: any Error) {
        perform(state.receivedError(error, canRetry: retryOnStaleConnection != nil))
    }

    /// Hands out the outputs the last call read, then performs its action. Not from inside the call: an output can
    /// stop the answer, and the stop comes straight back into this exchange (`cancel` on the event loop) while
    /// `state` would still be in use. A stop ends the answer: its later outputs are dropped.
    private func deliver(_ action: OpenAIStreamState.Action) {
        if !outputs.isEmpty { hasOutput = true }
        var index = 0
        while index < outputs.count, !ended {
            output.output(outputs[index])
            index += 1
        }
        outputs.removeAll(keepingCapacity: true)
        perform(action)
    }

    private func perform(_ action: OpenAIStreamState.Action) {
        guard !ended else { return }
        switch action {
        case .none:
            return
        case .end(let error, let drop):
            ended = true
            cancelConnectTimer()
            output.end(error)
            if drop { dropConnection() }
        case .retry:
            ended = true
            cancelConnectTimer()
            dropConnection()
            retryOnStaleConnection?()
        case .retryWithoutStreamOptions(let error, let drop):
            ended = true
            cancelConnectTimer()
            if drop { dropConnection() }  // the rest of the error body is not wanted
            guard let retryWithoutStreamOptions else {
                output.end(error)
                return
            }
            retryWithoutStreamOptions()
        }
    }

    /// Closes the connection, if the request still has one (a connection still being opened is closed when it
    /// is, since the exchange has ended).
    private func dropConnection() {
        let handler = connection
        connection = nil
        handler?.drop()
    }

    private func cancelConnectTimer() {
        connectTimer?.cancel()
        connectTimer = nil
    }
}
