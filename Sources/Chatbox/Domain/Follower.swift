import Logging

/// Follows an answer another instance is writing, from what that instance saves (about once a save interval):
/// `start` with the text saved so far, then the saved text's growth as `reasoning` and `delta` events, then `done`
/// with the answer as stored, then (after a first round) the conversation's `title`: the same events its owner
/// sends, behind it by up to a save interval plus `interval`.
struct Follower: Sendable {
    let store: any RunningAnswerStore & ConversationStore
    let conversationID: Int64
    let userID: Int64
    let interval: Duration
    let titleWait: Duration
    let logger: Logger

    /// Reads failed in a row before a follower gives up (the database is down): about 20 s at the default interval.
    static let maxFailedReads = 100

    /// Sends `start` and follows the answer in a task of its own; false when there is no answer to follow (it
    /// ended, or its turn is still not stored after a few intervals).
    func start(_ listener: Listener) async throws -> Bool {
        var answer: Message?
        for _ in 0..<10 {
            answer = try await store.answerInProgress(conversationID: conversationID)
            if answer != nil { break }
            guard try await store.runningAnswer(conversationID: conversationID) != nil else { return false }
            try await Task.sleep(for: interval)
        }
        guard let answer, let conversation = try await store.conversation(id: conversationID, userID: userID)
        else { return false }
        // The owner names a conversation after its first round (a question without a parent) if it has no title.
        var firstRound = true
        if let questionID = answer.parentID,
            let question = try await store.message(id: questionID, conversationID: conversationID)
        {
            firstRound = question.parentID == nil
        }
        let naming = firstRound && conversation.title.isEmpty && !conversation.titleSetByUser
        guard listener.push(.start(user: nil, assistant: answer)) else { return false }
        Task { await follow(answer, naming: naming, into: listener) }
        return true
    }

    private func follow(_ first: Message, naming: Bool, into listener: Listener) async {
        defer { listener.close() }
        var sent = Sent(content: first.content, reasoning: first.reasoning)
        var failures = 0
        while true {
            do { try await Task.sleep(for: interval) } catch { return }
            guard listener.isOpen else { return }
            let answer: Message?
            do {
                answer = try await store.message(id: first.id, conversationID: conversationID)
                failures = 0
            } catch {
                failures += 1
                if failures == 1 { logger.warning("following answer \(first.id): could not read it: \(error)") }
                if failures >= Self.maxFailedReads { return }
                continue
            }
            // Deleted with its conversation: nothing more will come.
            guard let answer else { return }
            for event in sent.events(towards: answer) { _ = listener.push(event) }
            if answer.status != .processing {
                _ = listener.push(.done(answer))
                // An answer failed by the reaper gets no title: its owner is gone.
                if answer.error == LeaseKeeper.reapError { return }
                break
            }
        }
        if naming, let title = await awaitTitle() {
            _ = listener.push(.title(conversationID: conversationID, title: title))
        }
    }

    /// The conversation's title once its owner has written one, or nil after `titleWait`.
    private func awaitTitle() async -> String? {
        let deadline = ContinuousClock.now + titleWait
        while ContinuousClock.now < deadline {
            if let title = try? await store.conversation(id: conversationID, userID: userID)?.title, !title.isEmpty {
                return title
            }
            do { try await Task.sleep(for: interval) } catch { return nil }
        }
        return nil
    }

    /// What the listener has been sent of the answer.
    struct Sent {
        var content: String
        var reasoning: String

        /// The events that take the listener from what it has to `answer`: the new ends of the reasoning and the
        /// text, or (when the owner moved the text into the reasoning) the whole reasoning and the text again.
        mutating func events(towards answer: Message) -> [ChatEvent] {
            var events: [ChatEvent] = []
            if let more = Self.growth(from: reasoning, to: answer.reasoning) {
                if !more.isEmpty { events.append(.reasoning(more)) }
            } else {
                events.append(.reasoningReplaced(answer.reasoning))
                content = ""
            }
            reasoning = answer.reasoning
            if let more = Self.growth(from: content, to: answer.content) {
                if !more.isEmpty { events.append(.delta(more)) }
            } else {
                // The text shrank without the reasoning changing: start the listener's text over.
                events.append(.reasoningReplaced(answer.reasoning))
                if !answer.content.isEmpty { events.append(.delta(answer.content)) }
            }
            content = answer.content
            return events
        }

        /// What `new` adds to `old`, compared byte by byte (a piece may end inside a grapheme); nil when `new`
        /// does not start with `old`.
        static func growth(from old: String, to new: String) -> String? {
            guard new.utf8.starts(with: old.utf8) else { return nil }
            return String(decoding: new.utf8.dropFirst(old.utf8.count), as: UTF8.self)
        }
    }
}
