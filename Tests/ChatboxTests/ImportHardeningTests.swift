import Chatbox
import Foundation
import Testing

@Suite("Import hardening: dates, limits, batches")
struct ImportHardeningTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (Int64(-1), "1969-12-31T23:59:59.999Z"),
        (Int64(1_700_000_000_500), "2023-11-14T22:13:20.500Z"),
        (Int64(253_402_300_799_999), "9999-12-31T23:59:59.999Z"),
        (Int64(253_402_300_800_000), "+010000-01-01T00:00:00.000Z"),
        (Int64(-62_167_219_200_000), "0000-01-01T00:00:00.000Z"),
        (Int64(-62_167_219_200_001), "-000001-12-31T23:59:59.999Z"),
        (Int64(-12_212_510_185_820), "1583-01-01T12:03:34.180Z"),
        (Int64.max, "+292278994-08-17T07:12:55.807Z"),
        (Int64.min, "-292275055-05-16T16:47:04.192Z")
    ])
    func theDateFormatterIsTotal(millis: Int64, expected: String) {
        #expect(millis.iso8601 == expected)
    }

    static func chatGPT(_ title: String, createTime: String, messageTime: String = "1700000001") -> String {
        """
        {"title": "\(title)", "create_time": \(createTime), "update_time": null, "current_node": "u",
         "mapping": {"u": {"id": "u", "parent": null, "children": [], "message": {"author": {"role": "user"},
           "content": {"content_type": "text", "parts": ["hello"]}, "create_time": \(messageTime)}}}}
        """
    }

    @Test func badChatGPTTimestampsSkipTheirConversationOnly() async throws {
        let bad = ["1e300", "-1e300", "9.3e15", "-62167219201", "\"soon\"", "true", "{}", "-1"]
        var entries = bad.enumerated().map { Self.chatGPT("bad \($0.offset)", createTime: $0.element) }
        entries.append(Self.chatGPT("bad message", createTime: "1700000000", messageTime: "1e300"))
        entries.append(Self.chatGPT("fractional", createTime: "1700000000.4567"))
        entries.append(Self.chatGPT("numeric string", createTime: "\"1700000002\""))
        let file = "[" + entries.joined(separator: ",") + "]"
        try await withLiveApp(TestConfig.make()) { api in
            let token = try await api.signUp("timetraveller")
            let report = try await api.importHistory(token: token, file)
            #expect(report.status == .ok, "\(report.text)")
            #expect(report.json["imported"] as? Int == 2)
            let skipped = report.json["skipped"] as? [[String: Any]] ?? []
            #expect(skipped.count == bad.count + 1)
            for entry in skipped {
                #expect((entry["reason"] as? String)?.hasPrefix("skipped: bad date") == true, "\(entry)")
            }
            let history = try await TransferTests.history(api, token: token)
            #expect(
                Set(history) == [
                    "fractional#2023-11-14T22:13:20.457Z#user|completed|hello",
                    "numeric string#2023-11-14T22:13:22.000Z#user|completed|hello"
                ])
            #expect(try await api.listConversations(token: token).status == .ok)
        }
    }
}

extension ImportHardeningTests {
    static func chatbox(_ conversations: [String]) -> String {
        "{\"format\":\"chatbox-export\",\"version\":1,\"conversations\":[" + conversations.joined(separator: ",") + "]}"
    }

    static func conversation(
        _ title: String, created: String = "2024-01-01T00:00:00Z", updated: String? = nil,
        messageCreated: String? = nil, content: String = "hi"
    ) -> String {
        let updatedField = updated.map { ",\"updated_at\":\"\($0)\"" } ?? ""
        let messageField = messageCreated.map { ",\"created_at\":\"\($0)\"" } ?? ""
        return """
            {"title":"\(title)","created_at":"\(created)"\(updatedField),"messages":[{"role":"user","content":"\(content)"\(messageField)}]}
            """
    }

    @Test func badChatboxExportDatesSkipTheirConversationOnly() async throws {
        let file = Self.chatbox([
            Self.conversation("year 0", created: "0000-06-01T00:00:00Z"),
            Self.conversation("1969", created: "1969-12-31T23:59:59.999Z"),
            Self.conversation("not a date", created: "yesterday"),
            Self.conversation("bad updated", updated: "2024-13-45T00:00:00Z"),
            Self.conversation("bad message", messageCreated: "1555-05-15T12:03:34.180Z"),
            Self.conversation(
                "good", created: "2024-01-01T00:00:00.2Z", updated: "9999-12-31T23:59:59.999Z",
                messageCreated: "1970-01-01T00:00:00Z")
        ])
        try await withLiveApp(TestConfig.make()) { api in
            let token = try await api.signUp("archivist")
            let report = try await api.importHistory(token: token, file)
            #expect(report.status == .ok, "\(report.text)")
            #expect(report.json["imported"] as? Int == 1)
            let skipped = report.json["skipped"] as? [[String: Any]] ?? []
            #expect(
                skipped.map { $0["title"] as? String ?? "" } == [
                    "year 0", "1969", "not a date", "bad updated", "bad message"
                ])
            #expect(
                skipped.allSatisfy { ($0["reason"] as? String)?.hasPrefix("skipped: bad date") == true }, "\(skipped)")
            let export = try await api.exportAll(token: token)
            let conversations = export.json["conversations"] as? [[String: Any]] ?? []
            #expect(conversations.first?["updated_at"] as? String == "9999-12-31T23:59:59.999Z")
            #expect(conversations.first?["created_at"] as? String == "2024-01-01T00:00:00.200Z")
        }
    }

    @Test func aMessageOverTheLimitIsCutWithANote() async throws {
        let long = String(repeating: "汉", count: 300)
        let file = Self.chatbox([Self.conversation("long", content: long), Self.conversation("short", content: "fits")])
        try await withLiveApp(TestConfig.make { $0.maxMessageChars = 120 }) { api in
            let token = try await api.signUp("verbose")
            let report = try await api.importHistory(token: token, file)
            #expect(report.status == .ok, "\(report.text)")
            #expect(report.json["imported"] as? Int == 2)
            #expect(report.json["cut_messages"] as? Int == 1)
            let history = try await TransferTests.history(api, token: token)
            let content = try #require(history.first { $0.hasPrefix("long#") }?.components(separatedBy: "|").last)
            #expect(content.count == 120)
            #expect(content.hasPrefix(String(repeating: "汉", count: 50)))
            #expect(content.hasSuffix("…[cut: the message was longer than 120 characters]"))
            #expect(history.contains { $0.hasSuffix("|fits") })
            // Importing the export again cuts nothing more: the cut message fits now.
            let again = try await api.importHistory(token: token, try await api.exportAll(token: token).text)
            #expect(again.json["cut_messages"] as? Int == 0)
        }
    }

    static func conversations(_ count: Int, messages: Int) -> [ImportedConversation] {
        (0..<count).map { index in
            ImportedConversation(
                title: "chat \(index)", createdAt: 1_700_000_000_000 + Millis(index),
                updatedAt: 1_700_000_000_000 + Millis(index),
                messages: (0..<messages).map {
                    .init(
                        role: $0 % 2 == 0 ? .user : .assistant, content: "message \($0) of \(index)",
                        status: .completed,
                        error: nil, createdAt: 1_700_000_000_000 + Millis(index))
                })
        }
    }

    @Test(arguments: Backend.all)
    func aLargeImportGoesInSeveralShortTransactions(backend: Backend) async throws {
        try await backend.withStore { store in
            let user = try await store.createUser(username: "big", usernameKey: "big", passwordHash: "h", role: .user)
            let counter = BatchCounter()
            // 23 conversations of 7 messages; at most 5 conversations or 12 messages a batch: a conversation's
            // messages continue into the next batch.
            let batching = ImportBatching(conversations: 5, messages: 12)
            let added = try await store.importConversations(
                userID: user.id, Self.conversations(23, messages: 7), batching: batching,
                afterBatch: { _ in counter.add() })
            #expect(added == Array(repeating: true, count: 23))
            #expect(counter.value == 14)  // 161 messages, 12 a batch
            var titles: [String] = []
            for conversation in try await store.exportedConversations(userID: user.id) {
                titles.append(conversation.title)
                let messages = try await store.messages(conversationID: conversation.id)
                #expect(
                    messages.map(\.content) == (0..<7).map { "message \($0) of \(conversation.title.dropFirst(5))" })
            }
            #expect(Set(titles) == Set((0..<23).map { "chat \($0)" }))
            // The same again: every one is a duplicate, found in batches of 5.
            let again = try await store.importConversations(
                userID: user.id, Self.conversations(23, messages: 7), batching: batching,
                afterBatch: { _ in counter.add() })
            #expect(again == Array(repeating: false, count: 23))
            #expect(counter.value == 14 + 5)
        }
    }

    struct Midway: Error {}

    @Test(arguments: Backend.all)
    func aFailureMidwayLeavesNothingImported(backend: Backend) async throws {
        try await backend.withStore { store in
            let user = try await store.createUser(username: "oops", usernameKey: "oops", passwordHash: "h", role: .user)
            let kept = try await store.createConversation(userID: user.id, title: "there before")
            let counter = BatchCounter()
            await #expect(throws: Midway.self) {
                try await store.importConversations(
                    userID: user.id, Self.conversations(30, messages: 3), batching: ImportBatching(conversations: 4),
                    afterBatch: { batch in
                        counter.add()
                        if batch == 3 { throw Midway() }
                    })
            }
            #expect(counter.value == 3)
            #expect(try await store.exportedConversations(userID: user.id).map(\.id) == [kept.id])
        }
    }

    @Test func theExportStreamsManyConversationsAsOneDocument() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let token = try await api.signUp("prolific")
            let file = Self.chatbox(
                (0..<300).map {
                    Self.conversation(
                        "chat \($0)",
                        created: "2024-01-01T00:\(String(format: "%02d", $0 / 60)):\(String(format: "%02d", $0 % 60))Z",
                        content: String(repeating: "x", count: 500))
                })
            #expect(try await api.importHistory(token: token, file).json["imported"] as? Int == 300)
            let export = try await api.exportAll(token: token)
            #expect(export.status == .ok)
            #expect(export.headers[.contentLength] == nil, "written as it is read, so its length is not known up front")
            #expect(export.json["format"] as? String == "chatbox-export")
            #expect(export.json["username"] as? String == "prolific")
            let conversations = export.json["conversations"] as? [[String: Any]] ?? []
            #expect(conversations.count == 300)
            #expect(conversations.first?["title"] as? String == "chat 299")  // newest first
            #expect(conversations.allSatisfy { ($0["messages"] as? [Any])?.count == 1 })
        }
    }
}

final class BatchCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func add() { lock.withLock { count += 1 } }
}

extension ImportHardeningTests {
    @Test func oneImportPerUserAndAFewOnTheServer() throws {
        let gate = ImportGate(limit: 2)
        try gate.enter(1)
        #expect(throws: TransferError.importRunning) { try gate.enter(1) }
        try gate.enter(2)
        #expect(throws: TransferError.busy(retryAfterSeconds: 30)) { try gate.enter(3) }
        gate.leave(1)
        try gate.enter(3)
        #expect(throws: TransferError.busy(retryAfterSeconds: 30)) { try gate.enter(4) }
        gate.leave(2)
        gate.leave(3)
        try gate.enter(1)
        try gate.enter(4)
    }

    @Test func aLimitTooSmallForTheNoteCutsWithoutIt() async throws {
        let file = Self.chatbox([Self.conversation("tiny", content: String(repeating: "ab", count: 50))])
        try await withLiveApp(TestConfig.make { $0.maxMessageChars = 10 }) { api in
            let token = try await api.signUp("terse")
            let report = try await api.importHistory(token: token, file)
            #expect(report.json["cut_messages"] as? Int == 1, "\(report.text)")
            #expect(try await TransferTests.history(api, token: token).first?.hasSuffix("|ababababab") == true)
        }
    }
}

extension ImportHardeningTests {
    @Test(arguments: Backend.all)
    func aDamagedTreeImportsAndExportsAsAWellFormedOne(backend: Backend) async throws {
        typealias Tree = TreeTransferTests
        let file = Tree.file(
            version: 2, leaf: "4",
            [
                Tree.message(1, "user", "itself", parent: "1"), Tree.message(2, "assistant", "forward", parent: "3"),
                Tree.message(3, "user", "cycle", parent: "4"), Tree.message(4, "assistant", "back", parent: "3")
            ])
        try await withLiveApp(TestConfig.make(database: backend.freshLocation())) { api in
            let token = try await api.signUp("damaged")
            let report = try await api.importHistory(token: token, file)
            #expect(report.json["imported_messages"] as? Int == 4, "\(report.text)")
            let export = try await api.exportAll(token: token)
            let conversation = try #require((export.json["conversations"] as? [[String: Any]])?.first)
            #expect(
                TreeTransferTests.shape(exported: conversation) == [
                    "itself<-", "forward<itself", "cycle<forward", "back<cycle", "leaf back"
                ])
        }
    }

    @Test func aBadDateOnABranchNotSelectedStillSkipsTheChatGPTConversation() throws {
        typealias Tree = TreeTransferTests
        let file = Tree.chatGPT(
            current: "a",
            [
                Tree.node("q", parent: nil, children: ["a", "b"], role: "user", text: "question"),
                Tree.node("a", parent: "q", children: [], role: "assistant", text: "answer"),
                Tree.node("b", parent: "q", children: [], role: "assistant", text: "other answer")
                    .replacingOccurrences(of: "1700000001.0", with: "1e300")
            ])
        let parsed = try Transfer.parse(Data(file.utf8))
        #expect(parsed.conversations.isEmpty)
        #expect(parsed.skipped.first?.reason.hasPrefix("skipped: bad date") == true)
    }
}
