import Chatbox
import Foundation
import HTTPTypes
import Testing

@Suite("Conversations")
struct ConversationTests {
    @Test func createGetRenameDeleteRoundTrip() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let token = try await api.signUp("owner")
            let created = try await api.createConversation(token: token, title: "  Trip   to\nKyoto ")
            #expect(created.status == .created)
            let conversation = try #require(created.json["conversation"] as? [String: Any])
            #expect(conversation["title"] as? String == "Trip to Kyoto")
            let id = try #require((conversation["id"] as? NSNumber)?.int64Value)
            let iso = try #require(conversation["created_at"] as? String)
            #expect(iso.hasSuffix("Z") && iso.count == 24)

            let fetched = try await api.getConversation(id, token: token)
            #expect(fetched.status == .ok)
            #expect((fetched.json["messages"] as? [Any])?.isEmpty == true)

            let renamed = try await api.renameConversation(id, title: "京都之旅 🏯", token: token)
            #expect(renamed.status == .ok)
            #expect((renamed.json["conversation"] as? [String: Any])?["title"] as? String == "京都之旅 🏯")

            #expect(try await api.deleteConversation(id, token: token).status == .noContent)
            #expect(try await api.getConversation(id, token: token).status == .notFound)
            #expect(try await api.deleteConversation(id, token: token).status == .notFound)
        }
    }

    @Test func aNewConversationWithoutATitleIsUntitled() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let token = try await api.signUp("blank")
            let reply = try await api.call(.post, "/api/conversations", token: token)
            #expect(reply.status == .created)
            #expect((reply.json["conversation"] as? [String: Any])?["title"] as? String == "")
        }
    }

    @Test func anotherUsersConversationIsNotFoundForEveryVerb() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let alice = try await api.signUp("alice")
            let mallory = try await api.signUp("mallory")
            let id = try await api.newConversation(token: alice, title: "secret plans")
            for reply in [
                try await api.getConversation(id, token: mallory),
                try await api.renameConversation(id, title: "pwned", token: mallory),
                try await api.deleteConversation(id, token: mallory)
            ] {
                #expect(reply.status == .notFound)
                #expect(!reply.text.contains("secret"))
            }
            let list = try await api.listConversations(token: mallory)
            #expect((list.json["conversations"] as? [Any])?.isEmpty == true)
            let still = try await api.getConversation(id, token: alice)
            #expect((still.json["conversation"] as? [String: Any])?["title"] as? String == "secret plans")
        }
    }

    @Test func theListIsNewestFirstAndPagesWithACursor() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let token = try await api.signUp("pager")
            var ids: [Int64] = []
            for index in 0..<7 { ids.append(try await api.newConversation(token: token, title: "c\(index)")) }
            // Touch the oldest one: it moves to the top.
            _ = try await api.renameConversation(ids[0], title: "c0 renamed", token: token)
            var seen: [String] = []
            var cursor: String?
            repeat {
                let query = "limit=3" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await api.listConversations(token: token, query: query)
                #expect(page.status == .ok)
                seen += (page.json["conversations"] as? [[String: Any]] ?? []).compactMap { $0["title"] as? String }
                cursor = page.json["next_cursor"] as? String
            } while cursor != nil
            #expect(seen == ["c6", "c5", "c4", "c3", "c2", "c1", "c0 renamed"].reversed().reversed())
        }
    }

    @Test func searchMatchesTitlesAndTreatsWildcardsLiterally() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let token = try await api.signUp("searcher")
            _ = try await api.newConversation(token: token, title: "Budget 50% cut")
            _ = try await api.newConversation(token: token, title: "Budget 500 items")
            _ = try await api.newConversation(token: token, title: "snake_case names")
            _ = try await api.newConversation(token: token, title: "snakeXcase names")
            _ = try await api.newConversation(token: token, title: "学习 Swift")
            func titles(_ q: String) async throws -> [String] {
                let encoded = q.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? q
                let reply = try await api.listConversations(token: token, query: "q=\(encoded)")
                return (reply.json["conversations"] as? [[String: Any]] ?? []).compactMap { $0["title"] as? String }
            }
            #expect(try await titles("50%") == ["Budget 50% cut"])
            #expect(try await titles("e_c") == ["snake_case names"])
            #expect(try await titles("学习") == ["学习 Swift"])
            #expect(try await titles("budget").count == 2)
            #expect(try await titles("'; DROP TABLE users; --").isEmpty)
        }
    }

    @Test(arguments: ["limit=0", "limit=201", "limit=abc", "limit=-5", "cursor=%%%", "cursor=bm9wZQ"])
    func absurdPagingValuesAreA400(query: String) async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let token = try await api.signUp("paging")
            let reply = try await api.listConversations(token: token, query: query)
            #expect(reply.status == .badRequest, "\(query)")
            #expect(reply.errorMessage != nil)
        }
    }

    @Test(arguments: ["abc", "0", "-1", "99999999999999999999999", "1.5"])
    func nonNumericOrImpossibleIdsAreNotFound(id: String) async throws {
        try await withLiveApp(TestConfig.make()) { api in
            let token = try await api.signUp("ids")
            let reply = try await api.call(.get, "/api/conversations/\(id)", token: token)
            #expect(reply.status == .notFound)
            #expect(reply.errorMessage == "Conversation not found.")
        }
    }

    @Test func everyConversationRouteNeedsASession() async throws {
        try await withLiveApp(TestConfig.make()) { api in
            for (method, path) in [
                (HTTPRequest.Method.get, "/api/conversations"), (.post, "/api/conversations"),
                (.get, "/api/conversations/1"), (.patch, "/api/conversations/1"), (.delete, "/api/conversations/1")
            ] {
                let reply = try await api.call(method, path, json: "{}")
                #expect(reply.status == .unauthorized, "\(method) \(path)")
            }
        }
    }
}
