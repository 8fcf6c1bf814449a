import Chatbox
import FakeUpstream
import Foundation
import Testing

@Suite("Export and import of history")
struct TransferTests {
    /// The user's conversations as (title, [(role, content, status)]), newest first.
    static func history(_ api: API, token: String) async throws -> [String] {
        let export = try await api.exportAll(token: token)
        let conversations = export.json["conversations"] as? [[String: Any]] ?? []
        return conversations.map { conversation in
            let messages = (conversation["messages"] as? [[String: Any]] ?? []).map {
                "\($0["role"] ?? "")|\($0["status"] ?? "")|\($0["content"] ?? "")"
            }
            return "\(conversation["title"] ?? "")#\(conversation["created_at"] ?? "")#"
                + messages.joined(separator: "~")
        }
    }

    @Test func exportThenImportIntoAnotherServerReproducesTheConversations() async throws {
        let file = TextBox()
        let original = StringsBox()
        try await withChatApp { chat in
            for question in ["first 你好 🌏 [[fake reply=\"one\"]]", "second [[fake status=500 message=\"nope\"]]"] {
                let id = try await chat.conversation()
                _ = try await chat.events.send(id, question).all()
                _ = try await chat.events.send(id, "follow-up [[fake reply=\"two\"]]").all()
            }
            let export = try await chat.api.exportAll(token: chat.token)
            #expect(export.status == .ok)
            #expect(export.headers[.contentDisposition]?.contains("attachment") == true)
            #expect(export.json["format"] as? String == "chatbox-export")
            #expect(export.json["version"] as? Int == 2)
            file.text = export.text
            original.values = try await Self.history(chat.api, token: chat.token)
        }
        try await withLiveApp(TestConfig.make()) { api in
            let token = try await api.signUp("newhome")
            let report = try await api.importHistory(token: token, file.text)
            #expect(report.status == .ok)
            #expect(report.json["source"] as? String == "chatbox")
            #expect(report.json["imported"] as? Int == 2)
            #expect(report.json["imported_messages"] as? Int == 8)
            #expect(try await Self.history(api, token: token) == original.values)
            // The same file again adds nothing.
            let again = try await api.importHistory(token: token, file.text)
            #expect(again.json["imported"] as? Int == 0)
            #expect((again.json["skipped"] as? [[String: Any]])?.first?["reason"] as? String == "it is already here")
            #expect(try await Self.history(api, token: token) == original.values)
        }
    }

    @Test func oneConversationExportsAsMarkdown() async throws {
        try await withChatApp { chat in
            let id = try await chat.conversation(title: "Recipe")
            _ = try await chat.events.send(id, "How to bake? [[fake reply=\"Use an **oven**.\"]]").all()
            let markdown = try await chat.api.exportMarkdown(token: chat.token, id)
            #expect(markdown.status == .ok)
            #expect(markdown.headers[.contentType]?.hasPrefix("text/markdown") == true)
            #expect(markdown.text.hasPrefix("# Recipe\n"))
            #expect(markdown.text.contains("## User\n\nHow to bake?"))
            #expect(markdown.text.contains("## Assistant\n\nUse an **oven**."))
            let stranger = try await chat.api.signUp("stranger")
            #expect(try await chat.api.exportMarkdown(token: stranger, id).status == .notFound)
        }
    }

    /// A ChatGPT `conversations.json` in its documented shape: a tree of messages with a regenerated answer.
    static let chatGPTExport = """
        [{"title": "Branching chat", "create_time": 1700000000.5, "update_time": 1700000100.0, "current_node": "a2",
          "mapping": {
            "root": {"id": "root", "message": null, "parent": null, "children": ["sys"]},
            "sys": {"id": "sys", "parent": "root", "children": ["u1"], "message": {"author": {"role": "system"},
                    "content": {"content_type": "text", "parts": [""]}, "create_time": null}},
            "u1": {"id": "u1", "parent": "sys", "children": ["a1", "a2"], "message": {"author": {"role": "user"},
                   "content": {"content_type": "text", "parts": ["What is 2+2?"]}, "create_time": 1700000001.0}},
            "a1": {"id": "a1", "parent": "u1", "children": [], "message": {"author": {"role": "assistant"},
                   "content": {"content_type": "text", "parts": ["5 (abandoned branch)"]}, "create_time": 1700000002.0}},
            "a2": {"id": "a2", "parent": "u1", "children": [], "message": {"author": {"role": "assistant"},
                   "content": {"content_type": "text", "parts": ["It is 4."]}, "create_time": 1700000003.0}}
          }},
         {"title": "Empty", "create_time": 1700000200, "mapping": {"r": {"id": "r", "message": null, "parent": null, "children": []}}}]
        """

    @Test func chatGPTsExportImportsEveryBranchWithItsCurrentNodeSelected() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let token = try await api.signUp("migrant")
            let report = try await api.importHistory(token: token, Self.chatGPTExport)
            #expect(report.status == .ok)
            #expect(report.json["source"] as? String == "chatgpt")
            #expect(report.json["imported"] as? Int == 1)
            #expect((report.json["skipped"] as? [[String: Any]])?.first?["title"] as? String == "Empty")
            let history = try await Self.history(api, token: token)
            #expect(
                history == [
                    "Branching chat#2023-11-14T22:13:20.500Z#user|completed|What is 2+2?"
                        + "~assistant|completed|5 (abandoned branch)~assistant|completed|It is 4."
                ])
            let conversation = try #require(
                (try await api.exportAll(token: token).json["conversations"] as? [[String: Any]])?.first)
            #expect(
                TreeTransferTests.shape(exported: conversation) == [
                    "What is 2+2?<-", "5 (abandoned branch)<What is 2+2?", "It is 4.<What is 2+2?", "leaf It is 4."
                ])
        }
    }

    @Test(arguments: [
        ("{not json", 422), ("{\"format\": \"something else\"}", 422), ("42", 422),
        (
            "{\"format\":\"chatbox-export\",\"version\":1,\"conversations\":[{\"title\":\"ok\",\"created_at\":\"2024-01-01T00:00:00Z\",\"messages\":[]},{\"title\":5}]}",
            422
        ),
        ("{\"format\":\"chatbox-export\",\"version\":9,\"conversations\":[]}", 422),
        ("[{\"title\": \"no tree\"}]", 422)
    ])
    func aMalformedFileIsRefusedAndImportsNothing(body: String, status: Int) async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let token = try await api.signUp("careful")
            let reply = try await api.importHistory(token: token, body)
            #expect(Int(reply.status.code) == status, "\(body): \(reply.text)")
            #expect(reply.errorMessage?.isEmpty == false)
            #expect(try await Self.history(api, token: token).isEmpty)
        }
    }

    @Test func aHugeFileIsRefused() async throws {
        try await withLiveApp(TestConfig.make { $0.maxImportBytes = 10_000 }) { api in
            let token = try await api.signUp("hoarder")
            let huge =
                "[" + String(repeating: "{\"title\":\"x\",\"mapping\":{}},", count: 2000)
                + "{\"title\":\"x\",\"mapping\":{}}]"
            let reply = try await api.importHistory(token: token, huge)
            #expect(reply.status == .contentTooLarge)
            #expect(try await Self.history(api, token: token).isEmpty)
        }
    }
}

final class TextBox: @unchecked Sendable { var text = "" }
final class StringsBox: @unchecked Sendable { var values: [String] = [] }
