/// The smaller steps of a turn: the final save, and naming the conversation.
extension ChatService {
    /// Runs `body` in a task of its own and waits for it. An answer's finishing task lives until its title is
    /// written (thousands can at the end of a burst of first rounds), and a task keeps the stack memory (slabs) of
    /// its deepest call until it ends: the store's calls, the deepest, run apart so that it stays small (measured in
    /// bench/README, "Issue 17, third round").
    func apart(_ body: @escaping @Sendable () async -> Void) async {
        await Task.detached(operation: body).value
    }

    /// Writes the answer's final state, retrying a few times if the database is briefly away. If it stays
    /// away, listeners are told anyway and the write goes on in the background until the database is back
    /// (for up to an hour; after that the next start-up marks the answer failed).
    func save(_ answer: Message) async {
        await persistently(atOnce: 4) { attempt in await trySave(answer, attempt: attempt) }
    }

    private func trySave(_ answer: Message, attempt: Int) async -> Bool {
        do {
            try await store.finishAnswer(answer, now: .now())
            if attempt > 4 { logger.notice("saved answer \(answer.id) after the database came back") }
            return true
        } catch {
            if attempt <= 4 || attempt % 30 == 0 {
                logger.error("could not save the final answer \(answer.id) (attempt \(attempt)): \(error)")
            }
            return false
        }
    }

    /// Names the conversation after its first round and tells the listeners.
    func nameConversation(
        _ entry: Generations.Entry, _ conversationID: Int64, question: String, answer: Message, model: ResolvedModel
    ) async {
        let title =
            answer.status == .completed
            ? await titles.title(
                question: question, answer: answer.content, model: await models.titleModel() ?? model.model)
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
