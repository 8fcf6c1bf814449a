import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOConcurrencyHelpers
import NIOPosix

/// A model behind any OpenAI-compatible `POST {baseURL}/chat/completions` endpoint (OpenAI, Ollama, vLLM,
/// llama.cpp server, LiteLLM, OpenRouter…), streamed with `stream: true`.
///
/// How the answer ends:
/// - `data: [DONE]`, or the end of the body after a chunk that carried a `finish_reason`, finish normally;
/// - a body that ends (or a connection that closes) with neither counts as a failure: `.malformed`, "The model's
///   stream ended before the answer was finished…", so a cut-off answer is never taken for a complete one;
/// - a body that is one JSON document instead of SSE is accepted when it is a full `chat.completion`.
///
/// What it sends: `model`, `messages`, `stream: true`, `temperature` when the request sets one, and
/// `stream_options: {"include_usage": true}`. A provider that refuses the request (HTTP 400 or 422, before any
/// event) while it carried `stream_options` gets it once more without them; when that one is accepted, the
/// endpoint is remembered (in `ModelHTTPClients`) and later requests to it leave them out.
///
/// What it reads (see `OpenAIChunkReader`), in order: reasoning from `delta.reasoning_content` or
/// `delta.reasoning` (`message.…` of a non-streamed answer) as `.reasoning`; `delta.content` as `.answer`, except a
/// leading `<think>…</think>`, which is `.reasoning` (see `ThinkSplitter`, also for `.answerWasReasoning`); the
/// reported `usage` as one `.usage`, the last output of a complete answer (none when the provider reports none).
///
/// Errors are `ModelError`: `.unreachable` (refused, DNS, connect timeout), `.http` (non-2xx status, or an
/// `{"error":…}` object inside the stream; the provider's own message is passed on), `.malformed`. Their messages
/// name the model by `host:port` and never carry the API key, the URL's credentials or a raw error dump (see
/// `ModelErrorText`); raw errors go to `logger`.
///
/// Limits on what the model sends (a hostile or broken model must not exhaust memory): `SSEParser.Limits.model`
/// per line and per event, `OpenAIStreamState.maxErrorBody` of an error body, `maxJSONBody` of a non-streamed
/// answer; past them the answer fails with a clear message and the connection is dropped. (`limits` is there for
/// tests, which reach smaller ones with less work.)
///
/// The only timeout here is `connectTimeout` (until the request head is sent on a connection, TLS handshake
/// included). First-token and stall timeouts belong to the caller, which cancels the consuming task; that closes
/// the connection at once.
///
/// The requests go over `ModelHTTPClients.streams`, keep-alive HTTP/1.1 connections on plain SwiftNIO (see
/// `ModelConnectionPool`, `OpenAIStreamHandler`, `OpenAIStreamExchange`).
public struct OpenAICompatibleModel: ChatModel {
    public let baseURL: String
    public let model: String
    private let apiKey: String?
    private let extraHeaders: [(String, String)]
    private let httpClients: ModelHTTPClients
    private let connectTimeout: Duration
    private let errors: ModelErrorText
    private let logger: Logger
    private let limits: SSEParser.Limits
    /// The endpoint: `baseURL` without trailing slashes + `/chat/completions` (no `/v1` is added).
    public let endpoint: String
    /// `endpoint` parsed once: a turn's request goes out without parsing it again.
    private let endpointURL: Result<ModelURL, any Error>

    public var displayName: String { model }

    public init(
        baseURL: String, apiKey: String?, model: String, extraHeaders: [(String, String)] = [],
        httpClients: ModelHTTPClients, connectTimeout: Duration = .seconds(10),
        logger: Logger = Logger(label: "chatbox.model"), limits: SSEParser.Limits = .model
    ) {
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.model = model
        self.extraHeaders = extraHeaders
        self.httpClients = httpClients
        self.connectTimeout = connectTimeout
        self.logger = logger
        self.limits = limits
        self.errors = ModelErrorText(url: baseURL, secrets: [apiKey] + extraHeaders.map(\.1))
        var base = Substring(baseURL)
        while base.hasSuffix("/") { base = base.dropLast() }
        let endpoint = String(base) + "/chat/completions"
        self.endpoint = endpoint
        self.endpointURL = Result { try ModelURL(endpoint) }
    }

    public func stream(_ request: ModelRequest) -> AsyncThrowingStream<ModelOutput, any Error> {
        AsyncThrowingStream { continuation in
            let output = AnswerOutput(continuation)
            let current = NIOLockedValueBox(Attempt())
            continuation.onTermination = { termination in
                if case .cancelled = termination { Self.cancel(current) }
            }
            start(request, output: output, current: current)
        }
    }

    /// The relay's path: each output goes to `onOutput` right on the event loop that parsed it. Cancelling the
    /// calling task cancels the request; the answer then simply ends.
    public func answer(_ request: ModelRequest, onOutput: @escaping @Sendable (ModelOutput) -> Void) async throws {
        let current = NIOLockedValueBox(Attempt())
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
                start(request, output: AnswerOutput(output: onOutput, resuming: done), current: current)
            }
        } onCancel: {
            Self.cancel(current)
        }
    }

    /// The relay's path without a task: the outputs and the end come on the event loop that parsed them.
    public func start(
        _ request: ModelRequest, onOutput: @escaping @Sendable (ModelOutput) -> Void,
        onEnd: @escaping @Sendable ((any Error)?) -> Void
    ) -> ModelCall {
        let current = NIOLockedValueBox(Attempt())
        start(request, output: AnswerOutput(output: onOutput, end: onEnd), current: current)
        return ModelCall { Self.cancel(current) }
    }

    private static func cancel(_ current: NIOLockedValueBox<Attempt>) {
        current.withLockedValue { attempt -> OpenAIStreamExchange? in
            attempt.cancelled = true
            return attempt.exchange
        }?.cancel()
    }

    private func start(_ request: ModelRequest, output: AnswerOutput, current: NIOLockedValueBox<Attempt>) {
        let url = endpoint
        let wantsUsage = !httpClients.refusesStreamOptions(url)
        let first: ModelHTTPRequest
        do {
            first = try makeRequest(request, includeUsage: wantsUsage)
        } catch {
            errors.log(logger, "the model request could not be made", error)
            output.end(
                ModelError(
                    .unreachable,
                    "The model URL for \(errors.location) is not valid (\(describeConnectError(error)))."))
            return
        }
        send(
            first, request, includeUsage: wantsUsage, url: url, to: output, current: current, retriesLeft: 3,
            reuse: true, near: ModelConnectionPool.preferredEventLoop)
    }

    /// Starts one attempt, on an idle keep-alive connection when `reuse` allows and one is there. A connection
    /// that closes (or is reset) before anything was received is retried, up to three times, each time on a new
    /// connection (a server that closed one idle connection may well have closed the others). A refusal of
    /// `stream_options` is retried once without them. Every attempt prefers the event loop `preferred` (see
    /// `ModelConnectionPool.preferredEventLoop`).
    private func send(
        _ httpRequest: ModelHTTPRequest, _ request: ModelRequest, includeUsage: Bool, url: String,
        to output: AnswerOutput, current: NIOLockedValueBox<Attempt>, retriesLeft: Int, reuse: Bool,
        near preferred: (any EventLoop)?
    ) {
        let pool = httpClients.streams
        let lease = pool.lease(httpRequest.key, reuse: reuse, preferring: preferred)
        var retry: (@Sendable () -> Void)?
        if retriesLeft > 0 {
            retry = { @Sendable [self] in
                send(
                    httpRequest, request, includeUsage: includeUsage, url: url, to: output, current: current,
                    retriesLeft: retriesLeft - 1, reuse: false, near: preferred)
            }
        }
        var retryWithoutStreamOptions: (@Sendable () -> Void)?
        if includeUsage {
            retryWithoutStreamOptions = { @Sendable [self, httpClients] in
                guard let again = try? makeRequest(request, includeUsage: false) else {
                    output.end(ModelError(.unreachable, "The model at \(errors.location) closed the connection."))
                    return
                }
                // Accepted without them (an output or a complete answer): the endpoint refuses `stream_options`.
                let accepted = NIOLockedValueBox(false)
                let remember = { @Sendable in
                    let first = accepted.withLockedValue { seen in
                        defer { seen = true }
                        return !seen
                    }
                    if first { httpClients.rememberRefusesStreamOptions(url) }
                }
                let remembering = AnswerOutput(
                    output: { item in
                        remember()
                        output.output(item)
                    },
                    end: { error in
                        if error == nil { remember() }
                        output.end(error)
                    })
                send(
                    again, request, includeUsage: false, url: url, to: remembering, current: current,
                    retriesLeft: retriesLeft, reuse: true, near: preferred)
            }
        }
        let exchange = OpenAIStreamExchange(
            errors: errors, logger: logger, limits: limits, output: output, eventLoop: lease.eventLoop,
            retryOnStaleConnection: retry, retryWithoutStreamOptions: retryWithoutStreamOptions)
        let cancelledMeanwhile = current.withLockedValue { attempt -> Bool in
            attempt.exchange = exchange
            return attempt.cancelled
        }
        if cancelledMeanwhile { exchange.cancel() }  // the consumer left between two attempts
        pool.send(httpRequest, on: lease, for: exchange, connectTimeout: connectTimeout)
    }

    /// The attempt in flight (a retry replaces it) and whether the consumer has gone.
    private struct Attempt {
        var exchange: OpenAIStreamExchange?
        var cancelled = false
    }

    private func makeRequest(_ request: ModelRequest, includeUsage: Bool) throws -> ModelHTTPRequest {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Accept", value: "text/event-stream")
        headers.add(name: "User-Agent", value: "Chatbox")
        if let apiKey, !apiKey.isEmpty { headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        for (name, value) in extraHeaders { headers.replaceOrAdd(name: name, value: value) }
        let body = Self.body(model: model, request, includeUsage: includeUsage)
        return ModelHTTPRequest(
            url: try endpointURL.get(), method: .POST, headers: headers, body: body, proxy: httpClients.proxy)
    }

    /// The request's JSON, written by hand (the encoder took ~0.05 ms of every turn's start, before the request
    /// could go out): `{"model","stream":true,"messages":[{"role","content"}…],"temperature"?,"stream_options"?}`.
    /// `temperature` is left out when nil (the provider's default) or not a finite number; `stream_options`
    /// (`{"include_usage":true}`) when the endpoint is known to refuse it.
    static func body(model: String, _ request: ModelRequest, includeUsage: Bool) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(128 + model.utf8.count + request.messages.reduce(0) { $0 + $1.content.utf8.count + 32 })
        buffer.writeStaticString("{\"model\":")
        buffer.writeJSONString(model)
        buffer.writeStaticString(",\"stream\":true,\"messages\":[")
        for (index, message) in request.messages.enumerated() {
            buffer.writeStaticString(index == 0 ? "{\"role\":" : ",{\"role\":")
            buffer.writeJSONString(message.role.rawValue)
            buffer.writeStaticString(",\"content\":")
            buffer.writeJSONString(message.content)
            buffer.writeStaticString("}")
        }
        buffer.writeStaticString("]")
        if let temperature = request.temperature, temperature.isFinite {
            buffer.writeStaticString(",\"temperature\":")
            buffer.writeString("\(temperature)")
        }
        if includeUsage { buffer.writeStaticString(",\"stream_options\":{\"include_usage\":true}") }
        buffer.writeStaticString("}")
        return buffer
    }
}

/// One `chat.completion.chunk`, or a full `chat.completion`, or an error object: only the fields we read.
struct ChatChunk: Decodable {
    struct Choice: Decodable {
        struct Content: Decodable {
            var content: String?
            var reasoning_content: String?
            var reasoning: String?
            /// `reasoning_content`, else `reasoning` (empty strings count as none), as `ChunkScanner` reads it.
            var reasoningText: String? {
                if let reasoning_content, !reasoning_content.isEmpty { return reasoning_content }
                if let reasoning, !reasoning.isEmpty { return reasoning }
                return nil
            }
        }
        var delta: Content?
        var message: Content?
        var finish_reason: String?
    }
    /// `usage`; a member that is not a whole number leaves it nil instead of failing the chunk.
    struct Usage: Decodable {
        var usage: TokenUsage?
        private enum Keys: String, CodingKey { case prompt_tokens, completion_tokens }
        init(from decoder: any Decoder) throws {
            let object = try decoder.container(keyedBy: Keys.self)
            if let prompt = try? object.decodeIfPresent(Int.self, forKey: .prompt_tokens),
                let completion = try? object.decodeIfPresent(Int.self, forKey: .completion_tokens)
            {
                usage = TokenUsage(promptTokens: prompt, completionTokens: completion)
            }
        }
    }
    var choices: [Choice]?
    var error: ProviderError?
    var usage: Usage?
}

/// `"error": {"message": …}` or `"error": "…"`.
struct ProviderError: Decodable {
    var message: String

    private enum Keys: String, CodingKey { case message }
    init(from decoder: any Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self) {
            message = text
        } else {
            let object = try decoder.container(keyedBy: Keys.self)
            message = (try? object.decodeIfPresent(String.self, forKey: .message)) ?? "unknown error"
        }
    }
}

/// The message of an error body: `{"error":{"message":…}}`, `{"error":"…"}`, `{"message":…}`, `{"detail":…}`,
/// or the text itself, trimmed. The caller redacts and cuts it (`ModelErrorText.quote`).
func providerMessage(fromErrorBody body: ByteBuffer) -> String {
    struct ErrorBody: Decodable {
        var error: ProviderError?
        var message: String?
        var detail: String?
    }
    var text = String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines)
    if text.hasPrefix("{"), let decoded = try? JSONDecoder().decode(ErrorBody.self, from: Data(text.utf8)),
        let message = decoded.error?.message ?? decoded.message ?? decoded.detail
    {
        text = message.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    return text
}
