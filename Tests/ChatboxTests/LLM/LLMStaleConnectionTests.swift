import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import Chatbox

/// A bare TCP server: the first `dropFirst` connections are closed as soon as a request arrives (what a server
/// closing an idle keep-alive connection looks like to the client); later ones get a short SSE answer.
private final class ClosingServer: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    static let answer: String = {
        let body = "data: {\"choices\":[{\"delta\":{\"content\":\"second try\"}}]}\n\ndata: [DONE]\n\n"
        return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n" + body
    }()

    let connections: NIOLockedValueBox<Int>
    let dropFirst: Int
    private var answered = false

    init(connections: NIOLockedValueBox<Int>, dropFirst: Int) {
        self.connections = connections
        self.dropFirst = dropFirst
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let number = connections.withLockedValue {
            $0 += 1
            return $0
        }
        if number <= dropFirst {
            context.close(promise: nil)
        } else if !answered {
            answered = true
            context.writeAndFlush(NIOAny(ByteBuffer(string: Self.answer)), promise: nil)
        }
    }
}

@Suite("LLM: stale connection retry")
struct LLMStaleConnectionTests {
    private func withServer(dropFirst: Int, _ body: (Int, NIOLockedValueBox<Int>) async throws -> Void) async throws {
        let connections = NIOLockedValueBox(0)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.addHandler(ClosingServer(connections: connections, dropFirst: dropFirst))
            }
            .bind(host: "127.0.0.1", port: 0).get()
        do {
            try await body(channel.localAddress!.port!, connections)
        } catch {
            try? await channel.close()
            throw error
        }
        try await channel.close()
    }

    /// Asks a model behind a server that closes its first `dropFirst` connections: the answer, and how many
    /// connections the client made.
    private func ask(dropFirst: Int) async throws -> (result: LLMStreamResult, connections: Int) {
        var outcome: (LLMStreamResult, Int)?
        try await withServer(dropFirst: dropFirst) { port, connections in
            let client = ModelHTTPClients()
            let model = OpenAICompatibleModel(
                baseURL: "http://127.0.0.1:\(port)/v1", apiKey: nil, model: "m",
                httpClients: client)
            let result = await LLMTest.drain(model.streamAnswer(to: [ChatMessage(role: .user, content: "hi")]))
            try await client.shutdown()
            outcome = (result, connections.withLockedValue { $0 })
        }
        return try #require(outcome)
    }

    @Test("a connection closed before any answer is retried once, transparently")
    func retriedOnce() async throws {
        let (result, connections) = try await ask(dropFirst: 1)
        #expect(result.error == nil)
        #expect(result.text == "second try")
        #expect(connections == 2)
    }

    @Test("closes that go on are an error after four attempts, not a loop")
    func notRetriedForever() async throws {
        let (result, connections) = try await ask(dropFirst: 4)
        #expect(result.modelError != nil)
        #expect(result.modelError?.message.contains("closed the connection") == true)
        #expect(connections == 4)
    }
}
