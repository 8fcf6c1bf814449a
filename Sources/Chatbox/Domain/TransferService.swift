import Dispatch
import Foundation
import Synchronization

/// Why an import cannot start now.
public enum TransferError: Error, Equatable {
    /// This user already has an import running.
    case importRunning
    /// The server is running as many imports as it takes at once.
    case busy(retryAfterSeconds: Int)
}

/// Export and import of a user's history: the file formats are `Transfer`'s, storage the store's; this applies the
/// limits (the per-message limit, dates, short transactions, how many imports run at once) and reads the history
/// one conversation at a time.
public struct TransferService: Sendable {
    let store: any TransferStore & ConversationStore
    let maxMessageCharacters: Int
    let batching: ImportBatching
    let gate: ImportGate

    public init(
        store: any TransferStore & ConversationStore, maxMessageCharacters: Int,
        batching: ImportBatching = ImportBatching(),
        concurrentImports: Int = 2
    ) {
        self.store = store
        self.maxMessageCharacters = maxMessageCharacters
        self.batching = batching
        self.gate = ImportGate(limit: concurrentImports)
    }

    /// Imports a Chatbox export or ChatGPT's `conversations.json` (`ValidationError` for anything else). Messages
    /// longer than the per-message limit are cut with a note; conversations with bad dates are skipped; all the
    /// rest goes in in short transactions, and nothing stays if one fails. One import per user at a time, and at
    /// most `concurrentImports` on the server (`TransferError`): a file takes several times its size in memory.
    public func importHistory(userID: Int64, _ data: Data) async throws -> Transfer.Report {
        try gate.enter(userID)
        defer { gate.leave(userID) }
        let limit = maxMessageCharacters
        // Reading the file takes CPU for a while (about a second for tens of MB): off the threads that serve requests.
        let (parsed, cutCounts) = try await Self.offRequestThreads { try Self.read(data, maxMessageCharacters: limit) }
        let added = try await store.importConversations(
            userID: userID, parsed.conversations, batching: batching, afterBatch: { _ in await Task.yield() })
        var report = Transfer.Report(
            source: parsed.source, imported: 0, importedMessages: 0, cutMessages: 0, skipped: parsed.skipped)
        for (index, wasAdded) in added.enumerated() {
            let conversation = parsed.conversations[index]
            guard wasAdded else {
                report.skipped.append(.init(title: conversation.title, reason: "it is already here"))
                continue
            }
            report.imported += 1
            report.importedMessages += conversation.messages.count
            report.cutMessages += cutCounts[index]
        }
        return report
    }

    /// The file parsed, with messages over the limit cut, and how many were cut in each conversation.
    static func read(_ data: Data, maxMessageCharacters limit: Int) throws
        -> (
            parsed: (source: String, conversations: [ImportedConversation], skipped: [Transfer.Report.Skipped]),
            cut: [Int]
        )
    {
        var parsed = try Transfer.parse(data)
        var cutCounts: [Int] = []
        for index in parsed.conversations.indices {
            var cut = 0
            for message in parsed.conversations[index].messages.indices {
                let content = parsed.conversations[index].messages[message].content
                let reasoning = parsed.conversations[index].messages[message].reasoning
                // Cheap first: no more UTF-8 bytes than the limit means no more characters either.
                if reasoning.utf8.count > limit, let shorter = Transfer.cut(reasoning, to: limit) {
                    parsed.conversations[index].messages[message].reasoning = shorter
                }
                guard content.utf8.count > limit, let shorter = Transfer.cut(content, to: limit) else { continue }
                parsed.conversations[index].messages[message].content = shorter
                cut += 1
            }
            cutCounts.append(cut)
        }
        return (parsed, cutCounts)
    }

    private static func offRequestThreads<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .utility).async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// The export document without its conversations (`conversations` is empty), and the conversations to put
    /// in it, newest first, each to be read with `exported(_:)` as it is written.
    public func exportPlan(userID: Int64, username: String) async throws -> (
        envelope: Transfer.Export, conversations: [Conversation]
    ) {
        let envelope = Transfer.Export(
            format: "chatbox-export", version: 2, exportedAt: Millis.now().iso8601, username: username,
            conversations: [])
        return (envelope, try await store.exportedConversations(userID: userID))
    }

    /// One conversation of an export with its messages, read now.
    public func exported(_ conversation: Conversation) async throws -> Transfer.Export.ExportedConversation {
        Transfer.exported(conversation, try await store.messages(conversationID: conversation.id))
    }

    /// One of the user's conversations as Markdown; `NotFound("Conversation")` when it isn't theirs.
    public func markdown(conversationID: Int64, userID: Int64) async throws -> (Conversation, String) {
        guard let conversation = try await store.conversation(id: conversationID, userID: userID) else {
            throw NotFound("Conversation")
        }
        return (
            conversation, Transfer.markdown(conversation, try await store.messages(conversationID: conversation.id))
        )
    }
}

/// Who is importing now: one import per user, and at most `limit` on the server.
public final class ImportGate: Sendable {
    let limit: Int
    private let running = Mutex<Set<Int64>>([])

    public init(limit: Int) { self.limit = Swift.max(1, limit) }

    /// Registers an import by `userID`, or throws `TransferError` when it cannot start now.
    public func enter(_ userID: Int64) throws {
        try running.withLock { running in
            guard !running.contains(userID) else { throw TransferError.importRunning }
            guard running.count < limit else { throw TransferError.busy(retryAfterSeconds: 30) }
            running.insert(userID)
        }
    }

    public func leave(_ userID: Int64) {
        _ = running.withLock { $0.remove(userID) }
    }
}
