import Logging
import NIOCore
import NIOHTTP1
import Testing

@testable import Chatbox

/// The phases of one model response, driven by hand: no network, no event loop.
@Suite("OpenAIStreamState: the phases of one model response")
struct LLMOpenAIStreamStateTests {
    typealias Action = OpenAIStreamState.Action

    /// A state machine and the outputs it has handed out.
    struct Driver {
        var state: OpenAIStreamState
        var outputs: [ModelOutput] = []
        /// The answer pieces among the outputs.
        var pieces: [String] {
            outputs.compactMap { if case .answer(let text) = $0 { text } else { nil } }
        }

        init(limits: SSEParser.Limits = .model, streamOptions: Bool = false) {
            state = OpenAIStreamState(
                errors: ModelErrorText(url: "http://model.test:8000/v1", secrets: ["sk-secret-key"]),
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), limits: limits,
                refusalCanBeStreamOptions: streamOptions)
        }

        /// Connected, with this status: what `didSendRequestHead` and `didReceiveHead` tell it.
        static func answering(
            _ status: HTTPResponseStatus = .ok, limits: SSEParser.Limits = .model, streamOptions: Bool = false
        ) -> Driver {
            var driver = Driver(limits: limits, streamOptions: streamOptions)
            driver.state.requestSent()
            driver.state.receivedHead(status)
            return driver
        }

        mutating func body(_ text: String) -> Action {
            body(ByteBuffer(string: text))
        }

        mutating func body(_ buffer: ByteBuffer) -> Action {
            var got: [ModelOutput] = []
            defer { outputs += got }
            return state.receivedBodyPart(buffer) { got.append($0) }
        }

        mutating func end() -> Action {
            var got: [ModelOutput] = []
            defer { outputs += got }
            return state.bodyEnded { got.append($0) }
        }
    }

    static func chunk(_ content: String, finish: Bool = false) -> String {
        let reason = finish ? #","finish_reason":"stop""# : ""
        return #"data: {"choices":[{"delta":{"content":"\#(content)"}\#(reason)}]}"# + "\n\n"
    }

    static func failure(_ action: Action) -> ModelError? {
        guard case .end(let error?, _) = action else { return nil }
        return error
    }

    // MARK: Head

    @Test func theHeadOfASuccessLeadsToSniffingAndAnErrorStatusToCollectingItsBody() {
        var driver = Driver()
        #expect(driver.state.phase == .connecting)
        driver.state.requestSent()
        #expect(driver.state.phase == .waitingForHead)
        driver.state.receivedHead(.ok)
        #expect(driver.state.phase == .sniffing(.ok))
        #expect(Driver.answering(.tooManyRequests).state.phase == .collectingError(.tooManyRequests))
    }

    @Test func blankLinesAloneDoNotDecideWhatTheBodyIs() {
        var driver = Driver.answering()
        #expect(driver.body("\n\r\n  ") == .none)
        #expect(driver.state.phase == .sniffing(.ok))
        #expect(Self.failure(driver.end())?.message == "The model answered 200 with an empty body.")
    }

    // MARK: Event streams

    @Test func piecesArriveInOrderAndDoneEndsTheAnswer() {
        var driver = Driver.answering()
        #expect(driver.body(": keep-alive\n\n" + Self.chunk("Hel")) == .none)
        #expect(driver.state.phase == .streaming(.events))
        // An event cut across two body parts is read once it is whole.
        #expect(driver.body(String(Self.chunk("lo").prefix(20))) == .none)
        #expect(
            driver.body(String(Self.chunk("lo").dropFirst(20)) + "data: [DONE]\n\n" + Self.chunk("late"))
                == .end(nil, dropConnection: false))
        #expect(driver.pieces == ["Hel", "lo"])
        #expect(driver.state.phase == .finished)
        #expect(driver.body(Self.chunk("after")) == .none)
        #expect(driver.end() == .none)
        #expect(driver.state.receivedError(ModelStreamError.connectionClosed, canRetry: true) == .none)
        #expect(driver.pieces == ["Hel", "lo"], "nothing after [DONE]")
    }

    @Test func doneWithoutItsBlankLineAtTheEndOfTheBodyStillEndsTheAnswer() {
        var driver = Driver.answering()
        _ = driver.body(Self.chunk("a") + "data: [DONE]")
        #expect(driver.end() == .end(nil, dropConnection: false))
        #expect(driver.pieces == ["a"])
    }

    @Test func theEndOfTheBodyAfterAFinishReasonIsAComplete() {
        var driver = Driver.answering()
        _ = driver.body(Self.chunk("all", finish: true))
        #expect(driver.state.phase == .streaming(.finishReason))
        #expect(driver.end() == .end(nil, dropConnection: false))
        #expect(driver.pieces == ["all"])
    }

    @Test func theEndOfTheBodyWithNeitherDoneNorFinishReasonIsACutOffAnswer() {
        var driver = Driver.answering()
        _ = driver.body(Self.chunk("half"))
        let error = Self.failure(driver.end())
        #expect(error?.kind == .malformed)
        #expect(
            error?.message
                == "The model's stream ended before the answer was finished (no [DONE] and no finish_reason).")
        #expect(driver.pieces == ["half"])
    }

    @Test func aBodyThatIsNotAnEventStreamIsQuoted() {
        var driver = Driver.answering()
        #expect(driver.body("hello, sk-secret-key here") == .none)
        #expect(driver.state.phase == .streaming(.nothing))
        #expect(
            Self.failure(driver.end())?.message
                == "The model's answer is not an event stream: hello, [redacted] here")
    }

    @Test func anErrorObjectInTheStreamEndsTheAnswerAndDropsTheConnection() {
        var driver = Driver.answering()
        let action = driver.body(Self.chunk("a") + #"data: {"error":{"message":"quota"}}"# + "\n\n")
        #expect(action == .end(ModelError(.http, "The model provider reported an error: quota"), dropConnection: true))
        #expect(driver.pieces == ["a"])
    }

    @Test func aChunkThatIsNotJSONEndsTheAnswer() {
        var driver = Driver.answering()
        let error = Self.failure(driver.body("data: {not json\n\n"))
        #expect(error?.message == "The model sent a chunk that is not valid JSON: {not json")
    }

    // MARK: Limits

    @Test func aLineLongerThanTheLimitEndsTheAnswerAndDropsTheConnection() {
        var driver = Driver.answering(limits: .init(lineBytes: 64, eventBytes: 1024))
        _ = driver.body(Self.chunk("ok"))
        let action = driver.body("data: " + String(repeating: "x", count: 100))
        #expect(
            action
                == .end(
                    ModelError(
                        .malformed,
                        "The model sent a line longer than 64 bytes without ending it; the answer was stopped there."),
                    dropConnection: true))
        #expect(driver.pieces == ["ok"])
        #expect(driver.end() == .none)
    }

    @Test func anEventLargerThanTheLimitEndsTheAnswer() {
        var driver = Driver.answering(limits: .init(lineBytes: 64, eventBytes: 100))
        let lines = String(repeating: "data: " + String(repeating: "y", count: 40) + "\n", count: 4)
        #expect(
            Self.failure(driver.body(lines))?.message
                == "The model sent an event larger than 100 bytes; the answer was stopped there.")
    }

    @Test func anErrorBodyIsReadOnlyUpToItsLimitThenTheConnectionIsDropped() {
        var driver = Driver.answering(.badGateway)
        #expect(driver.body(String(repeating: "e", count: OpenAIStreamState.maxErrorBody - 1)) == .none)
        let action = driver.body("ee and more")
        guard case .end(let error?, dropConnection: true) = action else {
            Issue.record("expected the end with the connection dropped, got \(action)")
            return
        }
        #expect(error.message.hasPrefix("The model provider answered 502: eeee"))
        #expect(driver.state.phase == .finished)
    }

    @Test func aJSONDocumentLargerThanTheLimitEndsTheAnswer() {
        var driver = Driver.answering()
        #expect(driver.body("{") == .none)
        #expect(driver.state.phase == .collectingJSON)
        let action = driver.body(ByteBuffer(repeating: UInt8(ascii: " "), count: OpenAIStreamState.maxJSONBody))
        #expect(
            action
                == .end(
                    ModelError(.malformed, "The model answered with a JSON document larger than 32 MB."),
                    dropConnection: true))
    }

    // MARK: Other bodies

    @Test func aNonStreamedAnswerIsCollectedAndGivenAsOnePieceAtTheEnd() {
        var driver = Driver.answering()
        #expect(driver.body(#"{"choices":[{"message":{"con"#) == .none)
        #expect(driver.body(#"tent":"whole answer"}}]}"#) == .none)
        #expect(driver.pieces.isEmpty)
        #expect(driver.end() == .end(nil, dropConnection: false))
        #expect(driver.pieces == ["whole answer"])
    }

    @Test func anHTTPErrorCarriesTheProvidersMessageRedacted() {
        var driver = Driver.answering(.tooManyRequests)
        _ = driver.body(#"{"error":{"message":"slow down, "#)
        _ = driver.body(#"sk-secret-key"}}"#)
        #expect(
            driver.end()
                == .end(
                    ModelError(.http, "The model provider answered 429: slow down, [redacted]"),
                    dropConnection: false))
    }

    @Test func anHTTPErrorWithoutABodyNamesItsStatus() {
        var driver = Driver.answering(.serviceUnavailable)
        #expect(Self.failure(driver.end())?.message == "The model provider answered 503 Service Unavailable.")
    }

    // MARK: Errors, retries, cancellation, timeout

    @Test func aStaleConnectionBeforeAnyAnswerIsRetriedWhileRetriesAreLeft() {
        var driver = Driver()
        driver.state.requestSent()
        #expect(driver.state.receivedError(ModelStreamError.connectionClosed, canRetry: true) == .retry)
        #expect(driver.state.phase == .finished)

        var last = Driver()
        last.state.requestSent()
        #expect(
            Self.failure(last.state.receivedError(ModelStreamError.connectionClosed, canRetry: false))
                == ModelError(
                    .unreachable,
                    "The model at model.test:8000 closed the connection without answering (the model closed the connection)."
                ))
    }

    @Test func aFailedConnectionIsUnreachable() {
        var driver = Driver()
        #expect(
            driver.state.receivedError(ChannelError.connectTimeout(.seconds(1)), canRetry: true)
                == .end(
                    ModelError(.unreachable, "Cannot reach the model at model.test:8000: connection timed out"),
                    dropConnection: false))
    }

    @Test func aConnectionLostMidStreamIsACutOffAnswer() {
        var driver = Driver.answering()
        _ = driver.body(Self.chunk("part"))
        let error = Self.failure(driver.state.receivedError(ModelStreamError.connectionClosed, canRetry: true))
        #expect(
            error
                == ModelError(
                    .malformed,
                    "The model's stream ended before the answer was finished "
                        + "(the connection was lost: the model closed the connection)."))
        #expect(driver.pieces == ["part"])
    }

    @Test func aConnectionLostDuringAnErrorBodyStillReportsTheStatus() {
        var driver = Driver.answering(.internalServerError)
        _ = driver.body(#"{"message":"boom"}"#)
        #expect(
            Self.failure(driver.state.receivedError(ChannelError.eof, canRetry: true))
                == ModelError(.http, "The model provider answered 500: boom"))
    }

    @Test func aCancelledRequestEndsQuietly() {
        var driver = Driver.answering()
        _ = driver.body(Self.chunk("a"))
        #expect(
            driver.state.receivedError(ModelStreamError.cancelled, canRetry: true) == .end(nil, dropConnection: false))
        #expect(driver.end() == .none)
    }

    @Test func theConnectTimeoutFailsOnlyWhileNoConnectionIsMade() {
        var waiting = Driver()
        #expect(
            waiting.state.connectTimedOut(after: .milliseconds(1500))
                == .end(
                    ModelError(
                        .unreachable,
                        "Cannot reach the model at model.test:8000: no connection after 1.5 s (connect timeout)."),
                    dropConnection: true))
        #expect(waiting.state.receivedError(ModelStreamError.cancelled, canRetry: true) == .none, "one end only")

        var connected = Driver()
        connected.state.requestSent()
        #expect(connected.state.connectTimedOut(after: .seconds(10)) == .none)
        #expect(connected.state.phase == .waitingForHead)
    }

    // MARK: Reasoning, usage, refusal of stream_options

    @Test func reasoningComesBeforeTheAnswerAndUsageLastOnlyWhenComplete() {
        var driver = Driver.answering()
        let reasoning = #"data: {"choices":[{"delta":{"content":null,"reasoning_content":"hmm"}}]}"# + "\n\n"
        let usage = #"data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}"# + "\n\n"
        _ = driver.body(reasoning + Self.chunk("Hi"))
        _ = driver.body(usage)
        #expect(driver.outputs == [.reasoning("hmm"), .answer("Hi")], "usage waits for the end")
        #expect(driver.body("data: [DONE]\n\n") == .end(nil, dropConnection: false))
        #expect(
            driver.outputs == [
                .reasoning("hmm"), .answer("Hi"), .usage(TokenUsage(promptTokens: 5, completionTokens: 2))
            ])

        var cut = Driver.answering()
        _ = cut.body(Self.chunk("Hi") + usage)
        #expect(Self.failure(cut.end()) != nil)
        #expect(cut.outputs == [.answer("Hi")], "no usage for an answer that was cut off")
    }

    @Test func aThinkBlockHeldAtTheEndIsFlushedWhenTheAnswerEnds() {
        var driver = Driver.answering()
        _ = driver.body(Self.chunk("<think>a") + Self.chunk("</thi", finish: true))
        #expect(driver.end() == .end(nil, dropConnection: false))
        #expect(driver.outputs == [.reasoning("a"), .reasoning("</thi")])
    }

    @Test func a400Or422ToARequestWithStreamOptionsAsksForARetryWithoutThem() {
        for status in [HTTPResponseStatus.badRequest, .unprocessableEntity] {
            var driver = Driver.answering(status, streamOptions: true)
            _ = driver.body(#"{"error":{"message":"Unrecognized request argument supplied: stream_options"}}"#)
            guard case .retryWithoutStreamOptions(let error, dropConnection: false) = driver.end() else {
                Issue.record("expected a retry for \(status)")
                continue
            }
            #expect(error.message.contains("stream_options"))
        }
        var endless = Driver.answering(.badRequest, streamOptions: true)
        let action = endless.body(String(repeating: "x", count: OpenAIStreamState.maxErrorBody + 1))
        guard case .retryWithoutStreamOptions(_, dropConnection: true) = action else {
            Issue.record("a refusal whose body goes on is retried on a dropped connection, got \(action)")
            return
        }
        var other = Driver.answering(.internalServerError, streamOptions: true)
        _ = other.body("boom")
        #expect(Self.failure(other.end()) == ModelError(.http, "The model provider answered 500: boom"))
        var without = Driver.answering(.badRequest)
        _ = without.body("bad")
        #expect(Self.failure(without.end()) == ModelError(.http, "The model provider answered 400: bad"))
    }
}
