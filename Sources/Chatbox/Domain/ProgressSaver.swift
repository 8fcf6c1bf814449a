import Logging
import ServiceLifecycle

/// Saves the text of every running answer about once an interval, all of them in one transaction, so a server
/// that dies loses at most about one interval of each answer. One writer for all answers: ten thousand streams
/// cost one commit a second, not ten thousand. The final state of an answer is saved by its turn, not here.
struct ProgressSaver: Service {
    let generations: Generations
    let store: any ChatStore
    let interval: Duration
    let logger: Logger

    /// Saves until the server shuts down (by then every answer has had its final save).
    func run() async throws {
        while !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            await saveOnce()
        }
    }

    /// One round: everything that grew since the last round, in one write.
    func saveOnce() async {
        let unsaved = generations.unsaved()
        guard !unsaved.isEmpty else { return }
        do {
            try await store.saveProgress(unsaved.map { AnswerProgress(messageID: $0.messageID, content: $0.content) })
            for answer in unsaved { answer.entry.saved(bytes: answer.content.utf8.count) }
        } catch {
            logger.warning("could not save the progress of \(unsaved.count) answers (will retry): \(error)")
        }
    }
}
