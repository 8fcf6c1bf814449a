import Foundation

/// Export and import of a user's history: the file formats are `Transfer`'s, storage the store's; this applies the
/// limits (the per-message limit, dates, short transactions) and reads the history one conversation at a time.
public struct TransferService: Sendable {
    let store: any ChatStore
    let maxMessageCharacters: Int
    let batching: ImportBatching

    public init(store: any ChatStore, maxMessageCharacters: Int, batching: ImportBatching = ImportBatching()) {
        self.store = store
        self.maxMessageCharacters = maxMessageCharacters
        self.batching = batching
    }

    /// Imports a Chatbox export or ChatGPT's `conversations.json` (`ValidationError` for anything else). Messages
    /// longer than the per-message limit are cut with a note; conversations with bad dates are skipped; all the
    /// rest goes in in short transactions, and nothing stays if one fails.
    public func importHistory(userID: Int64, _ data: Data) async throws -> Transfer.Report {
        var parsed = try Transfer.parse(data)
        var cutCounts: [Int] = []
        for index in parsed.conversations.indices {
            var cut = 0
            for message in parsed.conversations[index].messages.indices {
                let content = parsed.conversations[index].messages[message].content
                // Cheap first: no more UTF-8 bytes than the limit means no more characters either.
                guard content.utf8.count > maxMessageCharacters, let shorter = Transfer.cut(content, to: maxMessageCharacters)
                else { continue }
                parsed.conversations[index].messages[message].content = shorter
                cut += 1
            }
            cutCounts.append(cut)
        }
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

    /// The export document without its conversations (`conversations` is empty), and the conversations to put
    /// in it, newest first, each to be read with `exported(_:)` as it is written.
    public func exportPlan(userID: Int64, username: String) async throws -> (envelope: Transfer.Export, conversations: [Conversation]) {
        let envelope = Transfer.Export(
            format: "chatbox-export", version: 1, exportedAt: Millis.now().iso8601, username: username, conversations: [])
        return (envelope, try await store.exportedConversations(userID: userID))
    }

    /// One conversation of an export with its messages, read now.
    public func exported(_ conversation: Conversation) async throws -> Transfer.Export.ExportedConversation {
        Transfer.exported(conversation, try await store.messages(conversationID: conversation.id))
    }
}
