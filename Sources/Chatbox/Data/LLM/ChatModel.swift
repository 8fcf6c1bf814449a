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

/// A model that streams an answer to a list of messages.
///
/// Implementations yield the answer in pieces as they arrive and finish the stream when the answer is complete.
/// They throw `ModelError` with a message a person understands when the model fails. Cancelling the consuming
/// task (or dropping the stream) must stop the work and release its connection or process. Timeouts for the
/// first piece and for stalls are applied by the caller, not here.
public protocol ChatModel: Sendable {
    /// What the UI and `GET /api/config` show, e.g. `gpt-4o-mini` or `demo`.
    var displayName: String { get }
    /// Streams the answer to `messages`, oldest first.
    func streamAnswer(to messages: [ChatMessage]) -> AsyncThrowingStream<String, any Error>
    /// Hands each piece of the answer to `onPiece` as it arrives, in order, on whichever thread received it, and
    /// returns when the answer is complete. The relay's hot path: no task hop per piece where the model allows.
    func answer(to messages: [ChatMessage], onPiece: @escaping @Sendable (String) -> Void) async throws
}

extension ChatModel {
    /// Models without a faster way deliver the pieces of their stream.
    public func answer(to messages: [ChatMessage], onPiece: @escaping @Sendable (String) -> Void) async throws {
        for try await piece in streamAnswer(to: messages) { onPiece(piece) }
    }
}

/// Where a model client puts an answer: every piece in order, then exactly one end (nil: complete).
struct AnswerOutput: Sendable {
    let piece: @Sendable (String) -> Void
    let end: @Sendable ((any Error)?) -> Void
}

extension AnswerOutput {
    /// Into a stream (`streamAnswer`): pieces are yielded, the end finishes it.
    init(_ stream: AsyncThrowingStream<String, any Error>.Continuation) {
        self.init(
            piece: { stream.yield($0) },
            end: { error in
                if let error { stream.finish(throwing: error) } else { stream.finish() }
            })
    }

    /// To `piece` (`answer(to:onPiece:)`): the end resumes `done`.
    init(piece: @escaping @Sendable (String) -> Void, resuming done: CheckedContinuation<Void, any Error>) {
        self.init(
            piece: piece,
            end: { error in
                if let error { done.resume(throwing: error) } else { done.resume() }
            })
    }
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
