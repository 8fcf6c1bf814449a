import Foundation

/// A user's history in and out: Chatbox's own JSON export (and import), one conversation as Markdown, and
/// ChatGPT's `conversations.json` (its message tree's main branch) as an import source.
public enum Transfer {
    /// The documented export format (docs/export-format.md): `format` is "chatbox-export", `version` 1.
    public struct Export: Codable, Sendable {
        public struct ExportedMessage: Codable, Sendable {
            public var id: Int64?
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
            messages: messages.map {
                .init(
                    id: $0.id, role: $0.role.rawValue, status: $0.status.rawValue, content: $0.content,
                    error: $0.error, createdAt: $0.createdAt.iso8601, model: $0.model,
                    reasoning: $0.reasoning.isEmpty ? nil : $0.reasoning,
                    usage: $0.usage.map { .init(promptTokens: $0.promptTokens, completionTokens: $0.completionTokens) })
            })
    }

    /// One conversation as a Markdown document.
    public static func markdown(_ conversation: Conversation, _ messages: [Message]) -> String {
        var out = "# \(conversation.title.isEmpty ? "Untitled conversation" : conversation.title)\n\n"
        out += "_\(conversation.createdAt.iso8601)_\n"
        for message in messages {
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
        guard export.version == 1 else {
            throw ValidationError("Export version \(export.version) is not supported (only 1).")
        }
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
            for message in conversation.messages {
                var createdAt = created
                if let text = message.createdAt {
                    guard let date = dates.read(text) else {
                        badMessageDate = true
                        break
                    }
                    createdAt = date
                }
                guard let role = MessageRole(rawValue: message.role), !message.content.utf8.contains(0) else {
                    continue
                }
                var status = message.status.flatMap(MessageStatus.init(rawValue:)) ?? .completed
                var error = message.error
                if status == .processing { (status, error) = (.failed, "Imported before it had finished.") }
                var entry = ImportedConversation.Entry(
                    role: role, content: message.content, status: role == .user ? .completed : status, error: error,
                    createdAt: createdAt)
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

/// ChatGPT's export: an array of conversations whose `mapping` is a tree of messages; the main branch is the
/// path from `current_node` up to the root.
enum ChatGPTImport {
    static func parse(_ array: [Any]) throws -> (
        source: String, conversations: [ImportedConversation], skipped: [Transfer.Report.Skipped]
    ) {
        var conversations: [ImportedConversation] = []
        var skipped: [Transfer.Report.Skipped] = []
        for item in array {
            guard let object = item as? [String: Any], let mapping = object["mapping"] as? [String: Any] else {
                throw ValidationError(
                    "This looks like ChatGPT's conversations.json, but an entry has no message tree (mapping).")
            }
            let title = String(Rules.oneLine(object["title"] as? String ?? "").prefix(Rules.titleMaxCharacters))
            guard case .some(let createTime) = stamp(object["create_time"]),
                case .some(let updateTime) = stamp(object["update_time"])
            else {
                skipped.append(.init(title: title, reason: Transfer.badDate("create_time or update_time")))
                continue
            }
            let created = createTime ?? .now()
            var messages: [ImportedConversation.Entry] = []
            var badMessageDate = false
            var node = object["current_node"] as? String ?? leaf(of: mapping)
            var seen = Set<String>()
            while let id = node, !seen.contains(id), let entry = mapping[id] as? [String: Any] {
                seen.insert(id)
                if let message = entry["message"] as? [String: Any] {
                    switch convert(message, fallback: created) {
                    case .some(.some(let converted)): messages.append(converted)
                    case .some(.none): break
                    case .none: badMessageDate = true
                    }
                }
                node = entry["parent"] as? String
            }
            messages.reverse()
            if badMessageDate {
                skipped.append(.init(title: title, reason: Transfer.badDate("messages' create_time")))
                continue
            }
            guard let last = messages.last else {
                skipped.append(.init(title: title, reason: "it has no user or assistant text"))
                continue
            }
            conversations.append(
                .init(
                    title: title, createdAt: created, updatedAt: updateTime ?? last.createdAt, messages: messages))
        }
        return ("chatgpt", conversations, skipped)
    }

    /// The message as an entry; `.some(nil)` when it is not user or assistant text, nil when its date is bad.
    private static func convert(_ message: [String: Any], fallback: Millis) -> ImportedConversation.Entry?? {
        guard case .some(let createTime) = stamp(message["create_time"]) else { return nil }
        guard let author = (message["author"] as? [String: Any])?["role"] as? String,
            let role = MessageRole(rawValue: author),
            let content = message["content"] as? [String: Any]
        else { return .some(nil) }
        let parts = (content["parts"] as? [Any] ?? []).compactMap { $0 as? String }
        let text = parts.joined(separator: "\n").replacingOccurrences(of: "\u{0}", with: "")
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return .some(nil) }
        return .init(role: role, content: text, status: .completed, error: nil, createdAt: createTime ?? fallback)
    }

    /// Without `current_node`, the deepest node reached by following first children from a root.
    private static func leaf(of mapping: [String: Any]) -> String? {
        var node = mapping.first { (($0.value as? [String: Any])?["parent"] as? String) == nil }?.key
        var steps = 0
        while let id = node, let children = (mapping[id] as? [String: Any])?["children"] as? [String],
            let first = children.first, steps < 100_000
        {
            node = first
            steps += 1
        }
        return node
    }

    /// A ChatGPT time (seconds since the epoch, fractional; a number or a string holding one): `.some(nil)` when
    /// absent or null, `.some(millis)` when within `Transfer.dateRange`, nil when anything else (bad).
    static func stamp(_ value: Any?) -> Millis?? {
        switch value {
        case .none, is NSNull:
            return .some(nil)
        case let number as NSNumber where String(cString: number.objCType) != "c":  // "c": true / false
            return Transfer.millis(seconds: number.doubleValue).map { .some($0) }
        case let text as String:
            return Double(text.trimmingCharacters(in: .whitespaces)).flatMap(Transfer.millis(seconds:)).map {
                .some($0)
            }
        default:
            return nil
        }
    }
}
