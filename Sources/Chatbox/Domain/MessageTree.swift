/// A conversation's messages as a tree: each message's parent, and the path from the first question down to any
/// message. Built from the flat list the store gives (oldest first); walks are iterative and bounded by the number
/// of messages, so a cycle in stored data (which the server never writes) cannot hang or crash it.
struct MessageTree: Sendable {
    private let byID: [Int64: Message]

    init(_ messages: [Message]) {
        var byID: [Int64: Message] = [:]
        byID.reserveCapacity(messages.count)
        for message in messages { byID[message.id] = message }
        self.byID = byID
    }

    func message(_ id: Int64) -> Message? { byID[id] }

    /// The messages from the root down to `id` (inclusive), oldest first; empty when `id` is unknown.
    func path(to id: Int64) -> [Message] {
        var path: [Message] = []
        var next: Int64? = id
        while let current = next, let message = byID[current], path.count < byID.count {
            path.append(message)
            next = message.parentID
        }
        return path.reversed()
    }
}
