import Foundation
import NIOCore
import NIOHTTP1

/// What a model's stream says, read and put into words for `OpenAIStreamState`.
extension OpenAIStreamState {
    /// The server closed (or reset) the connection before answering anything: typically a pooled keep-alive
    /// connection it had closed just as it was reused.
    static func isStaleConnection(_ error: any Error) -> Bool {
        if let streamError = error as? ModelStreamError {
            return streamError == .connectionClosed
        }
        if let channelError = error as? ChannelError {
            return channelError == .ioOnClosedChannel || channelError == .alreadyClosed || channelError == .eof
        }
        if let io = error as? IOError {
            return io.errnoCode == ECONNRESET || io.errnoCode == EPIPE
        }
        return false
    }

    static func error(_ overflow: SSEParser.Overflow) -> ModelError {
        switch overflow {
        case .line(let limit):
            return ModelError(
                .malformed,
                "The model sent a line longer than \(size(limit)) without ending it; the answer was stopped there.")
        case .event(let limit):
            return ModelError(
                .malformed,
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

/// Reads what the model sent (an event of the stream, a non-streamed answer, an error body) and words what is
/// wrong with it. A class, so that the parser's callback can use it while the state is being changed.
///
/// Outputs, in order: each chunk's reasoning (`reasoning_content` or `reasoning`) before its content; content goes
/// through a `ThinkSplitter` (a leading `<think>…</think>` becomes reasoning); the last `usage` the stream carried
/// goes out once, when the answer is complete (`finish`), after everything else.
final class OpenAIChunkReader {
    let errors: ModelErrorText
    /// Only for chunks the byte scan leaves alone, the non-streamed answer and errors: made on first use.
    lazy var decoder = JSONDecoder()
    private var splitter = ThinkSplitter()
    private var usage: TokenUsage?

    init(errors: ModelErrorText) {
        self.errors = errors
    }

    /// Reads one event, sends what it says to `output`; true at `[DONE]`.
    func read(
        _ event: SSERawEvent, seen: inout OpenAIStreamState.Seen, output: (ModelOutput) -> Void
    ) throws -> Bool {
        if seen == .nothing { seen = .events }
        if event.dataEquals("[DONE]") { return true }
        // The usual chunk is read by a byte scan; anything unusual goes through JSONDecoder below.
        if let chunk = event.data.withUnsafeBytes(ChunkScanner.scan) {
            if chunk.finished { seen = .finishReason }
            emit(reasoning: chunk.reasoning, content: chunk.content, usage: chunk.usage, output)
            return false
        }
        if event.data.withUnsafeBytes({ ChunkScanner.nestingExceeds($0, limit: ChunkScanner.maxDepth) }) {
            throw ModelError(
                .malformed,
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
        let choice = chunk.choices?.first
        if choice?.finish_reason != nil { seen = .finishReason }
        let texts = choice?.delta ?? choice?.message
        emit(reasoning: texts?.reasoningText, content: texts?.content, usage: chunk.usage?.usage, output)
        return false
    }

    private func emit(reasoning: String?, content: String?, usage: TokenUsage?, _ output: (ModelOutput) -> Void) {
        if let reasoning {
            splitter.reasoningArrivedElsewhere(output)
            output(.reasoning(reasoning))
        }
        if let content, !content.isEmpty { splitter.feed(content, output) }
        if let usage { self.usage = usage }
    }

    /// The answer is complete: text the splitter held back, then the usage (once).
    func finish(output: (ModelOutput) -> Void) {
        splitter.finish(output)
        if let usage {
            output(.usage(usage))
            self.usage = nil
        }
    }

    /// The answer of a non-streamed response (one JSON document) to `output`; nil, or why it is not an answer.
    func answer(fromJSON collected: ByteBuffer, output: (ModelOutput) -> Void) -> ModelError? {
        let chunk: ChatChunk
        do {
            chunk = try decoder.decode(ChatChunk.self, from: Data(collected.readableBytesView))
        } catch {
            let text = String(decoding: collected.readableBytesView.prefix(200), as: UTF8.self)
            return ModelError(
                .malformed,
                "The model answered with JSON that is not a chat completion: \(errors.quote(text))")
        }
        if let error = chunk.error {
            return ModelError(.http, "The model provider reported an error: \(errors.quote(error.message))")
        }
        guard let choice = chunk.choices?.first, let texts = choice.message ?? choice.delta, let content = texts.content
        else {
            return ModelError(.malformed, "The model answered with JSON that has no message content.")
        }
        emit(reasoning: texts.reasoningText, content: content, usage: chunk.usage?.usage, output)
        finish(output: output)
        return nil
    }

    /// A non-2xx answer, with the provider's message from the start of its body when it has one.
    func httpError(_ status: HTTPResponseStatus, body collected: ByteBuffer) -> ModelError {
        let message = errors.quote(providerMessage(fromErrorBody: collected))
        let phrase = errors.quote(status.reasonPhrase, limit: 100)  // the server's own words for odd codes
        let reason = phrase.isEmpty ? "" : " \(phrase)"
        return ModelError(
            .http,
            message.isEmpty
                ? "The model provider answered \(status.code)\(reason)."
                : "The model provider answered \(status.code): \(message)")
    }
}
