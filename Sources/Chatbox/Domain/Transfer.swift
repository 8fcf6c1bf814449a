import Foundation

/// A user's history in and out: Chatbox's own JSON export (and import), one conversation as Markdown, and
/// ChatGPT's `conversations.json` (its whole message tree: Transfer+ChatGPT.swift) as an import source.
public enum Transfer {
    /// The documented export format (docs/export-format.md): `format` is "chatbox-export", `version` 2 (a tree:
    /// each message names its parent, each conversation its current leaf); version 1 files (chains) still import.
    public struct Export: Codable, Sendable {
        public struct ExportedMessage: Codable, Sendable {
            public var id: Int64?
            /// Version 2: the `id` (in the same file) of the message this one follows; absent or null for a first
            /// question. (`Id`, not `ID`: the keys are converted from and to snake_case.)
            public var parentId: Int64?
            public var role: String
            public var status: String?
            public var content: String
            public var error: String?
            public var createdAt: String?
            /// Since schema 6 (all optional on import): the model that wrote an answer, its reasoning and usage.
            public var model: String?
            public var reasoning: String?
            public var usage: ExportedUsage?
        }
        public struct ExportedUsage: Codable, Sendable {
            public var promptTokens: Int
            public var completionTokens: Int
        }
        public struct ExportedConversation: Codable, Sendable {
            public var id: Int64?
            public var title: String
            public var createdAt: String
            public var updatedAt: String?
            /// The conversation's model, system prompt and temperature (optional on import).
            public var model: String?
            public var systemPrompt: String?
            public var temperature: Double?
            /// Version 2: the `id` of the last message of the path the user sees.
            public var currentLeafId: Int64?
            public var messages: [ExportedMessage]
        }
        public var format: String
        public var version: Int
        public var exportedAt: String?
        public var username: String?
        public var conversations: [ExportedConversation]
    }

    /// What an import did: how many conversations came in, and which were left out and why.
    public struct Report: Sendable, Equatable {
        public struct Skipped: Sendable, Equatable {
            public var title: String
            public var reason: String
        }
        public var source: String
        public var imported: Int
        public var importedMessages: Int
        /// Messages longer than the per-message limit, imported cut with a note saying so.
        public var cutMessages: Int
        public var skipped: [Skipped]
    }

    /// The dates an import accepts: 1970-01-01T00:00:00.000Z through 9999-12-31T23:59:59.999Z. A conversation with
    /// a date outside (or one that is not a date at all) is skipped with a reason that starts "skipped: bad date".
    public static let dateRange: ClosedRange<Millis> = 0...253_402_300_799_999

    static func badDate(_ field: String) -> String {
        "skipped: bad date (its \(field) is not a time between 1970 and 9999)"
    }

    /// `content` cut to at most `limit` characters (the note included), or nil when it fits.
    static func cut(_ content: String, to limit: Int) -> String? {
        guard content.count > limit else { return nil }
        let note = "\n\n…[cut: the message was longer than \(limit) characters]"
        guard limit > note.count * 2 else { return String(content.prefix(limit)) }  // too small a limit for a note
        return String(content.prefix(limit - note.count)) + note
    }

    /// One conversation of the export format with its messages.
    public static func exported(_ conversation: Conversation, _ messages: [Message]) -> Export.ExportedConversation {
        .init(
            id: conversation.id, title: conversation.title, createdAt: conversation.createdAt.iso8601,
            updatedAt: conversation.updatedAt.iso8601, model: conversation.model,
            systemPrompt: conversation.systemPrompt, temperature: conversation.temperature,
            currentLeafId: conversation.currentLeafID,
            messages: messages.map {
                .init(
                    id: $0.id, parentId: $0.parentID, role: $0.role.rawValue, status: $0.status.rawValue,
                    content: $0.content,
                    error: $0.error, createdAt: $0.createdAt.iso8601, model: $0.model,
                    reasoning: $0.reasoning.isEmpty ? nil : $0.reasoning,
                    usage: $0.usage.map { .init(promptTokens: $0.promptTokens, completionTokens: $0.completionTokens) })
            })
    }

    /// The path the user sees: from the first question down to the conversation's current leaf (when it is
    /// unknown, the last message), oldest first. Follows parents iteratively, each message at most once (a damaged
    /// tree cannot loop). Messages of which none has a parent (written before messages had parents) read as one
    /// chain.
    public static func selectedPath(_ conversation: Conversation, _ messages: [Message]) -> [Message] {
        guard messages.contains(where: { $0.parentID != nil }) else { return messages }
        var byID: [Int64: Int] = [:]
        for (index, message) in messages.enumerated() { byID[message.id] = byID[message.id] ?? index }
        var next = conversation.currentLeafID.flatMap { byID[$0] } ?? (messages.isEmpty ? nil : messages.count - 1)
        var path: [Message] = []
        var seen = Set<Int>()
        while let index = next, seen.insert(index).inserted {
            path.append(messages[index])
            next = messages[index].parentID.flatMap { byID[$0] }
        }
        return path.reversed()
    }

    /// One conversation as a Markdown document: the path the user sees (`selectedPath`), not the other branches.
    public static func markdown(_ conversation: Conversation, _ messages: [Message]) -> String {
        var out = "# \(conversation.title.isEmpty ? "Untitled conversation" : conversation.title)\n\n"
        out += "_\(conversation.createdAt.iso8601)_\n"
        for message in selectedPath(conversation, messages) {
            out += "\n## \(message.role == .user ? "User" : "Assistant")\n\n\(message.content)\n"
            if message.status == .failed { out += "\n> Failed: \(message.error ?? "unknown error")\n" }
            if message.status == .stopped { out += "\n> Stopped by the user.\n" }
        }
        return out
    }

    /// Reads a Chatbox export or a ChatGPT `conversations.json`; throws `ValidationError` for anything else.
    public static func parse(_ data: Data) throws -> (
        source: String, conversations: [ImportedConversation], skipped: [Report.Skipped]
    ) {
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: data) } catch {
            throw ValidationError("The file is not valid JSON.")
        }
        if let array = json as? [Any] { return try ChatGPTImport.parse(array) }
        guard let object = json as? [String: Any], object["format"] as? String == "chatbox-export" else {
            throw ValidationError("This is neither a Chatbox export nor ChatGPT's conversations.json.")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let export: Export
        do { export = try decoder.decode(Export.self, from: data) } catch {
            throw ValidationError("The Chatbox export is damaged: \(describe(error))")
        }
        guard export.version == 1 || export.version == 2 else {
            throw ValidationError("Export version \(export.version) is not supported (only 1 and 2).")
        }
        let isTree = export.version >= 2
        var conversations: [ImportedConversation] = []
        var skipped: [Report.Skipped] = []
        let dates = DateReader()
        for conversation in export.conversations {
            let title = String(Rules.oneLine(conversation.title).prefix(Rules.titleMaxCharacters))
            guard let created = dates.read(conversation.createdAt) else {
                skipped.append(.init(title: title, reason: badDate("created_at")))
                continue
            }
            let updated = conversation.updatedAt.map(dates.read)
            if case .some(.none) = updated {
                skipped.append(.init(title: title, reason: badDate("updated_at")))
                continue
            }
            var messages: [ImportedConversation.Entry] = []
            var badMessageDate = false
            // Version 2: each export id seen so far → the index of its entry; a message left out stands for its
            // own parent (its children are bridged to it). A parent not seen before (unknown, a forward reference,
            // itself, a cycle) is replaced by the previous message kept: parents always come before children.
            var indexOfID: [Int64: Int?] = [:]
            for message in conversation.messages {
                let previous = messages.isEmpty ? nil : messages.count - 1
                let parentIndex: Int?
                if isTree {
                    parentIndex = message.parentId.map { indexOfID[$0] ?? previous } ?? nil
                } else {
                    parentIndex = previous
                }
                var createdAt = created
                if let text = message.createdAt {
                    guard let date = dates.read(text) else {
                        badMessageDate = true
                        break
                    }
                    createdAt = date
                }
                guard let role = MessageRole(rawValue: message.role), !message.content.utf8.contains(0) else {
                    if let id = message.id, indexOfID[id] == nil { indexOfID[id] = .some(parentIndex) }
                    continue
                }
                var status = message.status.flatMap(MessageStatus.init(rawValue:)) ?? .completed
                var error = message.error
                if status == .processing { (status, error) = (.failed, "Imported before it had finished.") }
                var entry = ImportedConversation.Entry(
                    role: role, content: message.content, status: role == .user ? .completed : status, error: error,
                    createdAt: createdAt)
                entry.parentIndex = parentIndex
                if role == .assistant {
                    // What does not fit the rules is left out, not the message: it is only about the answer.
                    entry.model = message.model.flatMap { try? Rules.modelID($0) }
                    entry.reasoning = message.reasoning.flatMap { $0.utf8.contains(0) ? nil : $0 } ?? ""
                    entry.usage = message.usage.flatMap { usage in
                        usage.promptTokens >= 0 && usage.completionTokens >= 0
                            ? TokenUsage(promptTokens: usage.promptTokens, completionTokens: usage.completionTokens)
                            : nil
                    }
                }
                messages.append(entry)
                if let id = message.id, indexOfID[id] == nil { indexOfID[id] = .some(messages.count - 1) }
            }
            if badMessageDate {
                skipped.append(.init(title: title, reason: badDate("messages' created_at")))
                continue
            }
            guard let last = messages.last else {
                skipped.append(.init(title: title, reason: "it has no messages"))
                continue
            }
            var imported = ImportedConversation(
                title: title, createdAt: created, updatedAt: updated.flatMap { $0 } ?? last.createdAt,
                messages: messages)
            imported.settings = ChatSettings(
                model: conversation.model.flatMap { try? Rules.modelID($0) },
                systemPrompt: conversation.systemPrompt.flatMap { try? Rules.systemPrompt($0) },
                temperature: conversation.temperature.flatMap { try? Rules.temperature($0) })
            let leaf = isTree ? conversation.currentLeafId.flatMap { indexOfID[$0] ?? nil } : nil
            imported.currentLeafIndex = leaf ?? messages.count - 1
            conversations.append(imported)
        }
        return ("chatbox", conversations, skipped)
    }

    /// Reads ISO 8601 date-times (with or without fractional seconds) within `dateRange`; one per file, as its
    /// formatters are costly to make.
    final class DateReader {
        private let fractional = ISO8601DateFormatter()
        private let whole = ISO8601DateFormatter()

        init() {
            fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            whole.formatOptions = [.withInternetDateTime]
        }

        /// The date-time as milliseconds, or nil when it is not one or lies outside `dateRange`.
        func read(_ text: String) -> Millis? {
            guard let date = fractional.date(from: text) ?? whole.date(from: text) else { return nil }
            return Transfer.millis(seconds: date.timeIntervalSince1970)
        }
    }

    /// Seconds since the epoch (any Double: NaN, infinite, huge, fractional) as milliseconds within `dateRange`
    /// (rounded to the nearest millisecond), else nil. Never traps.
    static func millis(seconds: Double) -> Millis? {
        let milliseconds = (seconds * 1000).rounded()
        guard milliseconds.isFinite, milliseconds >= Double(dateRange.lowerBound),
            milliseconds <= Double(dateRange.upperBound), let value = Millis(exactly: milliseconds)
        else { return nil }
        return value
    }

    private static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case .keyNotFound(let key, _): return "a field '\(key.stringValue)' is missing."
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "the field '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type."
        @unknown default: return "\(error)"
        }
    }
}
