import Chatbox
import Foundation
import Testing

@Suite("The store, on every database")
struct StoreTests {
    @Test(arguments: Backend.all)
    func migratingTwiceIsSafe(backend: Backend) async throws {
        try await backend.withStore { store in
            try await store.migrate()
            try await store.migrate()
            #expect(try await store.userCount() == 0)
        }
    }

    @Test(arguments: Backend.all)
    func usernamesAreUniqueAndRoundTripInAnyScript(backend: Backend) async throws {
        try await backend.withStore { store in
            for name in ["张伟", "Zoë", "😀emoji𝒳"] {
                let user = try await store.createUser(
                    username: name, usernameKey: name.lowercased(), passwordHash: "h", role: .user)
                #expect(try await store.user(id: user.id)?.username == name)
                #expect(try await store.userCredentials(usernameKey: name.lowercased())?.user.id == user.id)
            }
            await #expect(throws: StoreError.duplicate) {
                try await store.createUser(username: "ZOË", usernameKey: "zoë", passwordHash: "h", role: .user)
            }
        }
    }

    @Test(arguments: Backend.all)
    func textRoundTripsExactly(backend: Backend) async throws {
        try await backend.withStore { store in
            let user = try await store.createUser(username: "u", usernameKey: "u", passwordHash: "h", role: .user)
            let title = "京都之旅 🏯 𠜎 \"quotes\" 'single' \\ back"
            let conversation = try await store.createConversation(userID: user.id, title: title)
            let big = String(repeating: "汉字🙂 ", count: 60_000)  // ~0.7 MB of 3- and 4-byte characters
            let turn = try await store.beginTurn(conversationID: conversation.id, userContent: big, now: .now())
            try await store.finishMessage(
                messageID: turn.assistant.id, content: "tab\tand ✓", status: .completed, error: nil, now: .now())
            let messages = try await store.messages(conversationID: conversation.id)
            #expect(messages.map(\.content) == [big, "tab\tand ✓"])
            #expect(try await store.conversation(id: conversation.id, userID: user.id)?.title == title)
        }
    }

    @Test(arguments: Backend.all)
    func sessionsExpireSlideAndAreRevoked(backend: Backend) async throws {
        try await backend.withStore { store in
            let user = try await store.createUser(username: "s", usernameKey: "s", passwordHash: "h", role: .user)
            let now = Millis.now()
            let live = try await store.createSession(
                userID: user.id, tokenHash: String(repeating: "a", count: 64), expiresAt: now + 60_000)
            _ = try await store.createSession(
                userID: user.id, tokenHash: String(repeating: "b", count: 64), expiresAt: now - 1)
            #expect(try await store.session(tokenHash: String(repeating: "a", count: 64), now: now)?.user.id == user.id)
            #expect(try await store.session(tokenHash: String(repeating: "b", count: 64), now: now) == nil)
            try await store.touchSession(id: live.id, now: now + 70_000, expiresAt: now + 200_000)
            #expect(try await store.session(tokenHash: String(repeating: "a", count: 64), now: now + 100_000) != nil)
            #expect(try await store.deleteExpiredSessions(now: now) == 1)
            try await store.deleteSessions(userID: user.id, except: nil)
            #expect(try await store.session(tokenHash: String(repeating: "a", count: 64), now: now) == nil)
        }
    }

    @Test(arguments: Backend.all)
    func conversationsPageNewestFirstAndSearchLiterally(backend: Backend) async throws {
        try await backend.withStore { store in
            let user = try await store.createUser(username: "p", usernameKey: "p", passwordHash: "h", role: .user)
            let other = try await store.createUser(username: "o", usernameKey: "o", passwordHash: "h", role: .user)
            for index in 0..<25 { _ = try await store.createConversation(userID: user.id, title: "chat \(index)") }
            _ = try await store.createConversation(userID: other.id, title: "chat of someone else")
            var seen: [String] = []
            var cursor: PageCursor?
            repeat {
                let page = try await store.conversations(userID: user.id, limit: 10, after: cursor, query: nil)
                seen += page.conversations.map(\.title)
                cursor = page.next
            } while cursor != nil
            #expect(seen == (0..<25).reversed().map { "chat \($0)" })
            let withPercent = try await store.createConversation(userID: user.id, title: "100% sure")
            let turn = try await store.beginTurn(conversationID: withPercent.id, userContent: "提到了缓存_策略", now: .now())
            _ = turn
            #expect(
                try await store.conversations(userID: user.id, limit: 50, after: nil, query: "0%").conversations.map(
                    \.title) == ["100% sure"])
            #expect(
                try await store.conversations(userID: user.id, limit: 50, after: nil, query: "缓存_").conversations.map(
                    \.title) == ["100% sure"])
            #expect(
                try await store.conversations(userID: user.id, limit: 50, after: nil, query: "缓存%").conversations
                    .isEmpty)
            #expect(
                try await store.conversations(userID: other.id, limit: 50, after: nil, query: "chat").conversations
                    .count == 1)
        }
    }

    @Test(arguments: Backend.all)
    func aTurnItsProgressItsEndAndRegeneration(backend: Backend) async throws {
        try await backend.withStore { store in
            let user = try await store.createUser(username: "t", usernameKey: "t", passwordHash: "h", role: .user)
            let conversation = try await store.createConversation(userID: user.id, title: "")
            let turn = try await store.beginTurn(conversationID: conversation.id, userContent: "q1", now: .now())
            #expect(turn.assistant.status == .processing)
            try await store.saveProgress([AnswerProgress(messageID: turn.assistant.id, content: "par")])
            #expect(try await store.messages(conversationID: conversation.id).last?.content == "par")
            try await store.finishMessage(
                messageID: turn.assistant.id, content: "partial", status: .failed, error: "boom", now: .now())
            // A late progress write does not reopen a finished answer.
            try await store.saveProgress([AnswerProgress(messageID: turn.assistant.id, content: "late")])
            var messages = try await store.messages(conversationID: conversation.id)
            #expect(
                messages.last?.content == "partial" && messages.last?.status == .failed
                    && messages.last?.error == "boom")

            let again = try #require(try await store.beginRegeneration(conversationID: conversation.id, now: .now()))
            #expect(again.user.id == turn.user.id && again.assistant.parentID == turn.user.id)
            messages = try await store.messages(conversationID: conversation.id)
            #expect(messages.map(\.status) == [.completed, .failed, .processing], "the failed answer stays a version")
            #expect(
                try await store.conversation(id: conversation.id, userID: user.id)?.currentLeafID == again.assistant.id)
            #expect(try await store.failOrphanedAnswers(error: "restarted", now: .now()) == 1)
            #expect(try await store.messages(conversationID: conversation.id).last?.error == "restarted")

            #expect(try await store.setGeneratedTitle(conversationID: conversation.id, title: "Generated"))
            _ = try await store.updateConversation(
                id: conversation.id, userID: user.id, change: ConversationChange(title: "Mine"))
            #expect(try await !store.setGeneratedTitle(conversationID: conversation.id, title: "Generated again"))
            #expect(try await store.conversation(id: conversation.id, userID: user.id)?.title == "Mine")
        }
    }

    /// Two users, and a conversation of the first.
    static func ownerAndOther(_ store: SQLChatStore, title: String) async throws -> (User, User, Conversation) {
        let owner = try await store.createUser(username: "o", usernameKey: "o", passwordHash: "h", role: .user)
        let other = try await store.createUser(username: "p", usernameKey: "p", passwordHash: "h", role: .user)
        return (owner, other, try await store.createConversation(userID: owner.id, title: title))
    }

    @Test(arguments: Backend.all)
    func aConversationIsReadWithItsMessagesOnlyByItsOwner(backend: Backend) async throws {
        try await backend.withStore { store in
            let (owner, other, conversation) = try await Self.ownerAndOther(store, title: "mine")
            let empty = try await #require(
                try await store.conversationWithMessages(id: conversation.id, userID: owner.id))
            #expect(empty.0.title == "mine" && empty.1.isEmpty)
            let first = try await store.beginTurn(conversationID: conversation.id, userContent: "q1", now: .now())
            let second = try await store.beginTurn(conversationID: conversation.id, userContent: "q2", now: .now())
            let read = try await #require(
                try await store.conversationWithMessages(id: conversation.id, userID: owner.id))
            #expect(read.0.id == conversation.id && read.0.currentLeafID == second.assistant.id)
            #expect(
                read.1.map(\.id) == [first.user.id, first.assistant.id, second.user.id, second.assistant.id])
            #expect(read.1.map(\.content) == ["q1", "", "q2", ""])
            #expect(try await store.conversationWithMessages(id: conversation.id, userID: other.id) == nil)
            #expect(try await store.conversationWithMessages(id: conversation.id + 1000, userID: owner.id) == nil)
        }
    }

    /// Takes a path's messages until it has `limit`, from `leaf` (nil: the conversation's current leaf).
    struct CountingWalk: PathWalk {
        var leaf: Int64?
        let limit: Int
        var taken: [Int64] = []
        func leaf(of conversation: Conversation) -> Int64? { leaf ?? conversation.currentLeafID }
        mutating func take(_ message: Message) -> Bool {
            taken.append(message.id)
            return taken.count >= limit
        }
    }

    @Test(arguments: Backend.all)
    func aPathIsReadUpFromItsLeafOnlyAsFarAsItsWalkNeedsAndOnlyByItsOwner(backend: Backend) async throws {
        try await backend.withStore { store in
            let (owner, other, conversation) = try await Self.ownerAndOther(store, title: "tree")
            func turn(_ question: String, _ place: QuestionPlace) async throws -> (user: Message, assistant: Message) {
                try await store.beginTurn(
                    conversationID: conversation.id, userContent: question, place: place, model: nil, now: .now(),
                    claim: nil)
            }
            func path(_ walk: CountingWalk, as userID: Int64? = nil) async throws -> ([Int64], CountingWalk)? {
                try await store.conversationWithPath(id: conversation.id, userID: userID ?? owner.id, walk: walk)
                    .map { ($0.1.map(\.id), $0.2) }
            }
            let first = try await turn("q1", .afterCurrentLeaf)
            try await store.saveProgress([AnswerProgress(messageID: first.assistant.id, content: "a1", reasoning: "hm")]
            )
            let second = try await turn("q2", .afterCurrentLeaf)
            let branch = try await turn("q2 edited", .after(messageID: first.assistant.id))
            let current = [first.user.id, first.assistant.id, branch.user.id, branch.assistant.id]

            let whole = try #require(try await path(CountingWalk(limit: 100)))
            #expect(whole.0 == current, "the current leaf's path, oldest first; nothing of the other branch")
            #expect(whole.1.taken == current.reversed(), "taken from the leaf up")
            let read = try #require(
                try await store.conversationWithPath(
                    id: conversation.id, userID: owner.id, walk: CountingWalk(limit: 100)))
            #expect(read.1[1].content == "a1" && read.1[1].reasoning.isEmpty, "without the reasoning")

            #expect(try await path(CountingWalk(limit: 2))?.0 == [branch.user.id, branch.assistant.id])
            #expect(
                try await path(CountingWalk(leaf: second.user.id, limit: 100))?.0
                    == [first.user.id, first.assistant.id, second.user.id])
            #expect(try await path(CountingWalk(leaf: 999_999, limit: 100))?.0 == [], "an unknown leaf: no path")
            #expect(try await path(CountingWalk(limit: 100), as: other.id) == nil, "someone else's conversation")
        }
    }

    @Test(arguments: Backend.all)
    func deletingAConversationTakesItsMessagesAndOnlyTheOwnerCan(backend: Backend) async throws {
        try await backend.withStore { store in
            let owner = try await store.createUser(username: "d", usernameKey: "d", passwordHash: "h", role: .user)
            let other = try await store.createUser(username: "e", usernameKey: "e", passwordHash: "h", role: .user)
            let conversation = try await store.createConversation(userID: owner.id, title: "bye")
            _ = try await store.beginTurn(conversationID: conversation.id, userContent: "q", now: .now())
            await #expect(throws: StoreError.notFound) {
                try await store.deleteConversation(id: conversation.id, userID: other.id)
            }
            try await store.deleteConversation(id: conversation.id, userID: owner.id)
            #expect(try await store.messages(conversationID: conversation.id).isEmpty)
            #expect(try await store.conversation(id: conversation.id, userID: owner.id) == nil)
        }
    }

    @Test(arguments: Backend.all)
    func manySimultaneousTurnsOnASmallPoolStoreEveryMessageOnce(backend: Backend) async throws {
        // 20 writers on 2 connections: on a busy machine one may wait more than the default 10 s for its turn;
        // what is checked here is that nothing is lost or doubled, so they may wait as long as it takes.
        try await backend.withStore(poolSize: 2, poolTimeout: 300) { store in
            let users = 20, turnsEach = 10
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<users {
                    group.addTask {
                        let user = try await store.createUser(
                            username: "user\(index)", usernameKey: "user\(index)", passwordHash: "h", role: .user)
                        let conversation = try await store.createConversation(userID: user.id, title: "")
                        for turnIndex in 0..<turnsEach {
                            let turn = try await store.beginTurn(
                                conversationID: conversation.id, userContent: "q\(turnIndex)", now: .now())
                            try await store.saveProgress([AnswerProgress(messageID: turn.assistant.id, content: "a")])
                            try await store.finishMessage(
                                messageID: turn.assistant.id, content: "a\(turnIndex)", status: .completed, error: nil,
                                now: .now())
                        }
                    }
                }
                try await group.waitForAll()
            }
            for index in 0..<users {
                let user = try #require(try await store.userCredentials(usernameKey: "user\(index)")?.user)
                let page = try await store.conversations(userID: user.id, limit: 10, after: nil, query: nil)
                let messages = try await store.messages(conversationID: try #require(page.conversations.first).id)
                #expect(messages.count == turnsEach * 2)
                #expect(messages.filter { $0.role == .user }.map(\.content) == (0..<turnsEach).map { "q\($0)" })
                #expect(messages.allSatisfy { $0.status == .completed })
            }
        }
    }
}
