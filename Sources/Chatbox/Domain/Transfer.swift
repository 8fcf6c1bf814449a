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
        }
        public struct ExportedConversation: Codable, Sendable {
            public var id: Int64?
            public var title: String
            public var createdAt: String
            public var updatedAt: String?
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
        public var skipped: [Skipped]
    }

    public static func export(username: String, _ history: [(conversation: Conversation, messages: [Message])]) -> Export {
        Export(
            format: "chatbox-export", version: 1, exportedAt: Millis.now().iso8601, username: username,
            conversations: history.map { conversation, messages in
                .init(
                    id: conversation.id, title: conversation.title, createdAt: conversation.createdAt.iso8601,
                    updatedAt: conversation.updatedAt.iso8601,
                    messages: messages.map {
                        .init(id: $0.id, role: $0.role.rawValue, status: $0.status.rawValue, content: $0.content,
                              error: $0.error, createdAt: $0.createdAt.iso8601)
                    })
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
    public static func parse(_ data: Data) throws -> (source: String, conversations: [ImportedConversation], skipped: [Report.Skipped]) {
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
        guard export.version == 1 else { throw ValidationError("Export version \(export.version) is not supported (only 1).") }
        var conversations: [ImportedConversation] = []
        var skipped: [Report.Skipped] = []
        for conversation in export.conversations {
            let title = Rules.oneLine(conversation.title).prefix(Rules.titleMaxCharacters)
            guard let created = parseDate(conversation.createdAt) else {
                skipped.append(.init(title: String(title), reason: "its created_at is not a date"))
                continue
            }
            var messages: [ImportedConversation.Entry] = []
            for message in conversation.messages {
                guard let role = MessageRole(rawValue: message.role), !message.content.utf8.contains(0) else { continue }
                var status = message.status.flatMap(MessageStatus.init(rawValue:)) ?? .completed
                var error = message.error
                if status == .processing { (status, error) = (.failed, "Imported before it had finished.") }
                messages.append(.init(
                    role: role, content: message.content, status: role == .user ? .completed : status, error: error,
                    createdAt: message.createdAt.flatMap(parseDate) ?? created))
            }
            guard !messages.isEmpty else {
                skipped.append(.init(title: String(title), reason: "it has no messages"))
                continue
            }
            let updated = conversation.updatedAt.flatMap(parseDate) ?? messages.last?.createdAt ?? created
            conversations.append(.init(title: String(title), createdAt: created, updatedAt: updated, messages: messages))
        }
        return ("chatbox", conversations, skipped)
    }

    static func parseDate(_ text: String) -> Millis? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return Millis(date.timeIntervalSince1970 * 1000) }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text).map { Millis($0.timeIntervalSince1970 * 1000) }
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
    static func parse(_ array: [Any]) throws -> (source: String, conversations: [ImportedConversation], skipped: [Transfer.Report.Skipped]) {
        var conversations: [ImportedConversation] = []
        var skipped: [Transfer.Report.Skipped] = []
        for item in array {
            guard let object = item as? [String: Any], let mapping = object["mapping"] as? [String: Any] else {
                throw ValidationError("This looks like ChatGPT's conversations.json, but an entry has no message tree (mapping).")
            }
            let title = Rules.oneLine(object["title"] as? String ?? "").prefix(Rules.titleMaxCharacters)
            let created = millis(object["create_time"]) ?? .now()
            var messages: [ImportedConversation.Entry] = []
            var node = object["current_node"] as? String ?? leaf(of: mapping)
            var seen = Set<String>()
            while let id = node, !seen.contains(id), let entry = mapping[id] as? [String: Any] {
                seen.insert(id)
                if let message = entry["message"] as? [String: Any], let converted = convert(message, fallback: created) {
                    messages.append(converted)
                }
                node = entry["parent"] as? String
            }
            messages.reverse()
            guard !messages.isEmpty else {
                skipped.append(.init(title: String(title), reason: "it has no user or assistant text"))
                continue
            }
            conversations.append(.init(
                title: String(title), createdAt: created, updatedAt: millis(object["update_time"]) ?? messages.last!.createdAt,
                messages: messages))
        }
        return ("chatgpt", conversations, skipped)
    }

    private static func convert(_ message: [String: Any], fallback: Millis) -> ImportedConversation.Entry? {
        guard let author = (message["author"] as? [String: Any])?["role"] as? String,
            let role = MessageRole(rawValue: author),
            let content = message["content"] as? [String: Any]
        else { return nil }
        let parts = (content["parts"] as? [Any] ?? []).compactMap { $0 as? String }
        let text = parts.joined(separator: "\n").replacingOccurrences(of: "\u{0}", with: "")
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return nil }
        return .init(role: role, content: text, status: .completed, error: nil, createdAt: millis(message["create_time"]) ?? fallback)
    }

    /// Without `current_node`, the deepest node reached by following first children from a root.
    private static func leaf(of mapping: [String: Any]) -> String? {
        var node = mapping.first { (($0.value as? [String: Any])?["parent"] as? String) == nil }?.key
        var steps = 0
        while let id = node, let children = (mapping[id] as? [String: Any])?["children"] as? [String], let first = children.first, steps < 100_000 {
            node = first
            steps += 1
        }
        return node
    }

    private static func millis(_ value: Any?) -> Millis? {
        (value as? Double).map { Millis($0 * 1000) } ?? (value as? Int).map { Millis($0) * 1000 }
    }
}
