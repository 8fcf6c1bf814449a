import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import Chatbox
import FakeUpstream

@Suite("LLM: a streaming answer's socket is read at most once per tick")
struct LLMPacedReadTests {
    /// Reads paced to 1 s ticks, and a model that sends 60 pieces 20 ms apart: the pieces of the first read are
    /// handed on when they come, every later one no sooner than the tick after the first piece. A busy machine can
    /// only make reads later and fuller, so only that lower bound is asserted. Pieces are told apart by read: the
    /// pieces of one read are handed on together on the event loop, before it runs its queued tasks.
    @Test func afterTheFirstPieceTheModelIsReadOnlyAtTheNextTick() async throws {
        let upstream = try await FakeUpstream.start(behaviour: { _ in .tokens(60, delay: .milliseconds(20)) })
        let clients = ModelHTTPClients(readPace: .seconds(1))
        let model = OpenAICompatibleModel(baseURL: upstream.baseURL, apiKey: nil, model: "m", httpClients: clients)
        let arrivals = Mutex((read: 0, marked: false, seen: [(piece: String, at: NIODeadline, read: Int)]()))
        let outcome = await Result(catching: {
            try await model.answer(ModelRequest(messages: [ChatMessage(role: .user, content: "hi")])) { output in
                guard case .answer(let piece) = output else { return }
                let now = NIODeadline.now()
                let first = arrivals.withLock { state -> Bool in
                    state.seen.append((piece, now, state.read))
                    defer { state.marked = true }
                    return !state.marked
                }
                // The first piece of a read: the read is over once the loop runs its tasks.
                if first, let loop = MultiThreadedEventLoopGroup.currentEventLoop {
                    loop.execute { arrivals.withLock { ($0.read, $0.marked) = ($0.read + 1, false) } }
                }
            }
        })
        try await clients.shutdown()
        await upstream.stop()
        try outcome.get()

        let seen = arrivals.withLock { $0.seen }
        #expect(seen.map(\.piece).joined() == FakeReply.numberedTokens(60).joined())
        let grid = try #require(TickGrid(.seconds(1)))
        let first = try #require(seen.first)
        let nextTick = grid.tick(after: grid.slot(first.at))
        let later = seen.filter { $0.read != first.read }
        #expect(later.allSatisfy { $0.at >= nextTick }, "\(seen.map { ($0.read, $0.at.uptimeNanoseconds) })")
    }

    @Test func theGridCountsSlotsFromTheClockAndNamesTheTickAfterEach() throws {
        let grid = try #require(TickGrid(.milliseconds(16)))
        #expect(grid.slot(.uptimeNanoseconds(15_999_999)) == 0)
        #expect(grid.slot(.uptimeNanoseconds(16_000_000)) == 1)
        #expect(grid.tick(after: 1) == .uptimeNanoseconds(32_000_000))
        #expect(grid.tick(after: .max) == .distantFuture, "no overflow at the end of the clock")
        #expect(TickGrid(.zero) == nil && TickGrid(.milliseconds(-5)) == nil)
    }
}

extension Result where Failure == any Error {
    fileprivate init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
