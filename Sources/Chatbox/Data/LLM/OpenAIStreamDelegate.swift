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

    /// Where the answer goes: every piece in order on the event loop, then exactly one end (nil: complete).
    struct Output: Sendable {
        let piece: @Sendable (String) -> Void
        let end: @Sendable (ModelError?) -> Void
    }

    private enum Mode {
        case sniffing      // 2xx, no body byte yet: SSE, or one JSON document?
        case sse
        case json          // a non-streamed answer: collect it
        case errorBody     // non-2xx: collect the body for its message
    }

    /// How much of a failing model's body is read for its message (then the connection is dropped): a provider's
    /// error is a few hundred bytes; a hostile or broken server may send a gigabyte.
    static let maxErrorBody = 16 * 1024
    /// A non-streamed answer is one JSON document held whole until it ends: 32 MiB is far beyond any real answer.
    static let maxJSONBody = 32 * 1024 * 1024

    private let errors: ModelErrorText
    private let logger: Logger
    private let output: Output
    private let eventLoop: any EventLoop
    /// Only for chunks the byte scan leaves alone, the non-streamed answer and errors: made on first use.
    private lazy var decoder = JSONDecoder()

    private var mode = Mode.sniffing
    private var status: HTTPResponseStatus = .ok
    private var parser: SSEParser
    private var collected = ByteBuffer()
    private var connected = false
    private var receivedHead = false
    private var sawEvent = false
    private var firstBytes = ""           // the start of the body, to quote when it is not an event stream
    private var finished = false
    private var sawFinishReason = false
    private var connectTimer: Scheduled<Void>?

    /// Called instead of failing when a reused keep-alive connection turns out to have been closed by the server
    /// before it answered (nothing was received, so sending the request again is safe). Nil: no retry.
    private let retryOnStaleConnection: (@Sendable () -> Void)?

    init(
        errors: ModelErrorText, logger: Logger, limits: SSEParser.Limits = .model, output: Output,
        eventLoop: any EventLoop, retryOnStaleConnection: (@Sendable () -> Void)? = nil
    ) {
        self.parser = SSEParser(limits: limits)
        self.errors = errors
        self.logger = logger
        self.output = output
        self.eventLoop = eventLoop
        self.retryOnStaleConnection = retryOnStaleConnection
    }

    // MARK: Connect timeout

    func armConnectTimer(task: HTTPClient.Task<Void>, timeout: TimeAmount) {
        eventLoop.assertInEventLoop()
        guard !connected, !finished else { return }
        connectTimer = eventLoop.scheduleTask(in: timeout) { [self] in
            guard !connected, !finished else { return }
            let tenths = (timeout.nanoseconds + 50_000_000) / 100_000_000
            let seconds = tenths % 10 == 0 ? "\(tenths / 10)" : "\(tenths / 10).\(tenths % 10)"
            finish(ModelError(.unreachable,
                "Cannot reach the model at \(errors.location): no connection after \(seconds) s (connect timeout)."))
            task.cancel()
        }
    }

    func didSendRequestHead(task: HTTPClient.Task<Void>, _ head: HTTPRequestHead) {
        connected = true
        connectTimer?.cancel()
        connectTimer = nil
    }

    // MARK: Response

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        connected = true
        receivedHead = true
        status = head.status
        if !(200..<300).contains(head.status.code) { mode = .errorBody }
        return eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        guard !finished else { return eventLoop.makeSucceededVoidFuture() }
        if mode == .sniffing {
            guard let first = buffer.readableBytesView.first(where: { !Self.isWhitespace($0) }) else {
                return eventLoop.makeSucceededVoidFuture()   // only blank lines so far
            }
            mode = first == UInt8(ascii: "{") ? .json : .sse
            firstBytes = String(decoding: buffer.readableBytesView.prefix(200), as: UTF8.self)
        }
        switch mode {
        case .sse:
            do {
                try parser.feed(buffer) { try handle($0) }
                if let overflow = parser.overflow { throw Self.error(overflow) }
            } catch {
                finish(error as? ModelError ?? unexpected(error))
                task.cancel()
            }
        case .json:
            guard collected.readableBytes + buffer.readableBytes <= Self.maxJSONBody else {
                finish(ModelError(.malformed,
                    "The model answered with a JSON document larger than \(Self.size(Self.maxJSONBody))."))
                task.cancel()
                break
            }
            var part = buffer
            collected.writeBuffer(&part)
        case .errorBody:
            // Only the start is kept; once it is full the rest is not waited for: the connection is dropped.
            var part = buffer
            let room = Self.maxErrorBody - collected.readableBytes
            if var slice = part.readSlice(length: min(part.readableBytes, room)) { collected.writeBuffer(&slice) }
            if collected.readableBytes >= Self.maxErrorBody {
                finish(httpError())
                task.cancel()
            }
        case .sniffing:
            break
        }
        return eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveError(task: HTTPClient.Task<Void>, _ error: any Error) {
        guard !finished else { return }
        if let clientError = error as? HTTPClientError, clientError == .cancelled {
            finish(nil)   // the consumer went away; nobody is listening
        } else if !receivedHead, let retry = retryOnStaleConnection, Self.isStaleConnection(error) {
            finished = true
            connectTimer?.cancel()
            connectTimer = nil
            retry()
        } else if !connected {
            errors.log(logger, "could not connect to the model", error)
            finish(ModelError(.unreachable,
                "Cannot reach the model at \(errors.location): \(describeConnectError(error))"))
        } else if mode == .errorBody {
            errors.log(logger, "the model's error answer was cut off", error)
            finish(httpError())
        } else if !receivedHead {
            errors.log(logger, "the model closed the connection without answering", error)
            finish(ModelError(.unreachable, "The model at \(errors.location) closed the connection without answering "
                + "(\(describeConnectError(error)))."))
        } else {
            errors.log(logger, "the model's stream was cut off", error)
            finish(ModelError(.malformed, "The model's stream ended before the answer was finished "
                + "(the connection was lost: \(describeConnectError(error)))."))
        }
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {
        guard !finished else { return }
        switch mode {
        case .errorBody:
            finish(httpError())
        case .json:
            finish(answerFromJSONDocument())
        case .sniffing:
            finish(ModelError(.malformed, "The model answered \(status.code) with an empty body."))
        case .sse:
            do {
                try parser.finish { try handle($0) }
            } catch {
                finish(error as? ModelError ?? unexpected(error))
                return
            }
            guard !finished else { return }
            if sawFinishReason {
                finish(nil)
            } else if !sawEvent {
                finish(ModelError(.malformed,
                    "The model's answer is not an event stream: \(errors.quote(firstBytes))"))
            } else {
                finish(ModelError(.malformed,
                    "The model's stream ended before the answer was finished (no [DONE] and no finish_reason)."))
            }
        }
    }

    // MARK: Helpers

    /// One SSE event: `[DONE]`, a chunk with content, a chunk without (role, usage, finish), or an error.
    private func handle(_ event: SSERawEvent) throws {
        guard !finished else { return }
        sawEvent = true
        if event.dataEquals("[DONE]") {
            finish(nil)
            return
        }
        // The usual chunk is read by a byte scan; anything unusual goes through JSONDecoder below.
        if let chunk = event.data.withUnsafeBytes(ChunkScanner.scan) {
            if chunk.finished { sawFinishReason = true }
            if let piece = chunk.content, !piece.isEmpty { output.piece(piece) }
            return
        }
        if event.data.withUnsafeBytes({ ChunkScanner.nestingExceeds($0, limit: ChunkScanner.maxDepth) }) {
            throw ModelError(.malformed,
                "The model sent a chunk nested more than \(ChunkScanner.maxDepth) levels deep; it was not read.")
        }
        let chunk: ChatChunk
        do {
            chunk = try decoder.decode(ChatChunk.self, from: event.data)
        } catch {
            let text = String(decoding: event.data.prefix(200), as: UTF8.self)
            throw ModelError(.malformed, "The model sent a chunk that is not valid JSON: \(errors.quote(text))")
        }
        if let error = chunk.error {
            throw ModelError(.http, "The model provider reported an error: \(errors.quote(error.message))")
        }
        guard let choice = chunk.choices?.first else { return }
        if choice.finish_reason != nil { sawFinishReason = true }
        if let piece = choice.delta?.content ?? choice.message?.content, !piece.isEmpty {
            output.piece(piece)
        }
    }

    private func answerFromJSONDocument() -> ModelError? {
        let chunk: ChatChunk
        do {
            chunk = try decoder.decode(ChatChunk.self, from: Data(collected.readableBytesView))
        } catch {
            let text = String(decoding: collected.readableBytesView.prefix(200), as: UTF8.self)
            return ModelError(.malformed,
                "The model answered with JSON that is not a chat completion: \(errors.quote(text))")
        }
        if let error = chunk.error {
            return ModelError(.http, "The model provider reported an error: \(errors.quote(error.message))")
        }
        guard let choice = chunk.choices?.first, let content = choice.message?.content ?? choice.delta?.content
        else {
            return ModelError(.malformed, "The model answered with JSON that has no message content.")
        }
        if !content.isEmpty { output.piece(content) }
        return nil
    }

    private func httpError() -> ModelError {
        let message = errors.quote(providerMessage(fromErrorBody: collected))
        let phrase = errors.quote(status.reasonPhrase, limit: 100)   // the server's own words for odd codes
        let reason = phrase.isEmpty ? "" : " \(phrase)"
        return ModelError(.http, message.isEmpty
            ? "The model provider answered \(status.code)\(reason)."
            : "The model provider answered \(status.code): \(message)")
    }

    private func finish(_ error: ModelError?) {
        guard !finished else { return }
        finished = true
        connectTimer?.cancel()
        connectTimer = nil
        output.end(error)
    }

    /// The server closed a pooled connection just as it was reused (keep-alive race).
    static func isStaleConnection(_ error: any Error) -> Bool {
        if let clientError = error as? HTTPClientError {
            return clientError == .remoteConnectionClosed
        }
        if let channelError = error as? ChannelError {
            return channelError == .ioOnClosedChannel || channelError == .alreadyClosed || channelError == .eof
        }
        return false
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    /// An error that is not a `ModelError` (none is thrown today): logged, and a plain sentence for the user.
    private func unexpected(_ error: any Error) -> ModelError {
        errors.log(logger, "the model's stream could not be read", error)
        return ModelError(.malformed, "The model's stream could not be read.")
    }

    static func error(_ overflow: SSEParser.Overflow) -> ModelError {
        switch overflow {
        case .line(let limit):
            return ModelError(.malformed,
                "The model sent a line longer than \(size(limit)) without ending it; the answer was stopped there.")
        case .event(let limit):
            return ModelError(.malformed,
                "The model sent an event larger than \(size(limit)); the answer was stopped there.")
        }
    }

    /// `4 MB`, `16 KB` or `100 bytes` (binary units, named as people say them).
    static func size(_ bytes: Int) -> String {
        if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MB" }
        if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10) KB" }
        return "\(bytes) bytes"
    }
}
