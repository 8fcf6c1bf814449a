import Foundation
import Logging
import NIOCore
import Synchronization

/// One turn of a conversation: store the question, stream the model's answer to every listener (its progress is
/// saved by `ProgressSaver`), end it as completed / failed / stopped, and name the conversation after its first
/// round. Each step is its own method; the generation runs as a server-side job.
public struct ChatService: Sendable {
    let store: any ConversationStore
    let models: any ModelDirectory
    let titles: TitleService
    /// The answers running here and on other instances.
    let answers: RunningAnswers
    var generations: Generations { answers.generations }
    let context: ContextWindow
    /// Keeps the first-token and stall deadlines of every answer running here.
    let watchdog: Watchdog
    let maxMessageCharacters: Int
    let logger: Logger

    public init(
        store: any ConversationStore, models: any ModelDirectory, titles: TitleService, answers: RunningAnswers,
        context: ContextWindow, firstTokenTimeout: Duration, stallTimeout: Duration, maxMessageCharacters: Int,
        logger: Logger
    ) {
        self.store = store
        self.models = models
        self.titles = titles
        self.answers = answers
        self.context = context
        self.watchdog = Watchdog(firstTokenTimeout: firstTokenTimeout, stallTimeout: stallTimeout)
        self.maxMessageCharacters = maxMessageCharacters
        self.logger = logger
    }

    /// Stores the user's question and starts answering it; the listener's first event is `start`. `loop`: the
    /// event loop of the connection the answer streams to, where the model request and the answer's end then run.
    public func send(
        userID: Int64, conversationID: Int64, content: String, place: QuestionPlace = .afterCurrentLeaf,
        streamingOn loop: (any EventLoop)? = nil
    ) async throws -> Listener {
        guard !content.allSatisfy({ $0.isWhitespace }) else { throw ValidationError("The message is empty.") }
        try Rules.noNUL(content, field: "message")
        guard content.count <= maxMessageCharacters else {
            throw ChatError.messageTooLong(maxCharacters: maxMessageCharacters)
        }
        return try await startTurn(
            conversationID, userID: userID, ask: .question(content, place), model: nil, loop: loop
        ) { model, claim in
            try await referenceChecked {
                try await store.beginTurn(
                    conversationID: conversationID, userContent: content, place: place, model: model, now: .now(),
                    claim: claim)
            }
        }
    }

    /// Answers a question again as a new version beside its other answers (also how a failed answer is retried):
    /// the question above `messageID` (an answer's question, or the question itself; nil: the current leaf). With
    /// `model`, that model answers and the conversation goes on with it. `loop` as in `send`.
    public func regenerate(
        userID: Int64, conversationID: Int64, messageID: Int64? = nil, model: String? = nil,
        streamingOn loop: (any EventLoop)? = nil
    ) async throws -> Listener {
        try await startTurn(conversationID, userID: userID, ask: .again(messageID), model: model, loop: loop) {
            chosen, claim in
            let turn = try await referenceChecked {
                try await store.beginRegeneration(
                    conversationID: conversationID, messageID: messageID, model: chosen, adoptingModel: model != nil,
                    now: .now(), claim: claim)
            }
            guard let turn else { throw ChatError.nothingToRegenerate }
            return turn
        }
    }

    /// A message the turn refers to that is not (an answer) in the conversation is the client's mistake.
    private func referenceChecked<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch StoreError.badReference { throw ChatError.notInConversation }
    }

    /// Listens to the generation running in a conversation (on this instance or another), or nil when none runs.
    public func attach(userID: Int64, conversationID: Int64) async throws -> Listener? {
        _ = try await owned(conversationID, userID: userID)
        return try await answers.attach(conversationID: conversationID, userID: userID)
    }

    /// Stops the running generation (on this instance or another), keeping its partial text; does nothing when
    /// none runs.
    public func stop(userID: Int64, conversationID: Int64) async throws {
        _ = try await owned(conversationID, userID: userID)
        try await answers.stop(conversationID: conversationID)
    }

    private func owned(_ conversationID: Int64, userID: Int64) async throws -> Conversation {
        guard let conversation = try await store.conversation(id: conversationID, userID: userID) else {
            throw ChatError.conversationNotFound
        }
        return conversation
    }

    /// Stores a turn and answers it. Ownership is checked before anything else, in the read of the history:
    /// someone else's conversation is a 404 and reserves and counts nothing; a model that is gone is a 409 before
    /// anything is stored. The conversation is reserved here, then the model request goes out, while the turn is
    /// stored together with the conversation's reservation in the database (for every instance). Should the
    /// database refuse that reservation (an answer runs there on another instance), nothing is stored and the
    /// request is cancelled; pieces that arrive before the turn is stored wait in the generation.
    private func startTurn(
        _ conversationID: Int64, userID: Int64, ask: Ask, model requested: String?, loop: (any EventLoop)?,
        _ begin: (_ model: String, _ claim: AnswerClaim) async throws -> (user: Message, assistant: Message)
    ) async throws -> Listener {
        guard
            let (conversation, _, history) = try await store.conversationWithPath(
                id: conversationID, userID: userID, walk: TurnHistory(ask, budget: context.budget))
        else { throw ChatError.conversationNotFound }
        let chosen = try await models.chatModel(id: requested ?? conversation.model)
        let listener = try generations.openStream(userID: userID)
        let entry: Generations.Entry
        do { entry = try generations.reserve(conversationID, userID: userID) } catch {
            listener.close()
            throw error
        }
        let prompt = history.question.map { _ in
            history.window.messages(systemPrompt: conversation.systemPrompt ?? context.systemPrompt)
        }
        startAnswer(entry, conversationID, model: chosen, conversation: conversation, prompt: prompt, loop: loop)
        let turn: (user: Message, assistant: Message)
        do {
            let claim = answers.claim(userID: userID)
            turn = try await answers.claiming(entry, claim) { try await begin(chosen.id, claim) }
        } catch {
            await abandon(entry)
            generations.remove(conversationID, entry)
            listener.close()
            throw error
        }
        generations.begin(entry, user: turn.user, assistant: turn.assistant, listener: listener)
        let naming = history.firstRound == true && conversation.title.isEmpty && !conversation.titleSetByUser
        entry.turnStored(StoredTurn(user: turn.user, assistant: turn.assistant, naming: naming))
        return listener
    }

    /// The turn was not stored: the answer stops streaming and ends without saving anything.
    private func abandon(_ entry: Generations.Entry) async {
        entry.cancelStreaming()
        entry.turnStored(nil)
        await entry.ended()
    }

    /// Asks the model for the answer; when it has ended, a task waits until the turn is stored and finishes it
    /// (when the turn is not stored, it ends there).
    ///
    /// While it streams, the answer holds no task: its pieces come on the model connection's event loop and go
    /// straight to the listeners, the watchdog keeps its deadlines, and a stop cancels the model's call. An answer
    /// held open for minutes by a slow model then costs its connection's state, not a task's stack (~5 KB per
    /// held stream, bench/README "ninth round"). The model request prefers `loop`, the event loop of the
    /// browser's connection (`ModelConnectionPool.preferredEventLoop`), and the finishing task runs there: an
    /// answer's pieces, their relay and its end stay on one thread. The finishing task is detached: it is the
    /// server's, not the request's (it outlives it).
    private func startAnswer(
        _ entry: Generations.Entry, _ conversationID: Int64, model: ResolvedModel, conversation: Conversation,
        prompt: [ChatMessage]?, loop: (any EventLoop)?
    ) {
        let finishing = { @Sendable (ending: AnswerEnding) in
            entry.streamingEnded()
            entry.setFinishing(
                Task.detached(executorPreference: loop.map { EventLoopExecutor($0) }) {
                    guard let turn = await entry.storedTurn() else { return }
                    await finish(entry, conversationID, turn: turn, model: model, ending: ending)
                })
        }
        guard let prompt else { return finishing(AnswerEnding(.failed, "There is no question to answer.")) }
        // Built and sent on the loop, while the turn's task goes on to store the turn: with a hundred turns starting
        // at once, building the requests (the whole context as JSON) in the turns' tasks queued them on the two
        // threads of the global pool (`ttft` at 100 streams, p50 7–9 ms there against 4–6 ms on the loop).
        let ask = { @Sendable [self] in
            let request = ModelRequest(messages: prompt, temperature: conversation.temperature)
            let call = ModelConnectionPool.$preferredEventLoop.withValue(loop) {
                generate(entry, model: model.model, request: request, ended: finishing)
            }
            entry.setCall(call)
        }
        if let loop { loop.execute(ask) } else { ask() }
    }

    /// Once the answer has ended and the turn is stored: save its final state, tell the listeners, free the
    /// conversation, then title a first round (the title follows on the streams still open).
    private func finish(
        _ entry: Generations.Entry, _ conversationID: Int64, turn: StoredTurn, model: ResolvedModel,
        ending: AnswerEnding
    ) async {
        var answer = turn.assistant
        (answer.status, answer.error) = (ending.status, ending.error)
        (answer.content, answer.reasoning, answer.usage) = entry.output
        // A `<think>` block's reasoning often ends in line breaks; they mean nothing once it is apart.
        while answer.reasoning.last?.isWhitespace == true { answer.reasoning.removeLast() }
        (answer.model, answer.firstTokenMs, answer.durationMs) = (model.id, ending.firstTokenMs, ending.durationMs)
        // Fenced: another instance has failed this answer and may run a new one here; nothing more is written.
        let fenced = entry.stopReason == .fenced
        if !fenced { await apart { [answer] in await save(answer) } }
        // The conversation is free from `done`, here and then in the database (`LeaseKeeper` relies on this
        // order): the next question may come at once, while the title is written.
        generations.answered(conversationID, entry)
        if !fenced { await apart { [answers] in await answers.release(entry, conversationID: conversationID) } }
        entry.send(.done(answer))
        if turn.naming && !fenced {
            // Nothing cancels the finishing task: a stop that came as the answer ended leaves the title alone.
            await nameConversation(entry, conversationID, question: turn.user.content, answer: answer, model: model)
        }
        entry.finish()
        generations.ended(entry)
    }

    /// Streams the model's answer into `entry`, then calls `ended` once with the final status, error and timings.
    /// Ends at the model's end, a failure, a first-token or stall timeout (the watchdog cancels the call), or a
    /// stop (which cancels it too). Reasoning counts as progress.
    private func generate(
        _ entry: Generations.Entry, model: any ChatModel, request: ModelRequest,
        ended: @escaping @Sendable (AnswerEnding) -> Void
    ) -> ModelCall {
        let clock = ContinuousClock()
        let started = clock.now
        let progress = Progress()
        let watch = watchdog.watch(progress, started: started) { error in
            progress.timeOut(error)
            entry.cancelStreaming()
        }
        // Each piece goes straight from the model's thread to the listeners.
        return model.start(request) { output in
            switch output {
            case .answer(let piece):
                guard !piece.isEmpty else { return }
                entry.append(Self.withoutNUL(piece))
            case .reasoning(let piece):
                guard !piece.isEmpty else { return }
                entry.appendReasoning(Self.withoutNUL(piece))
            case .answerWasReasoning:
                entry.answerWasReasoning()
            case .usage(let usage):
                entry.setUsage(usage)
                return
            }
            progress.record((clock.now - started).wholeNanoseconds)
        } onEnd: { [self] error in
            watchdog.unwatch(watch)
            var result = outcome(entry, ending(of: error, timeout: progress.timeout, cutShort: entry.streamingCutShort))
            let first = progress.firstPiece.load(ordering: .relaxed)
            result.firstTokenMs = first < 0 ? nil : first / 1_000_000
            result.durationMs = (clock.now - started).wholeNanoseconds / 1_000_000
            ended(result)
        }
    }

    /// How the streaming ended, from the model's end (`error`), a timeout the watchdog found, and whether a stop
    /// or a timeout asked the model's call to end early.
    private func ending(of error: (any Error)?, timeout: ModelError?, cutShort: Bool) -> GenerationEnding {
        guard let error else { return cutShort ? timeout.map { .timedOut($0) } ?? .cancelled : .finished(nil) }
        if let timeout { return .timedOut(timeout) }
        if let error = error as? ModelError { return .finished(error) }
        if error is CancellationError { return .cancelled }
        // Raw errors can carry URLs, keys and internals: the log gets them, the user a plain sentence.
        logger.error("the model failed with an unexpected error: \(String(reflecting: error))")
        return .finished(ModelError(.malformed, "The model failed unexpectedly; the details are in the server log."))
    }

    /// A model's NUL characters are dropped: databases do not keep them reliably.
    static func withoutNUL(_ piece: String) -> String {
        piece.utf8.contains(0) ? piece.replacingOccurrences(of: "\u{0}", with: "") : piece
    }

    private func outcome(_ entry: Generations.Entry, _ ending: GenerationEnding) -> AnswerEnding {
        switch (entry.stopReason, ending) {
        case (.user?, _): return AnswerEnding(.stopped, nil)
        case (.shutdown?, _): return AnswerEnding(.failed, "The server shut down before this answer finished.")
        case (.tooLong?, _):
            return AnswerEnding(.failed, "The answer was too long: it was cut at \(entry.maxCharacters) characters.")
        case (.accountClosed?, _):
            return AnswerEnding(.failed, "The account was disabled or deleted while this answer was written.")
        case (.fenced?, _): return AnswerEnding(.failed, LeaseKeeper.reapError)
        case (nil, .timedOut(let error)), (nil, .finished(let error?)): return AnswerEnding(.failed, error.message)
        case (nil, .cancelled): return AnswerEnding(.failed, "The answer was interrupted.")
        case (nil, .finished(nil)):
            return entry.content.isEmpty
                ? AnswerEnding(.failed, "The model finished without answering.") : AnswerEnding(.completed, nil)
        }
    }
}

/// When the first and the last piece (of reasoning or answer) arrived: nanoseconds after the start, -1 before.
final class Progress: Sendable {
    let firstPiece = Atomic<Int64>(-1)
    let lastPiece = Atomic<Int64>(-1)
    private let timedOut = Mutex<ModelError?>(nil)

    /// The first-token or stall timeout the watchdog found, if any.
    var timeout: ModelError? { timedOut.withLock { $0 } }
    func timeOut(_ error: ModelError) { timedOut.withLock { $0 = error } }

    func record(_ nanoseconds: Int64) {
        if firstPiece.load(ordering: .relaxed) < 0 {
            _ = firstPiece.compareExchange(expected: -1, desired: nanoseconds, ordering: .relaxed)
        }
        lastPiece.store(nanoseconds, ordering: .relaxed)
    }
}

/// How an answer ended: its status and error, and when its first piece came and it ended (milliseconds after the
/// request; nil when no piece came).
struct AnswerEnding: Sendable {
    var status: MessageStatus
    var error: String?
    var firstTokenMs: Int64?
    var durationMs: Int64?
    init(_ status: MessageStatus, _ error: String?) {
        self.status = status
        self.error = error
    }
}

/// How the streaming part of a generation ended.
enum GenerationEnding: Sendable {
    case finished(ModelError?)
    case timedOut(ModelError)
    case cancelled
}
