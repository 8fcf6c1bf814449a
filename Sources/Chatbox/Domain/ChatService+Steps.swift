/// The smaller steps of a turn: periodic saving, the final save, and naming the conversation.
extension ChatService {
    /// Saves the text so far every flush interval while it changes, so at most about one interval of an
    /// answer is lost if the server dies. Runs until cancelled.
    func flush(_ entry: Generations.Entry, messageID: Int64) async -> GenerationEnding {
        var saved = 0
        while true {
            do { try await Task.sleep(for: flushInterval) } catch { return .cancelled }
            let content = entry.content
            guard content.utf8.count != saved else { continue }
            do {
                try await store.saveProgress(messageID: messageID, content: content)
                saved = content.utf8.count
            } catch {
                logger.warning("could not save the answer's progress (will retry): \(error)")
            }
        }
    }

    /// Writes the answer's final state, retrying a few times if the database is briefly away. If it stays
    /// away the answer is left `processing`, and the next start-up marks it failed.
    func save(_ answer: Message) async {
        for attempt in 1...4 {
            do {
                try await store.finishMessage(
                    messageID: answer.id, content: answer.content, status: answer.status, error: answer.error,
                    now: .now())
                return
            } catch {
                logger.error("could not save the final answer (attempt \(attempt)): \(error)")
                try? await Task.sleep(for: .milliseconds(250 << attempt))
            }
        }
    }

    /// Names the conversation after its first round and tells the listeners.
    func nameConversation(_ entry: Generations.Entry, _ conversationID: Int64, question: String, answer: Message) async {
        let title = answer.status == .completed
            ? await titles.title(question: question, answer: answer.content)
            : TitleService.fallback(question)
        do {
            if try await store.setGeneratedTitle(conversationID: conversationID, title: title) {
                entry.send(.title(conversationID: conversationID, title: title))
            }
        } catch {
            logger.error("could not save the conversation's title: \(error)")
        }
    }
}
