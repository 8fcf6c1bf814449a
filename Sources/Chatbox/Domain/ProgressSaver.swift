import Logging
import ServiceLifecycle
import Synchronization

/// Saves the text of every running answer about once an interval, all of them in one transaction, so a server
/// that dies loses at most about one interval of each answer. One writer for all answers: ten thousand streams
/// cost one commit a second, not ten thousand. The final state of an answer is saved by its turn, not here.
///
/// One answer the database refuses (too long for its column, a row-specific error) must not stop the others from
/// being saved: when a batch fails while the database is up, it is split in halves until the failing answers
/// stand alone. Those are logged once, and from then on left out of the batch and tried on their own every
/// `FailingAnswers.retryEveryRounds` rounds (one statement each: a refused statement may cost MariaDB a connection),
/// so that they are saved again if the database takes them later. When the database is down (`ping` fails too),
/// nothing is split: one warning, and the next round tries again.
struct ProgressSaver: Service {
    let generations: Generations
    let store: any ConversationStore & MaintenanceStore
    let interval: Duration
    let logger: Logger
    let failing = FailingAnswers()

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

    private typealias Unsaved = Generations.Unsaved

    /// One round: everything that grew since the last round, in one write (known failing answers apart).
    func saveOnce() async {
        let unsaved = generations.unsaved()
        let (known, retry) = failing.round(seen: unsaved.map(\.messageID))
        guard !unsaved.isEmpty else { return }
        await save(unsaved.filter { !known.contains($0.messageID) })
        for answer in unsaved where retry.contains(answer.messageID) {
            do {
                try await store.saveProgress([answer.progress])
                answer.saved()
                failing.remove(answer.messageID)
                logger.notice("the progress of answer \(answer.messageID) could be saved again")
            } catch {
                continue  // already logged when it first failed
            }
        }
    }

    /// Saves `answers` in one call; if that fails while the database is up, each half on its own, down to single
    /// answers, which are then known to fail.
    private func save(_ answers: [Unsaved]) async {
        guard !answers.isEmpty else { return }
        do {
            try await store.saveProgress(answers.map(\.progress))
            for answer in answers { answer.saved() }
            return
        } catch {
            if answers.count == 1, let answer = answers.first {
                if failing.insert(answer.messageID) {
                    logger.error(
                        """
                        could not save the progress of answer \(answer.messageID) (\(answer.content.utf8.count) \
                        bytes); the other answers are saved without it, and it is tried again on its own: \(error)
                        """)
                }
                return
            }
            // A refused statement may have cost MariaDB its connection, and the pool may hand that one out next:
            // the database counts as down only when a second ping fails too.
            do {
                do { try await store.ping() } catch { try await store.ping() }
            } catch {
                logger.warning("could not save the progress of \(answers.count) answers (will retry): \(error)")
                return
            }
        }
        let half = answers.count / 2
        await save(Array(answers[..<half]))
        await save(Array(answers[half...]))
    }
}

/// The answers whose progress the database refused on their own, forgotten a while after they stop growing (they
/// have ended, or stalled: either way there is nothing to save), so that the set stays as small as the running
/// answers.
final class FailingAnswers: Sendable {
    /// Rounds an answer may go unseen before it is forgotten (at the default interval, a minute).
    static let forgetAfterRounds = 60
    /// A failing answer is tried again on its own every this many rounds (at the default interval, 10 s).
    static let retryEveryRounds = 10

    private struct Failing {
        var unseenRounds = 0
        var roundsToRetry = FailingAnswers.retryEveryRounds
    }
    private let answers = Mutex<[Int64: Failing]>([:])

    /// Starts a round in which `seen` are the unsaved answers; returns the failing ones (left out of the batch)
    /// and those of them to try again on their own now.
    func round(seen: [Int64]) -> (failing: Set<Int64>, retry: Set<Int64>) {
        answers.withLock { answers in
            guard !answers.isEmpty else { return ([], []) }
            let seen = Set(seen)
            var retry: Set<Int64> = []
            for (id, var state) in answers {
                state.unseenRounds = seen.contains(id) ? 0 : state.unseenRounds + 1
                state.roundsToRetry -= 1
                if state.roundsToRetry <= 0 {
                    state.roundsToRetry = Self.retryEveryRounds
                    retry.insert(id)
                }
                answers[id] = state.unseenRounds >= Self.forgetAfterRounds ? nil : state
            }
            return (Set(answers.keys), retry)
        }
    }

    /// Records a failing answer; false if it was known already.
    func insert(_ id: Int64) -> Bool {
        answers.withLock { answers in
            guard answers[id] == nil else { return false }
            answers[id] = Failing()
            return true
        }
    }

    func remove(_ id: Int64) {
        _ = answers.withLock { $0.removeValue(forKey: id) }
    }
}
