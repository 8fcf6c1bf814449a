/// What happens during one generation, in order: `start`, any number of `delta`s, `done`, and — after a
/// conversation's first round — `title`.
public enum ChatEvent: Sendable {
    /// The question is stored and the answer exists (status `processing`, with the text so far).
    /// `user` is nil when re-attaching to a generation whose question the client already has.
    case start(user: Message?, assistant: Message)
    /// The next piece of the model's reasoning (always before the answer's first `delta`).
    case reasoning(String)
    /// The answer so far was reasoning after all (a `<think>` block without its opening tag): this is the whole
    /// reasoning, replacing the listener's, and the answer so far is empty.
    case reasoningReplaced(String)
    /// The next piece of the answer.
    case delta(String)
    /// The answer in its final state: completed, failed (with its error) or stopped.
    case done(Message)
    /// The conversation's new title.
    case title(conversationID: Int64, title: String)
}

/// Why a turn could not start; the presentation layer maps these to 404 / 409 / 413 / 429.
public enum ChatError: Error, Equatable {
    case conversationNotFound
    case alreadyGenerating
    case nothingToRegenerate
    case messageTooLong(maxCharacters: Int)
    /// The user already has this many answers running.
    case tooManyRunning(limit: Int)
    /// The user already has this many answer streams open.
    case tooManyStreams(limit: Int)
    /// The model (by id) is not, or no longer, offered.
    case modelUnavailable(String)
    /// No model is configured at all.
    case noModel
}
