/// One message as a model sees it.
public struct ChatMessage: Sendable, Codable, Equatable {
    public enum Role: String, Sendable, Codable { case system, user, assistant }
    public var role: Role
    public var content: String
    public init(role: Role, content: String) {
        self.role = role
        self.content = content
    }
}

/// What a turn asks of a model: the conversation, oldest first, and the sampling temperature (nil: the model's own
/// default). Which model answers is fixed by the `ChatModel` value itself.
public struct ModelRequest: Sendable, Equatable {
    public var messages: [ChatMessage]
    public var temperature: Double?
    public init(messages: [ChatMessage], temperature: Double? = nil) {
        self.messages = messages
        self.temperature = temperature
    }
}

/// Tokens a provider says a request cost (`usage` of the OpenAI API), when it reports them.
public struct TokenUsage: Sendable, Equatable, Codable {
    public var promptTokens: Int
    public var completionTokens: Int
    public init(promptTokens: Int, completionTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }
}

/// One thing a model sends while it answers, in order: pieces of its reasoning (a reasoning model's thinking, kept
/// apart from the answer), pieces of the answer, and the usage it reports (at most once, at the end).
public enum ModelOutput: Sendable, Equatable {
    case answer(String)
    case reasoning(String)
    case usage(TokenUsage)
    /// Everything sent as `.answer` so far was reasoning after all: a model that left out the opening `<think>` and
    /// has just sent `</think>`. Later `.answer`s are the answer.
    case answerWasReasoning
}

/// A model that streams an answer to a list of messages.
///
/// Implementations yield the answer in pieces as they arrive and finish the stream when the answer is complete.
/// They throw `ModelError` with a message a person understands when the model fails. Cancelling the consuming
/// task (or dropping the stream) must stop the work and release its connection or process. Timeouts for the
/// first piece and for stalls are applied by the caller, not here.
public protocol ChatModel: Sendable {
    /// What the UI and `GET /api/config` show, e.g. `gpt-4o-mini` or `demo`.
    var displayName: String { get }
    /// Streams what the model sends for `request`: reasoning, answer pieces and usage, in order.
    func stream(_ request: ModelRequest) -> AsyncThrowingStream<ModelOutput, any Error>
    /// Hands each output to `onOutput` as it arrives, in order, on whichever thread received it, and returns when
    /// the answer is complete: no task hop per piece where the model allows (titles; a chat answer uses `start`).
    func answer(_ request: ModelRequest, onOutput: @escaping @Sendable (ModelOutput) -> Void) async throws
    /// Starts the answer and returns at once: each output goes to `onOutput` as it arrives, in order, on whichever
    /// thread received it, then `onEnd` once (nil: complete; else the error). Cancelling the call ends the answer
    /// (`onEnd` still comes). How a chat answer is asked: one that streams for minutes then holds no task of its
    /// own, only its connection's state.
    func start(
        _ request: ModelRequest, onOutput: @escaping @Sendable (ModelOutput) -> Void,
        onEnd: @escaping @Sendable ((any Error)?) -> Void
    ) -> ModelCall
}

/// A model's answer under way (`ChatModel.start`).
public struct ModelCall: Sendable {
    /// Ends the answer early; `onEnd` comes once it has ended. Any number of times, from any thread.
    public let cancel: @Sendable () -> Void
    public init(cancel: @escaping @Sendable () -> Void) { self.cancel = cancel }
}

extension ChatModel {
    /// Models without a faster way deliver the outputs of their stream.
    public func answer(_ request: ModelRequest, onOutput: @escaping @Sendable (ModelOutput) -> Void) async throws {
        for try await output in stream(request) { onOutput(output) }
    }

    /// Models without a way to answer without a task answer in one (`answer`); cancelling the call cancels it.
    public func start(
        _ request: ModelRequest, onOutput: @escaping @Sendable (ModelOutput) -> Void,
        onEnd: @escaping @Sendable ((any Error)?) -> Void
    ) -> ModelCall {
        let task = Task {
            do {
                try await answer(request, onOutput: onOutput)
                onEnd(nil)
            } catch {
                onEnd(error)
            }
        }
        return ModelCall { task.cancel() }
    }

    /// The answer's text only, in pieces (reasoning and usage left out): for titles and tests.
    public func streamAnswer(to messages: [ChatMessage]) -> AsyncThrowingStream<String, any Error> {
        let outputs = stream(ModelRequest(messages: messages))
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await output in outputs {
                        if case .answer(let text) = output { continuation.yield(text) }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// The answer's text only, each piece to `onPiece` (reasoning and usage left out): for tests.
    public func answer(to messages: [ChatMessage], onPiece: @escaping @Sendable (String) -> Void) async throws {
        try await answer(ModelRequest(messages: messages)) { output in
            if case .answer(let text) = output { onPiece(text) }
        }
    }
}

/// Where a model client puts an answer: every output in order, then exactly one end (nil: complete).
struct AnswerOutput: Sendable {
    let output: @Sendable (ModelOutput) -> Void
    let end: @Sendable ((any Error)?) -> Void
}

extension AnswerOutput {
    /// Into a stream (`stream`): outputs are yielded, the end finishes it.
    init(_ stream: AsyncThrowingStream<ModelOutput, any Error>.Continuation) {
        self.init(
            output: { stream.yield($0) },
            end: { error in
                if let error { stream.finish(throwing: error) } else { stream.finish() }
            })
    }

    /// To `output` (`answer(_:onOutput:)`): the end resumes `done`.
    init(output: @escaping @Sendable (ModelOutput) -> Void, resuming done: CheckedContinuation<Void, any Error>) {
        self.init(
            output: output,
            end: { error in
                if let error { done.resume(throwing: error) } else { done.resume() }
            })
    }

    /// A piece of the answer.
    func piece(_ text: String) { output(.answer(text)) }
}

/// Why a model gave no (complete) answer. `message` is shown to the user as the answer's error.
public struct ModelError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case unreachable  // connection refused, DNS, TLS
        case http  // the provider answered with an HTTP error
        case malformed  // the stream could not be understood
        case process  // the command model exited non-zero or could not start
        case timeout  // first-token or stall timeout (raised by the caller)
        case empty  // the model finished without saying anything
    }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { message }
}
