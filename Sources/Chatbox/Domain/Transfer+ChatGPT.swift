import Foundation

/// ChatGPT's export: an array of conversations whose `mapping` is a tree of messages (`parent` / `children`).
/// Every branch is imported (a regenerated answer and an edited question keep both versions) and `current_node`
/// is the selected leaf. Nodes that are not user or assistant text (the root, system and tool messages, hidden
/// ones, images) are left out and bridged: their children hang on the nearest kept ancestor.
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
            guard let tree = Tree(mapping, created: created) else {
                skipped.append(.init(title: title, reason: Transfer.badDate("messages' create_time")))
                continue
            }
            guard let last = tree.messages.last else {
                skipped.append(.init(title: title, reason: "it has no user or assistant text"))
                continue
            }
            var conversation = ImportedConversation(
                title: title, createdAt: created, updatedAt: updateTime ?? last.createdAt, messages: tree.messages)
            let leaf = (object["current_node"] as? String).flatMap { tree.keptIndex[$0] ?? nil }
            conversation.currentLeafIndex = leaf ?? tree.messages.count - 1
            conversations.append(conversation)
        }
        return ("chatgpt", conversations, skipped)
    }

    /// One conversation's `mapping` as entries, parents before children (depth first from the roots, siblings in
    /// the order of their parent's `children`). Iterative, and each node is visited at most once: a cycle, a node
    /// that is its own parent or a chain a million deep cannot loop or overflow the stack.
    struct Tree {
        var messages: [ImportedConversation.Entry] = []
        /// Each node visited → the index of its entry, or of its nearest kept ancestor (nil: none).
        var keptIndex: [String: Int?] = [:]

        /// nil when a message's date is bad (the conversation is then skipped).
        init?(_ mapping: [String: Any], created: Millis) {
            // A node's parent is the one its `parent` names, when that is another node of the mapping.
            var parentOf: [String: String] = [:]
            parentOf.reserveCapacity(mapping.count)
            for (id, value) in mapping {
                if let parent = (value as? [String: Any])?["parent"] as? String, parent != id, mapping[parent] != nil {
                    parentOf[id] = parent
                }
            }
            // Children in the order their parent lists them, then any the parent does not list (by id).
            var childrenOf: [String: [String]] = [:]
            var listed = Set<String>()
            for (id, value) in mapping {
                for child in (value as? [String: Any])?["children"] as? [Any] ?? [] {
                    if let child = child as? String, parentOf[child] == id, listed.insert(child).inserted {
                        childrenOf[id, default: []].append(child)
                    }
                }
            }
            for (child, parent) in parentOf.sorted(by: { $0.key < $1.key }) where !listed.contains(child) {
                childrenOf[parent, default: []].append(child)
            }
            // Roots first; then, for nodes only reachable around a cycle, one of them (the smallest id) at a time.
            let ids = mapping.keys.sorted()
            var roots = Array(ids.filter { parentOf[$0] == nil }.reversed())
            var nextUnvisited = 0
            var stack: [(id: String, keptAncestor: Int?)] = []
            while true {
                if stack.isEmpty {
                    if let root = roots.popLast() {
                        stack.append((root, nil))
                    } else {
                        while nextUnvisited < ids.count, keptIndex[ids[nextUnvisited]] != nil { nextUnvisited += 1 }
                        guard nextUnvisited < ids.count else { break }
                        stack.append((ids[nextUnvisited], nil))
                    }
                }
                let (id, ancestor) = stack.removeLast()
                guard keptIndex[id] == nil else { continue }
                var kept = ancestor
                if let message = (mapping[id] as? [String: Any])?["message"] as? [String: Any] {
                    switch convert(message, fallback: created) {
                    case .some(.some(var entry)):
                        entry.parentIndex = ancestor
                        messages.append(entry)
                        kept = messages.count - 1
                    case .some(.none): break
                    case .none: return nil
                    }
                }
                keptIndex[id] = .some(kept)
                // Pushed in reverse so that the first child is visited first.
                for child in (childrenOf[id] ?? []).reversed() where keptIndex[child] == nil {
                    stack.append((child, kept))
                }
            }
        }
    }

    /// The message as an entry; `.some(nil)` when it is not user or assistant text (or is hidden), nil when its
    /// date is bad.
    private static func convert(_ message: [String: Any], fallback: Millis) -> ImportedConversation.Entry?? {
        guard case .some(let createTime) = stamp(message["create_time"]) else { return nil }
        guard let author = (message["author"] as? [String: Any])?["role"] as? String,
            let role = MessageRole(rawValue: author),
            let content = message["content"] as? [String: Any],
            (message["metadata"] as? [String: Any])?["is_visually_hidden_from_conversation"] as? Bool != true
        else { return .some(nil) }
        let parts = (content["parts"] as? [Any] ?? []).compactMap { $0 as? String }
        let text = parts.joined(separator: "\n").replacingOccurrences(of: "\u{0}", with: "")
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return .some(nil) }
        return .init(role: role, content: text, status: .completed, error: nil, createdAt: createTime ?? fallback)
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
