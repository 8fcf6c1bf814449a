@testable import Chatbox
import Foundation
import Testing

/// Export v2 and import of message trees: Chatbox files (v1 chains, v2 trees, damaged trees), ChatGPT's mapping
/// with every branch, the store's parent rows, and Markdown's selected path.
@Suite("Export and import of message trees")
struct TreeTransferTests {
    /// A conversation's shape: each message as "content<parent's content" ("-" for none), and the selected leaf.
    static func shape(_ conversation: ImportedConversation) -> [String] {
        let messages = conversation.messages
        let edges = messages.enumerated().map { index, message in
            let parent = message.parentIndex.map { messages[$0].content } ?? "-"
            #expect(message.parentIndex.map { $0 >= 0 && $0 < index } ?? true, "parents come first")
            return "\(message.content)<\(parent)"
        }
        let leaf = conversation.currentLeafIndex.map { messages[$0].content } ?? "?"
        return edges + ["leaf " + leaf]
    }

    /// The same shape of a conversation of an export file (its `id`s and `parent_id`s).
    static func shape(exported conversation: [String: Any]) -> [String] {
        let messages = conversation["messages"] as? [[String: Any]] ?? []
        var content: [Int64: String] = [:]
        for message in messages {
            if let id = (message["id"] as? NSNumber)?.int64Value { content[id] = message["content"] as? String }
        }
        let edges = messages.map { message in
            let parent = (message["parent_id"] as? NSNumber).map { content[$0.int64Value] ?? "?" } ?? "-"
            return "\(message["content"] as? String ?? "")<\(parent)"
        }
        let leaf = (conversation["current_leaf_id"] as? NSNumber).flatMap { content[$0.int64Value] } ?? "?"
        return edges + ["leaf " + leaf]
    }

    static func parse(_ text: String) throws -> [ImportedConversation] {
        try Transfer.parse(Data(text.utf8)).conversations
    }

    static func message(
        _ id: Int, _ role: String, _ content: String, parent: String? = nil, extra: String = ""
    ) -> String {
        let parentField = parent.map { ",\"parent_id\":\($0)" } ?? ""
        return "{\"id\":\(id)\(parentField),\"role\":\"\(role)\",\"content\":\"\(content)\"\(extra)}"
    }

    static func file(version: Int, leaf: String? = nil, _ messages: [String], title: String = "tree") -> String {
        let leafField = leaf.map { ",\"current_leaf_id\":\($0)" } ?? ""
        return """
            {"format":"chatbox-export","version":\(version),"conversations":[{"title":"\(title)",\
            "created_at":"2024-01-01T00:00:00Z"\(leafField),"messages":[\(messages.joined(separator: ","))]}]}
            """
    }

    /// A branched tree: the first question in two versions, the second answer regenerated; the selected path goes
    /// through the second version of the first question and the first answer of the follow-up.
    static let branched = file(
        version: 2, leaf: "16",
        [
            message(10, "user", "q1"), message(11, "assistant", "a1", parent: "10"),
            message(12, "user", "q1 edited"), message(13, "assistant", "a1'", parent: "12"),
            message(14, "user", "q2", parent: "13"), message(15, "assistant", "a2", parent: "14"),
            message(16, "assistant", "a2 again", parent: "14", extra: ",\"status\":\"failed\",\"error\":\"boom\"")
        ])
    static let branchedShape = [
        "q1<-", "a1<q1", "q1 edited<-", "a1'<q1 edited", "q2<a1'", "a2<q2", "a2 again<q2", "leaf a2 again"
    ]

    @Test func aVersion2FileImportsAsItsTree() throws {
        let conversations = try Self.parse(Self.branched)
        #expect(conversations.count == 1)
        #expect(Self.shape(conversations[0]) == Self.branchedShape)
    }

    @Test func aVersion1FileImportsAsAChain() throws {
        // Version 1 has no tree: a parent_id in it means nothing.
        let conversations = try Self.parse(
            Self.file(
                version: 1, leaf: "1",
                [
                    Self.message(1, "user", "one"), Self.message(2, "assistant", "two", parent: "1"),
                    Self.message(3, "user", "three", parent: "1"), Self.message(4, "system", "left out"),
                    Self.message(5, "assistant", "four")
                ]))
        #expect(Self.shape(conversations[0]) == ["one<-", "two<one", "three<two", "four<three", "leaf four"])
    }

    @Test func damagedParentsHangOnThePreviousMessageKept() throws {
        let conversations = try Self.parse(
            Self.file(
                version: 2, leaf: "9",
                [
                    Self.message(1, "user", "q"), Self.message(2, "assistant", "a", parent: "1"),
                    Self.message(3, "user", "itself", parent: "3"),
                    Self.message(4, "assistant", "forward", parent: "9"),
                    Self.message(5, "user", "cycle A", parent: "6"),
                    Self.message(6, "assistant", "cycle B", parent: "5"),
                    Self.message(7, "user", "unknown", parent: "12345"),
                    Self.message(8, "system", "left out", parent: "2"),
                    Self.message(9, "user", "under the one left out", parent: "8"),
                    Self.message(2, "user", "a duplicate id", parent: "-7"),
                    Self.message(10, "user", "under the duplicate", parent: "2"),
                    Self.message(11, "tool", "left out root"), Self.message(12, "user", "under it", parent: "11")
                ]))
        #expect(
            Self.shape(conversations[0]) == [
                "q<-", "a<q", "itself<a", "forward<itself", "cycle A<forward", "cycle B<cycle A", "unknown<cycle B",
                "under the one left out<a", "a duplicate id<under the one left out", "under the duplicate<a",
                "under it<-", "leaf under the one left out"
            ])
        // An unknown current leaf, or one left out, selects the last message.
        for leaf in ["777", "8", "null"] {
            let other = try Self.parse(
                Self.file(
                    version: 2, leaf: leaf, [Self.message(1, "user", "x"), Self.message(8, "system", "y", parent: "1")])
            )
            #expect(other[0].currentLeafIndex == 0)
        }
    }

    @Test func aDeepChainInAVersion2FileImports() throws {
        let count = 100_000
        // Listed leaf first: every parent is a forward reference, so the chain is read backwards.
        var messages: [String] = []
        messages.reserveCapacity(count)
        for id in stride(from: count, to: 0, by: -1) {
            messages.append(
                Self.message(id, id % 2 == 1 ? "user" : "assistant", "m\(id)", parent: id > 1 ? "\(id - 1)" : nil))
        }
        let conversations = try Self.parse(Self.file(version: 2, leaf: "\(count)", messages))
        let imported = try #require(conversations.first)
        #expect(imported.messages.count == count)
        #expect(imported.messages.first?.parentIndex == nil)
        #expect(
            imported.messages.dropFirst().dropLast().enumerated().allSatisfy { $0.element.parentIndex == $0.offset })
        #expect(imported.messages.last?.parentIndex == nil, "the first message of the file names no parent")
        #expect(imported.currentLeafIndex == 0)
    }
}

// MARK: ChatGPT

extension TreeTransferTests {
    static func node(
        _ id: String, parent: String?, children: [String], role: String? = nil, text: String = "", hidden: Bool = false
    ) -> String {
        let parentField = parent.map { "\"\($0)\"" } ?? "null"
        let childrenField = children.map { "\"\($0)\"" }.joined(separator: ",")
        let message =
            role.map {
                """
                {"author":{"role":"\($0)"},"content":{"content_type":"text","parts":["\(text)"]},\
                "create_time":1700000001.0\(hidden ? ",\"metadata\":{\"is_visually_hidden_from_conversation\":true}" : "")}
                """
            } ?? "null"
        return
            "\"\(id)\":{\"id\":\"\(id)\",\"parent\":\(parentField),\"children\":[\(childrenField)],\"message\":\(message)}"
    }

    static func chatGPT(current: String?, _ nodes: [String], title: String = "gpt") -> String {
        let currentField = current.map { ",\"current_node\":\"\($0)\"" } ?? ""
        return """
            [{"title":"\(title)","create_time":1700000000,"update_time":1700000100\(currentField),\
            "mapping":{\(nodes.joined(separator: ","))}}]
            """
    }

    /// A regenerated answer (a1, a2) and an edited question (u1, u1b); system, tool and hidden nodes between.
    static let regeneratedAndEdited = chatGPT(
        current: "a2",
        [
            node("root", parent: nil, children: ["sys"]),
            node("sys", parent: "root", children: ["u1", "u1b"], role: "system", text: "You are ChatGPT"),
            node("u1", parent: "sys", children: ["a1", "a2"], role: "user", text: "What is 2+2?"),
            node("a1", parent: "u1", children: [], role: "assistant", text: "5"),
            node("a2", parent: "u1", children: [], role: "assistant", text: "4"),
            node("u1b", parent: "sys", children: ["tool"], role: "user", text: "What is 3+3?"),
            node("tool", parent: "u1b", children: ["hidden"], role: "tool", text: "calculator: 6"),
            node("hidden", parent: "tool", children: ["a3"], role: "assistant", text: "thinking", hidden: true),
            node("a3", parent: "hidden", children: [], role: "assistant", text: "6")
        ])

    @Test func chatGPTsRegeneratedAnswerAndEditedQuestionKeepBothBranches() throws {
        let conversations = try Self.parse(Self.regeneratedAndEdited)
        #expect(
            Self.shape(conversations[0]) == [
                "What is 2+2?<-", "5<What is 2+2?", "4<What is 2+2?", "What is 3+3?<-", "6<What is 3+3?", "leaf 4"
            ])
    }

    @Test func aDamagedChatGPTTreeImportsWithoutLooping() throws {
        // A cycle with no root, a node its own parent, a parent not in the mapping, children that do not exist
        // or do not name the node as their parent.
        let conversations = try Self.parse(
            "["
                + [
                    Self.chatGPT(
                        current: "x",
                        [
                            Self.node("x", parent: "y", children: ["y"], role: "user", text: "x"),
                            Self.node("y", parent: "x", children: ["x"], role: "assistant", text: "y")
                        ], title: "cycle"),
                    Self.chatGPT(
                        current: "nowhere",
                        [
                            Self.node("s", parent: "s", children: ["s", "ghost", "o"], role: "user", text: "self"),
                            Self.node("o", parent: "missing", children: ["s"], role: "assistant", text: "orphan")
                        ], title: "odd")
                ].map { String($0.dropFirst().dropLast()) }.joined(separator: ",") + "]")
        #expect(conversations.map(\.title) == ["cycle", "odd"])
        #expect(Self.shape(conversations[0]) == ["x<-", "y<x", "leaf x"])
        #expect(Self.shape(conversations[1]) == ["orphan<-", "self<-", "leaf self"])
    }

    @Test func aChatGPTChainAHundredThousandDeepImports() throws {
        let count = 100_000
        var nodes = [Self.node("n0", parent: nil, children: ["n1"])]
        nodes.reserveCapacity(count + 1)
        for index in 1...count {
            nodes.append(
                Self.node(
                    "n\(index)", parent: "n\(index - 1)", children: index < count ? ["n\(index + 1)"] : [],
                    role: index % 2 == 1 ? "user" : "assistant", text: "m\(index)"))
        }
        let conversations = try Self.parse(Self.chatGPT(current: "n\(count / 2)", nodes))
        let imported = try #require(conversations.first)
        #expect(imported.messages.count == count)
        #expect(imported.messages.first?.content == "m1")
        #expect(imported.messages.dropFirst().enumerated().allSatisfy { $0.element.parentIndex == $0.offset })
        #expect(imported.currentLeafIndex == count / 2 - 1)
    }
}

// MARK: Markdown

extension TreeTransferTests {
    static func record(_ id: Int64, _ role: MessageRole, _ content: String, parent: Int64?) -> Message {
        Message(
            id: id, conversationID: 1, role: role, content: content, status: .completed, error: nil, createdAt: 0,
            parentID: parent)
    }

    @Test func markdownWritesTheSelectedPathOnly() {
        var conversation = Conversation(
            id: 1, userID: 1, title: "Versions", titleSetByUser: true, createdAt: 0, updatedAt: 0)
        let messages = [
            Self.record(1, .user, "first question", parent: nil),
            Self.record(2, .assistant, "first answer", parent: 1),
            Self.record(3, .user, "first question, edited", parent: nil),
            Self.record(4, .assistant, "answer to the edit", parent: 3),
            Self.record(5, .assistant, "answer to the edit, regenerated", parent: 3),
            Self.record(6, .user, "follow-up", parent: 2)
        ]
        conversation.currentLeafID = 4
        let selected = Transfer.markdown(conversation, messages)
        #expect(selected.contains("## User\n\nfirst question, edited\n"))
        #expect(selected.contains("## Assistant\n\nanswer to the edit\n"))
        for other in ["first question\n", "first answer", "regenerated", "follow-up"] {
            #expect(!selected.contains(other), "\(other)")
        }
        // Without a current leaf: the path of the last message.
        conversation.currentLeafID = nil
        let last = Transfer.markdown(conversation, messages)
        #expect(last.contains("first question\n") && last.contains("first answer") && last.contains("follow-up"))
        #expect(!last.contains("edited"))
        // A damaged tree (a cycle) ends; messages with no parents at all (before the tree) read as one chain.
        let cycle = [Self.record(1, .user, "a", parent: 2), Self.record(2, .assistant, "b", parent: 1)]
        #expect(Transfer.selectedPath(conversation, cycle).map(\.id) == [1, 2])
        let flat = [Self.record(1, .user, "a", parent: nil), Self.record(2, .assistant, "b", parent: nil)]
        #expect(Transfer.selectedPath(conversation, flat).map(\.id) == [1, 2])
    }
}

// MARK: The store and the API, on SQLite and MariaDB

extension TreeTransferTests {
    /// A long branched conversation: a chain of `length` messages where every 7th answer has a regenerated
    /// sibling and every 50th question an edited version under the same parent; the leaf is on an older branch.
    static func longTree(_ length: Int) -> ImportedConversation {
        var messages: [ImportedConversation.Entry] = []
        var tip: Int?
        var selected = 0
        for index in 0..<length {
            let role: MessageRole = index % 2 == 0 ? .user : .assistant
            var entry = ImportedConversation.Entry(
                role: role, content: "m\(index)", status: .completed, error: nil, createdAt: 1_700_000_000_000)
            entry.parentIndex = tip
            messages.append(entry)
            if index % 7 == 1 || index % 50 == 0 {
                var sibling = entry
                sibling.content = "m\(index) other"
                messages.append(sibling)
            }
            tip = messages.count - 1
            if index == length / 3 { selected = tip! }
        }
        var conversation = ImportedConversation(
            title: "long tree", createdAt: 1_700_000_000_000, updatedAt: 1_700_000_000_000, messages: messages)
        conversation.currentLeafIndex = selected
        return conversation
    }

    @Test(arguments: Backend.all)
    func theStoreKeepsATreeAcrossBatchesAndExportsItBack(backend: Backend) async throws {
        try await backend.withStore { store in
            let user = try await store.createUser(username: "tree", usernameKey: "tree", passwordHash: "h", role: .user)
            let branched = try #require(try Self.parse(Self.branched).first)
            let chatGPT = try #require(try Self.parse(Self.regeneratedAndEdited).first)
            let originals = [Self.longTree(600), branched, chatGPT]
            // Small batches: the long conversation is split across transactions and INSERTs of 100 rows, and
            // parents lie in earlier batches.
            let added = try await store.importConversations(
                userID: user.id, originals, batching: ImportBatching(conversations: 2, messages: 130),
                afterBatch: { _ in })
            #expect(added == [true, true, true])
            let stored = try await store.exportedConversations(userID: user.id)
            #expect(stored.count == 3)
            for conversation in stored {
                let original = try #require(originals.first { $0.title == conversation.title })
                let messages = try await store.messages(conversationID: conversation.id)
                #expect(messages.count == original.messages.count)
                let leaf = try #require(conversation.currentLeafID)
                #expect(messages.contains { $0.id == leaf })
                // Export v2, then read back: the same tree and leaf.
                let exported = Transfer.exported(conversation, messages)
                let envelope = Transfer.Export(
                    format: "chatbox-export", version: 2, exportedAt: nil, username: nil, conversations: [exported])
                let data = try APICoding.encoder.encode(envelope)
                let again = try #require(try Transfer.parse(data).conversations.first)
                #expect(Self.shape(again) == Self.shape(original), "\(conversation.title)")
            }
        }
    }

    @Test(arguments: Backend.all)
    func aMessageWrittenIntoTheConversationBetweenBatchesDoesNotConfuseTheParents(backend: Backend) async throws {
        try await backend.withStore { store in
            let user = try await store.createUser(username: "busy", usernameKey: "busy", passwordHash: "h", role: .user)
            let original = Self.longTree(150)
            let db = store.db
            // After the first batch, the half-imported conversation gets a message from elsewhere (a chat turn).
            _ = try await store.importConversations(
                userID: user.id, [original], batching: ImportBatching(conversations: 1, messages: 60),
                afterBatch: { batch in
                    guard batch == 1 else { return }
                    let id = try #require(try await store.exportedConversations(userID: user.id).first?.id)
                    try await db.raw(
                        """
                        INSERT INTO messages (conversation_id, role, content, status, created_at, updated_at) \
                        VALUES (\(bind: id), 'user', 'from elsewhere', 'completed', 1, 1)
                        """
                    ).run()
                })
            let conversation = try #require(try await store.exportedConversations(userID: user.id).first)
            let messages = try await store.messages(conversationID: conversation.id).filter {
                $0.content != "from elsewhere"
            }
            let imported = ImportedConversation(
                title: original.title, createdAt: original.createdAt, updatedAt: original.updatedAt,
                messages: try Self.parse(
                    String(
                        decoding: try APICoding.encoder.encode(
                            Transfer.Export(
                                format: "chatbox-export", version: 2, exportedAt: nil, username: nil,
                                conversations: [Transfer.exported(conversation, messages)])), as: UTF8.self))[0]
                    .messages)
            var withLeaf = imported
            withLeaf.currentLeafIndex = messages.firstIndex { $0.id == conversation.currentLeafID }
            #expect(Self.shape(withLeaf) == Self.shape(original))
        }
    }

    @Test(arguments: Backend.all)
    func aVersion2ExportRoundTripsThroughTheAPI(backend: Backend) async throws {
        let file = TextBox()
        try await withLiveApp(TestConfig.make(database: backend.freshLocation())) { api in
            let token = try await api.signUp("branching")
            let report = try await api.importHistory(token: token, Self.branched)
            #expect(report.status == .ok, "\(report.text)")
            #expect(report.json["imported_messages"] as? Int == 7)
            let export = try await api.exportAll(token: token)
            #expect(export.json["version"] as? Int == 2)
            let conversation = try #require((export.json["conversations"] as? [[String: Any]])?.first)
            #expect(Self.shape(exported: conversation) == Self.branchedShape)
            file.text = export.text
            // Markdown: the selected path only.
            let id = try #require((conversation["id"] as? NSNumber)?.int64Value)
            let markdown = try await api.exportMarkdown(token: token, id).text
            #expect(markdown.contains("## User\n\nq1 edited\n"))
            #expect(markdown.contains("## Assistant\n\na2 again\n"))
            #expect(markdown.contains("> Failed: boom"))
            #expect(!markdown.contains("## User\n\nq1\n") && !markdown.contains("a1\n") && !markdown.contains("a2\n"))
        }
        try await withLiveApp(TestConfig.make(database: backend.freshLocation())) { api in
            let token = try await api.signUp("newhome")
            #expect(try await api.importHistory(token: token, file.text).json["imported"] as? Int == 1)
            let export = try await api.exportAll(token: token)
            let conversation = try #require((export.json["conversations"] as? [[String: Any]])?.first)
            #expect(Self.shape(exported: conversation) == Self.branchedShape)
        }
    }

    @Test(arguments: Backend.all)
    func aDeepChatGPTChainImportsThroughTheAPI(backend: Backend) async throws {
        // 5,000 deep: the test client gives up after 20 s, and a debug build on a busy machine (with the MariaDB
        // search index to fill) is slow to store many messages (10,000 timed out once on MariaDB with the whole
        // suite running); the parsing tests above go 100,000 deep.
        let count = 5_000
        var nodes = [Self.node("n0", parent: nil, children: ["n1"])]
        for index in 1...count {
            nodes.append(
                Self.node(
                    "n\(index)", parent: "n\(index - 1)", children: index < count ? ["n\(index + 1)"] : [],
                    role: index % 2 == 1 ? "user" : "assistant", text: "m\(index)"))
        }
        nodes.append(Self.node("c1", parent: "c2", children: [], role: "user", text: "cycle"))
        nodes.append(Self.node("c2", parent: "c1", children: [], role: "assistant", text: "cycle back"))
        let file = Self.chatGPT(current: "n\(count)", nodes)
        try await withLiveApp(TestConfig.make(database: backend.freshLocation()) { $0.maxImportBytes = 64 << 20 }) {
            api in
            let token = try await api.signUp("deep")
            let report = try await api.importHistory(token: token, file)
            #expect(report.status == .ok, "\(report.text.prefix(300))")
            #expect(report.json["imported_messages"] as? Int == count + 2)
            let export = try await api.exportAll(token: token)
            let conversation = try #require((export.json["conversations"] as? [[String: Any]])?.first)
            let shape = Self.shape(exported: conversation)
            #expect(shape.count == count + 3)
            #expect(shape.prefix(3) == ["m1<-", "m2<m1", "m3<m2"])
            #expect(shape.last == "leaf m\(count)")
            #expect(shape.contains("cycle back<cycle"))
        }
    }
}
