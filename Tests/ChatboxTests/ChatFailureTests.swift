import Chatbox
import FakeUpstream
import Foundation
import Testing

@Suite("Streaming chat: when the model fails")
struct ChatFailureTests {
    /// Sends `content` and returns the final (done) message and the stored messages.
    static func failedTurn(_ chat: ChatHarness, _ content: String) async throws -> (
        done: [String: Any], stored: [[String: Any]]
    ) {
        let id = try await chat.conversation()
        let events = try await chat.events.send(id, content).all()
        let done = try #require(events.first("done")).object("message")
        let stored = try await chat.stored(id).messages
        #expect(stored.first?["content"] as? String == content, "the question is kept")
        #expect(stored.last?["status"] as? String == done["status"] as? String)
        #expect(stored.last?["error"] as? String == done["error"] as? String)
        return (done, stored)
    }

    @Test func anHTTPErrorFromTheProviderFailsWithItsMessage() async throws {
        try await withChatApp { chat in
            let (done, _) = try await Self.failedTurn(
                chat, "[[fake status=429 message=\"Rate limit reached for fake\"]]")
            #expect(done["status"] as? String == "failed")
            let error = try #require(done["error"] as? String)
            #expect(error.contains("429") && error.contains("Rate limit reached for fake"))
        }
    }

    @Test func aDroppedStreamFailsAndKeepsThePartialText() async throws {
        try await withChatApp { chat in
            let (done, stored) = try await Self.failedTurn(chat, "[[fake tokens=10 drop_after=4]]")
            #expect(done["status"] as? String == "failed")
            #expect(done["content"] as? String == "word1 word2 word3 word4 ")
            #expect(stored.last?["content"] as? String == "word1 word2 word3 word4 ")
        }
    }

    @Test func aModelThatNeverStartsHitsTheFirstTokenTimeout() async throws {
        try await withChatApp({ $0.model.firstTokenTimeout = .seconds(1) }) { chat in
            let started = ContinuousClock.now
            let (done, _) = try await Self.failedTurn(chat, "[[fake hang]]")
            #expect(
                ContinuousClock.now - started < .seconds(20),
                "the timeout ends the wait (a model that hangs is not waited for forever)")
            #expect(done["status"] as? String == "failed")
            #expect(done["error"] as? String == "The model did not start answering within 1 seconds.")
            #expect(try await eventually { chat.fake.openStreams == 0 }, "the upstream request was closed")
        }
    }

    @Test func aModelThatStallsHitsTheStallTimeoutAndKeepsItsText() async throws {
        try await withChatApp({ $0.model.stallTimeout = .seconds(1) }) { chat in
            let (done, _) = try await Self.failedTurn(chat, "[[fake tokens=10 stall_after=3]]")
            #expect(done["status"] as? String == "failed")
            #expect(done["error"] as? String == "The model stopped sending for 1 seconds.")
            #expect(done["content"] as? String == "word1 word2 word3 ")
        }
    }

    @Test func aMalformedStreamFails() async throws {
        try await withChatApp { chat in
            let (done, _) = try await Self.failedTurn(chat, "[[fake malformed=2]]")
            #expect(done["status"] as? String == "failed")
            #expect(done["content"] as? String == "word1 word2")
            #expect((done["error"] as? String)?.isEmpty == false)
        }
    }

    @Test func anEmptyAnswerFails() async throws {
        try await withChatApp(behaviour: { request in request.isTitleRequest ? .text("t") : .stream(tokens: []) }) {
            chat in
            let (done, _) = try await Self.failedTurn(chat, "say nothing")
            #expect(done["status"] as? String == "failed")
            #expect(done["error"] as? String == "The model finished without answering.")
        }
    }

    @Test func anUnreachableModelFailsClearly() async throws {
        try await withChatApp({ $0.model.baseURL = "http://127.0.0.1:9/v1" }) { chat in
            let (done, _) = try await Self.failedTurn(chat, "anyone there?")
            #expect(done["status"] as? String == "failed")
            #expect((done["error"] as? String)?.contains("Cannot reach the model") == true, "\(done)")
        }
    }

    @Test func aOneMegabyteTokenIsRelayedWhole() async throws {
        try await withChatApp({ $0.maxAnswerChars = 2_000_000 }) { chat in
            let id = try await chat.conversation()
            let events = try await chat.events.send(id, "[[fake huge_kb=1024]]").all()
            let done = try #require(events.first("done")).object("message")
            #expect(done["status"] as? String == "completed")
            #expect((done["content"] as? String)?.utf8.count ?? 0 >= 1024 * 1024)
            #expect(try await chat.stored(id).messages.last?["content"] as? String == done["content"] as? String)
        }
    }
}
