import Chatbox
import Foundation
import Testing

@Suite(
    "MySQL/MariaDB: the whole flow and an outage",
    .enabled(if: Backend.mysqlURL != nil, "needs CHATBOX_TEST_MYSQL_URL (scripts/test.sh starts a server)"))
struct MariaDBFlowTests {
    @Test func registerChatAndReloadHistoryOnMariaDB() async throws {
        let location = Backend.mariadb.freshLocation()
        try await withChatApp(database: location) { chat in
            let id = try await chat.conversation()
            let events = try await chat.events.send(id, "你好 🌏 [[fake reply=\"你好！我是模型 🤖 𠜎\" title_reply=\"问候 🌏\"]]")
                .all()
            #expect(events.names.first == "start")
            #expect(events.first("done")?.object("message")["content"] as? String == "你好！我是模型 🤖 𠜎")
            #expect(events.first("title")?.json["title"] as? String == "问候 🌏")
            let stored = try await chat.stored(id)
            #expect(stored.title == "问候 🌏")
            #expect(
                stored.messages.map { $0["content"] as? String ?? "" } == [
                    "你好 🌏 [[fake reply=\"你好！我是模型 🤖 𠜎\" title_reply=\"问候 🌏\"]]", "你好！我是模型 🤖 𠜎"
                ])
            let list = try await chat.api.listConversations(token: chat.token, query: "q=%E9%97%AE%E5%80%99")
            #expect((list.json["conversations"] as? [Any])?.count == 1)
        }
        // Everything is still there after a restart.
        try await withLiveApp(TestConfig.make(database: location)) { api async throws in
            let login = try await api.login("chatter")
            #expect(login.status == .ok)
        }
    }

    @Test func aDatabaseOutageGivesCleanErrorsAndTheServerRecoversByItself() async throws {
        let dir = TestConfig.temporaryDirectory()
        let url = try await Shell.run("bash", Shell.script("start-mariadb.sh"), dir.path).split(separator: "\n").last
        let base = String(try #require(url))
        defer { Shell.runDetached("bash", Shell.script("stop-mariadb.sh"), dir.path) }
        try await withLiveApp(
            TestConfig.make(database: .mysql(url: base.replacingOccurrences(of: "chatbox_test", with: "outage")))
        ) { api in
            let token = try await api.signUp("survivor")
            _ = try await api.newConversation(token: token, title: "before the outage")
            #expect(try await api.health().status == .ok)

            try await Shell.run("bash", Shell.script("stop-mariadb.sh"), dir.path)
            let started = ContinuousClock.now
            let health = try await api.health()
            #expect(health.status == .serviceUnavailable)
            let list = try await api.listConversations(token: token)
            #expect(list.status == .serviceUnavailable || list.status == .unauthorized)
            #expect(list.errorMessage != nil)
            #expect(ContinuousClock.now - started < .seconds(15), "requests fail promptly instead of hanging")

            try await Shell.run("bash", Shell.script("start-mariadb.sh"), dir.path)
            let recovered = try await eventually(timeout: .seconds(20)) { try await api.health().status == .ok }
            #expect(recovered)
            let after = try await api.listConversations(token: token)
            #expect(after.status == .ok)
            #expect(
                (after.json["conversations"] as? [[String: Any]])?.first?["title"] as? String == "before the outage")
        }
    }
}
