import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// The life of one streamed `/chat/completions` response, without the network: `OpenAIStreamExchange` tells it
/// what happened (request sent, head, body part, error, end of body, connect timeout) and performs the `Action`
/// it returns. Its outputs (reasoning, answer pieces, usage) go to the `output` closure of the call that parsed
/// them, in order.
///
/// The phases, in the order a response goes through them:
///
///     connecting ─► waitingForHead ─┬─► sniffing ─┬─► streaming ───────┐
///                                   │             └─► collectingJSON ──┼─► finished
///                                   └─► collectingError ───────────────┘
///
/// Any phase can end in `finished` (an error, the connect timeout, a retry); once there, everything is ignored.
struct OpenAIStreamState {
    enum Phase: Equatable {
        /// The request is not sent yet: no connection (the connect timer runs).
        case connecting
        /// The request head went out on a connection; no response head yet.
        case waitingForHead
        /// A 2xx head and nothing but blank space in the body so far: an event stream, or one JSON document?
        case sniffing(HTTPResponseStatus)
        /// An event stream, and what it has carried so far.
        case streaming(Seen)
        /// A non-streamed answer: one JSON document, held until the body ends.
        case collectingJSON
        /// A non-2xx answer: the start of its body is kept for the provider's message.
        case collectingError(HTTPResponseStatus)
        /// The answer has ended (complete or failed), or the request was handed to a retry.
        case finished
    }

    /// What an event stream has carried so far (each case includes the ones before it).
    enum Seen: Equatable {
        case nothing
        case events
        /// A chunk with a `finish_reason`: the end of the body now ends the answer normally.
        case finishReason
    }

    /// What the exchange does next.
    enum Action: Equatable {
        case none
        /// Ends the answer (nil: complete). `dropConnection`: close the connection, the rest of the body is not read.
        case end(ModelError?, dropConnection: Bool)
        /// Sends the request again: a reused keep-alive connection was closed before anything was received.
        case retry
        /// The provider refused the request (400 or 422) that carried `stream_options`: send it again without them
        /// (only when `refusalCanBeStreamOptions`); `error` is the answer's error if that is not possible.
        /// `dropConnection`: the rest of the error body is not read (close the connection first).
        case retryWithoutStreamOptions(ModelError, dropConnection: Bool)
    }

    /// How much of a failing model's body is read for its message (then the connection is dropped): a provider's
    /// error is a few hundred bytes; a hostile or broken server may send a gigabyte.
    static let maxErrorBody = 16 * 1024
    /// A non-streamed answer is one JSON document held whole until it ends: 32 MiB is far beyond any real answer.
    static let maxJSONBody = 32 * 1024 * 1024

    private(set) var phase = Phase.connecting
    private var parser: SSEParser
    /// The JSON document or the error body, as it arrives.
    private var collected = ByteBuffer()
    /// The start of the body, to quote when it is not an event stream.
    private var firstBytes = ""
    private let chunks: OpenAIChunkReader
    private let logger: Logger
    /// The request carried `stream_options`: a 400 or 422 may be the provider refusing them.
    private let refusalCanBeStreamOptions: Bool

    init(
        errors: ModelErrorText, logger: Logger, limits: SSEParser.Limits = .model,
        refusalCanBeStreamOptions: Bool = false
    ) {
        parser = SSEParser(limits: limits)
        chunks = OpenAIChunkReader(errors: errors)
        self.logger = logger
        self.refusalCanBeStreamOptions = refusalCanBeStreamOptions
    }

    private var errors: ModelErrorText { chunks.errors }

    // MARK: Events

    /// The request head was written on a connection.
    mutating func requestSent() {
        if phase == .connecting { phase = .waitingForHead }
    }

    /// The connect timer fired: fails the answer unless a connection was made meanwhile.
    mutating func connectTimedOut(after timeout: Duration) -> Action {
        guard phase == .connecting else { return .none }
        phase = .finished
        let tenths = (timeout.wholeNanoseconds + 50_000_000) / 100_000_000
        let seconds = tenths % 10 == 0 ? "\(tenths / 10)" : "\(tenths / 10).\(tenths % 10)"
        return .end(
            ModelError(
                .unreachable,
                "Cannot reach the model at \(errors.location): no connection after \(seconds) s (connect timeout)."),
            dropConnection: true)
    }

    mutating func receivedHead(_ status: HTTPResponseStatus) {
        switch phase {
        case .connecting, .waitingForHead:
            phase = (200..<300).contains(status.code) ? .sniffing(status) : .collectingError(status)
        case .sniffing, .streaming, .collectingJSON, .collectingError, .finished:
            break
        }
    }

    mutating func receivedBodyPart(_ buffer: ByteBuffer, output: (ModelOutput) -> Void) -> Action {
        switch phase {
        case .connecting, .waitingForHead:
            phase = .sniffing(.ok)  // a body before its head (NIO's decoder never does that): read as a 200's
            return receivedBodyPart(buffer, output: output)
        case .sniffing:
            guard let first = buffer.readableBytesView.first(where: { !Self.isWhitespace($0) }) else {
                return .none  // only blank lines so far
            }
            phase = first == UInt8(ascii: "{") ? .collectingJSON : .streaming(.nothing)
            firstBytes = String(decoding: buffer.readableBytesView.prefix(200), as: UTF8.self)
            return receivedBodyPart(buffer, output: output)
        case .streaming(var seen):
            let chunks = self.chunks
            var done = false
            do {
                try parser.feed(buffer) { event in
                    guard !done else { return }
                    done = try chunks.read(event, seen: &seen, output: output)
                }
                if done {
                    phase = .finished
                    chunks.finish(output: output)
                    return .end(nil, dropConnection: parser.overflow != nil)
                }
                if let overflow = parser.overflow { throw Self.error(overflow) }
            } catch {
                phase = .finished
                return .end(error as? ModelError ?? unexpected(error), dropConnection: true)
            }
            phase = .streaming(seen)
            return .none
        case .collectingJSON:
            guard collected.readableBytes + buffer.readableBytes <= Self.maxJSONBody else {
                phase = .finished
                return .end(
                    ModelError(
                        .malformed,
                        "The model answered with a JSON document larger than \(Self.size(Self.maxJSONBody))."),
                    dropConnection: true)
            }
            var part = buffer
            collected.writeBuffer(&part)
            return .none
        case .collectingError(let status):
            // Only the start is kept; once it is full the rest is not waited for: the connection is dropped.
            var part = buffer
            let room = Self.maxErrorBody - collected.readableBytes
            if var slice = part.readSlice(length: min(part.readableBytes, room)) { collected.writeBuffer(&slice) }
            guard collected.readableBytes >= Self.maxErrorBody else { return .none }
            phase = .finished
            return refused(status, chunks.httpError(status, body: collected), dropConnection: true)
        case .finished:
            return .none
        }
    }

    /// The body ended (the response's `.end`).
    mutating func bodyEnded(output: (ModelOutput) -> Void) -> Action {
        let ending = phase
        phase = .finished
        switch ending {
        case .finished:
            return .none
        case .collectingError(let status):
            return refused(status, chunks.httpError(status, body: collected), dropConnection: false)
        case .collectingJSON:
            return .end(chunks.answer(fromJSON: collected, output: output), dropConnection: false)
        case .connecting, .waitingForHead:
            return .end(ModelError(.malformed, "The model answered 200 with an empty body."), dropConnection: false)
        case .sniffing(let status):
            return .end(
                ModelError(.malformed, "The model answered \(status.code) with an empty body."),
                dropConnection: false)
        case .streaming(var seen):
            let chunks = self.chunks
            var done = false
            do {
                try parser.finish { event in
                    guard !done else { return }
                    done = try chunks.read(event, seen: &seen, output: output)
                }
            } catch {
                return .end(error as? ModelError ?? unexpected(error), dropConnection: false)
            }
            if done {
                chunks.finish(output: output)
                return .end(nil, dropConnection: false)
            }
            switch seen {
            case .finishReason:
                chunks.finish(output: output)
                return .end(nil, dropConnection: false)
            case .nothing:
                return .end(
                    ModelError(
                        .malformed,
                        "The model's answer is not an event stream: \(errors.quote(firstBytes))"), dropConnection: false
                )
            case .events:
                return .end(
                    ModelError(
                        .malformed,
                        "The model's stream ended before the answer was finished (no [DONE] and no finish_reason)."),
                    dropConnection: false)
            }
        }
    }

    /// The request failed: no connection, or it failed or closed before the response ended (`cancelled`: the
    /// consumer left). `canRetry`: a retry on a fresh connection is still allowed.
    mutating func receivedError(_ error: any Error, canRetry: Bool) -> Action {
        let failing = phase
        guard failing != .finished else { return .none }
        phase = .finished
        if let streamError = error as? ModelStreamError, streamError == .cancelled {
            return .end(nil, dropConnection: false)  // the consumer went away; nobody is listening
        }
        switch failing {
        case .connecting:
            if canRetry, Self.isStaleConnection(error) { return .retry }
            errors.log(logger, "could not connect to the model", error)
            return .end(
                ModelError(
                    .unreachable,
                    "Cannot reach the model at \(errors.location): \(describeConnectError(error))"),
                dropConnection: false)
        case .waitingForHead:
            if canRetry, Self.isStaleConnection(error) { return .retry }
            errors.log(logger, "the model closed the connection without answering", error)
            return .end(
                ModelError(
                    .unreachable,
                    "The model at \(errors.location) closed the connection without "
                        + "answering (\(describeConnectError(error)))."), dropConnection: false)
        case .collectingError(let status):
            errors.log(logger, "the model's error answer was cut off", error)
            return refused(status, chunks.httpError(status, body: collected), dropConnection: false)
        case .sniffing, .streaming, .collectingJSON, .finished:
            errors.log(logger, "the model's stream was cut off", error)
            return .end(
                ModelError(
                    .malformed,
                    "The model's stream ended before the answer was finished "
                        + "(the connection was lost: \(describeConnectError(error)))."), dropConnection: false)
        }
    }

    // MARK: Helpers

    /// An HTTP error that may be the provider refusing `stream_options` (400 or 422 to a request that had them).
    private func refused(_ status: HTTPResponseStatus, _ error: ModelError, dropConnection: Bool) -> Action {
        if refusalCanBeStreamOptions, status.code == 400 || status.code == 422 {
            return .retryWithoutStreamOptions(error, dropConnection: dropConnection)
        }
        return .end(error, dropConnection: dropConnection)
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    /// An error that is not a `ModelError` (none is thrown today): logged, and a plain sentence for the user.
    private func unexpected(_ error: any Error) -> ModelError {
        errors.log(logger, "the model's stream could not be read", error)
        return ModelError(.malformed, "The model's stream could not be read.")
    }
}
