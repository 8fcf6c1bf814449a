import Foundation
import Logging
import Synchronization

/// One turn of a conversation: store the question, stream the model's answer to every listener (its progress is
/// saved by `ProgressSaver`), end it as completed / failed / stopped, and name the conversation after its first
/// round. Each step is its own method; the generation runs as a server-side job.
public struct ChatService: Sendable {
    let store: any ConversationStore
    let model: any ChatModel
    let titles: TitleService
    let generations: Generations
    let context: ContextWindow
    let firstTokenTimeout: Duration
    let stallTimeout: Duration
    let maxMessageCharacters: Int
    let logger: Logger

    public init(
        store: any ConversationStore, model: any ChatModel, titles: TitleService, generations: Generations,
        context: ContextWindow, firstTokenTimeout: Duration, stallTimeout: Duration, maxMessageCharacters: Int,
        logger: Logger
    ) {
        self.store = store
        self.model = model
        self.titles = titles
        self.generations = generations
        self.context = context
        self.firstTokenTimeout = firstTokenTimeout
        self.stallTimeout = stallTimeout
        self.maxMessageCharacters = maxMessageCharacters
        self.logger = logger
    }

    /// Stores the user's question and starts answering it; the listener's first event is `start`.
    public func send(userID: Int64, conversationID: Int64, content: String) async throws -> Listener {
        guard !content.allSatisfy({ $0.isWhitespace }) else { throw ValidationError("The message is empty.") }
        try Rules.noNUL(content, field: "message")
        guard content.count <= maxMessageCharacters else {
            throw ChatError.messageTooLong(maxCharacters: maxMessageCharacters)
        }
        return try await startTurn(conversationID, userID: userID, ask: .question(content)) {
            try await store.beginTurn(conversationID: conversationID, userContent: content, now: .now())
        }
    }

    /// Answers the last question again, replacing the last answer (also how a failed answer is retried).
    public func regenerate(userID: Int64, conversationID: Int64) async throws -> Listener {
        try await startTurn(conversationID, userID: userID, ask: .lastQuestionAgain) {
            guard let turn = try await store.beginRegeneration(conversationID: conversationID, now: .now()) else {
                throw ChatError.nothingToRegenerate
            }
            return turn
        }
    }

    /// Listens to the generation running in a conversation, or nil when none runs.
    public func attach(userID: Int64, conversationID: Int64) async throws -> Listener? {
        _ = try await owned(conversationID, userID: userID)
        return try generations.attach(conversationID, userID: userID)
    }

    /// Stops the running generation, keeping its partial text; does nothing when none runs.
    public func stop(userID: Int64, conversationID: Int64) async throws {
        _ = try await owned(conversationID, userID: userID)
        generations.stop(conversationID)
    }

    private func owned(_ conversationID: Int64, userID: Int64) async throws -> Conversation {
        guard let conversation = try await store.conversation(id: conversationID, userID: userID) else {
            throw ChatError.conversationNotFound
        }
        return conversation
    }

    /// Stores a turn and answers it. Ownership is checked before anything else: someone else's conversation is a
    /// 404 and reserves, reads and counts nothing. The model request goes out as soon as the conversation so far is
    /// read, while the turn is being stored (the reservation keeps other turns of this conversation out meanwhile);
    /// pieces that arrive before the turn is stored wait in the generation.
    private func startTurn(
        _ conversationID: Int64, userID: Int64, ask: Ask,
        _ begin: () async throws -> (user: Message, assistant: Message)
    ) async throws -> Listener {
        let conversation = try await owned(conversationID, userID: userID)
        let listener = try generations.openStream(userID: userID)
        let entry: Generations.Entry
        do { entry = try generations.reserve(conversationID, userID: userID) } catch {
            listener.close()
            throw error
        }
        let streaming = startStreaming(entry, prompt: await history(conversationID).map(ask.prompt))
        entry.setStreamingTask(streaming)
        let turn: (user: Message, assistant: Message)
        do {
            turn = try await begin()
        } catch {
            streaming.cancel()
            _ = await streaming.value
            generations.remove(conversationID, entry)
            listener.close()
            throw error
        }
        generations.begin(entry, user: turn.user, assistant: turn.assistant, listener: listener)
        entry.setJob(Task { await finish(entry, conversation: conversation, turn: turn, streaming: streaming) })
        return listener
    }

    private func history(_ conversationID: Int64) async -> Result<[Message], any Error> {
        do { return .success(try await store.messages(conversationID: conversationID)) } catch {
            return .failure(error)
        }
    }

    /// The streaming part, cancelled by a stop: it ends with the answer's status and error.
    private func startStreaming(_ entry: Generations.Entry, prompt: Result<[Message]?, any Error>)
        -> Task<(MessageStatus, String?), Never>
    {
        switch prompt {
        case .success(let messages?):
            let prompt = context.messages(from: messages)
            return Task { await generate(entry, prompt: prompt) }
        case .success(nil):
            return Task { (.failed, "There is no question to answer.") }
        case .failure(let error):
            logger.error("could not read the conversation for a turn: \(error)")
            return Task { (.failed, "The conversation could not be read from the database.") }
        }
    }

    /// The job once the turn is stored: wait for the answer, save its final state, tell the listeners, then title
    /// a first round.
    private func finish(
        _ entry: Generations.Entry, conversation: Conversation, turn: (user: Message, assistant: Message),
        streaming: Task<(MessageStatus, String?), Never>
    ) async {
        var answer = turn.assistant
        (answer.status, answer.error) = await streaming.value
        answer.content = entry.content
        await save(answer)
        entry.send(.done(answer))
        if conversation.title.isEmpty && !conversation.titleSetByUser {
            await nameConversation(entry, conversation.id, question: turn.user.content, answer: answer)
        }
        // Free the conversation before the streams end, so a client that sends its next question as soon as this
        // stream closes finds it free.
        generations.remove(conversation.id, entry)
        entry.finish()
    }

    /// Streams the model's answer into `entry`; returns the final status and error. Ends at the model's end, a
    /// failure, a first-token or stall timeout, or a stop.
    private func generate(_ entry: Generations.Entry, prompt: [ChatMessage]) async
        -> (MessageStatus, String?)
    {
        let clock = ContinuousClock()
        let started = clock.now
        let progress = Progress()
        let model = self.model
        let ending = await withTaskGroup(of: GenerationEnding.self) { group in
            group.addTask {
                do {
                    // Each piece goes straight from the model's thread to the listeners.
                    try await model.answer(ModelRequest(messages: prompt)) { output in
                        guard case .answer(let piece) = output, !piece.isEmpty else { return }
                        // A model's NUL characters are dropped: databases do not keep them reliably.
                        entry.append(piece.utf8.contains(0) ? piece.replacingOccurrences(of: "\u{0}", with: "") : piece)
                        progress.lastPiece.store((clock.now - started).wholeNanoseconds, ordering: .relaxed)
                    }
                    return Task.isCancelled ? .cancelled : .finished(nil)
                } catch let error as ModelError {
                    return .finished(error)
                } catch is CancellationError {
                    return .cancelled
                } catch {
                    // Raw errors can carry URLs, keys and internals: the log gets them, the user a plain sentence.
                    logger.error("the model failed with an unexpected error: \(String(reflecting: error))")
                    return .finished(
                        ModelError(.malformed, "The model failed unexpectedly; the details are in the server log."))
                }
            }
            group.addTask { await watch(progress, since: started, clock: clock) }
            let first = await group.next() ?? .cancelled
            group.cancelAll()
            return first
        }
        switch (entry.stopReason, ending) {
        case (.user?, _): return (.stopped, nil)
        case (.shutdown?, _): return (.failed, "The server shut down before this answer finished.")
        case (.tooLong?, _):
            return (.failed, "The answer was too long: it was cut at \(entry.maxCharacters) characters.")
        case (.accountClosed?, _):
            return (.failed, "The account was disabled or deleted while this answer was written.")
        case (nil, .timedOut(let error)), (nil, .finished(let error?)): return (.failed, error.message)
        case (nil, .cancelled): return (.failed, "The answer was interrupted.")
        case (nil, .finished(nil)):
            return entry.content.isEmpty ? (.failed, "The model finished without answering.") : (.completed, nil)
        }
    }

    /// Returns `.timedOut` when no first piece arrives within the first-token timeout, or no further piece
    /// within the stall timeout; returns `.cancelled` when the generation ends first.
    private func watch(_ progress: Progress, since started: ContinuousClock.Instant, clock: ContinuousClock)
        async -> GenerationEnding
    {
        while !Task.isCancelled {
            let last = progress.lastPiece.load(ordering: .relaxed)
            let deadline = last < 0 ? started + firstTokenTimeout : started + .nanoseconds(last) + stallTimeout
            if clock.now >= deadline {
                let seconds = (last < 0 ? firstTokenTimeout : stallTimeout).components.seconds
                return last < 0
                    ? .timedOut(ModelError(.timeout, "The model did not start answering within \(seconds) seconds."))
                    : .timedOut(ModelError(.timeout, "The model stopped sending for \(seconds) seconds."))
            }
            do { try await Task.sleep(until: deadline, clock: clock) } catch { return .cancelled }
        }
        return .cancelled
    }
}

/// What a turn answers: a new question, or the last one again (regenerate, retry).
enum Ask: Sendable {
    case question(String)
    case lastQuestionAgain

    /// The conversation up to and including the question, from the messages stored before the turn; nil when
    /// there is no question to answer again.
    func prompt(_ earlier: [Message]) -> [Message]? {
        switch self {
        case .question(let content):
            return earlier + [
                Message(
                    id: 0, conversationID: 0, role: .user, content: content, status: .completed, error: nil,
                    createdAt: 0)
            ]
        case .lastQuestionAgain:
            guard let last = earlier.lastIndex(where: { $0.role == .user }) else { return nil }
            return Array(earlier[...last])
        }
    }
}

/// When the last piece of an answer arrived: nanoseconds after the start, -1 before the first.
final class Progress: Sendable {
    let lastPiece = Atomic<Int64>(-1)
}

/// How the streaming part of a generation ended.
enum GenerationEnding: Sendable {
    case finished(ModelError?)
    case timedOut(ModelError)
    case cancelled
}
