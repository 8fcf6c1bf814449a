import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import Testing

@testable import Chatbox
import FakeUpstream

/// How many connections a test server accepted and saw closed, and how many requests it received.
final class LLMConnectionCounts: Sendable {
    private let counts = Mutex((opened: 0, closed: 0, requests: 0))
    var opened: Int { counts.withLock { $0.opened } }
    var closed: Int { counts.withLock { $0.closed } }
    var requests: Int { counts.withLock { $0.requests } }
    func open() { counts.withLock { $0.opened += 1 } }
    func close() { counts.withLock { $0.closed += 1 } }
    func request() { counts.withLock { $0.requests += 1 } }
}

/// An HTTP/1.1 server that answers every request with a short complete SSE answer (`Content-Length`, kept alive
/// unless `connectionClose`), counting its connections. It closes a connection itself only when told: `.afterAnswer`
/// (right after it, without saying so: what FakeUpstream and some proxies do), or `.onSecondRequest` (without
/// answering it: a server whose keep-alive timeout closed the connection just as the client reused it).
final class AnsweringHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    static let body =
        "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"

    enum Closing: Sendable {
        case never, afterAnswer, onSecondRequest
    }

    let counts: LLMConnectionCounts
    let connectionClose: Bool
    let closing: Closing
    private var answered = false

    init(counts: LLMConnectionCounts, connectionClose: Bool, closing: Closing) {
        self.counts = counts
        self.connectionClose = connectionClose
        self.closing = closing
    }

    func channelActive(context: ChannelHandlerContext) {
        counts.open()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        counts.close()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        counts.request()
        if closing == .onSecondRequest, answered {
            context.close(promise: nil)
            return
        }
        answered = true
        var headers = HTTPHeaders([
            ("Content-Type", "text/event-stream"), ("Content-Length", String(Self.body.utf8.count))
        ])
        if connectionClose { headers.add(name: "Connection", value: "close") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: Self.body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if closing == .afterAnswer { context.close(promise: nil) }
    }
}

/// A server that accepts connections and never answers.
private final class SilentHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// Test servers of the connection pool tests (a namespace).
enum LLMPoolTest {
    /// Runs `body` with the port of a server whose connections get `pipeline`, then stops it.
    static func withServer(
        _ pipeline: @escaping @Sendable (any Channel) throws -> Void, _ body: (Int) async throws -> Void
    ) async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try pipeline(channel) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(server.localAddress?.port)
        do {
            try await body(port)
        } catch {
            try? await server.close()
            throw error
        }
        try await server.close()
    }

    /// A server that accepts TCP connections and never says anything (no TLS handshake, no HTTP answer).
    static func withSilentServer(_ body: (Int) async throws -> Void) async throws {
        try await withServer({ try $0.pipeline.syncOperations.addHandler(SilentHandler()) }, body)
    }

    /// An answering HTTP server (see `AnsweringHandler`), behind TLS when `tls` is given.
    static func withAnsweringServer(
        connectionClose: Bool = false, closing: AnsweringHandler.Closing = .never, tls: NIOSSLContext? = nil,
        _ body: (Int, LLMConnectionCounts) async throws -> Void
    ) async throws {
        let counts = LLMConnectionCounts()
        try await withServer(
            { channel in
                let pipeline = channel.pipeline.syncOperations
                if let tls { try pipeline.addHandler(NIOSSLServerHandler(context: tls)) }
                try pipeline.configureHTTPServerPipeline()
                try pipeline.addHandler(
                    AnsweringHandler(counts: counts, connectionClose: connectionClose, closing: closing))
            },
            { port in try await body(port, counts) })
    }

    /// A self-signed certificate for `localhost` and 127.0.0.1, made with the `openssl` command; nil without it
    /// (the tests then fail, saying so).
    static func selfSignedCertificate() async throws -> (certificate: NIOSSLCertificate, key: NIOSSLPrivateKey)? {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chatbox-tls-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificate = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let made = try? await Shell.status([
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
            "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"
        ])
        guard made?.status == 0 else { return nil }
        guard let first = try NIOSSLCertificate.fromPEMFile(certificate).first else { return nil }
        return (first, try NIOSSLPrivateKey(file: key, format: .pem))
    }

    /// A self-signed certificate (see above) and a server context that presents it; fails the test without openssl.
    static func selfSignedServer() async throws -> (certificate: NIOSSLCertificate, server: NIOSSLContext) {
        let (certificate, key) = try #require(
            try await selfSignedCertificate(), "openssl is needed to make a certificate")
        let server = try NIOSSLContext(
            configuration: .makeServerConfiguration(
                certificateChain: [.certificate(certificate)], privateKey: .privateKey(key)))
        return (certificate, server)
    }

    static func model(_ url: String, _ clients: ModelHTTPClients) -> OpenAICompatibleModel {
        OpenAICompatibleModel(baseURL: url, apiKey: nil, model: "m", httpClients: clients)
    }

    static let hello = [ChatMessage(role: .user, content: "hi")]
}

@Suite("LLM: model connection pool")
struct LLMConnectionPoolTests {
    @Test("a second answer reuses the kept-alive connection")
    func reusesKeptAliveConnection() async throws {
        try await LLMPoolTest.withAnsweringServer { port, counts in
            let clients = ModelHTTPClients()
            let model = LLMPoolTest.model("http://127.0.0.1:\(port)/v1", clients)
            let key = ModelConnectionPool.Key(tls: false, host: "127.0.0.1", port: port)
            for _ in 0..<3 {
                let result = await LLMTest.drain(model.streamAnswer(to: LLMPoolTest.hello))
                #expect(result.error == nil)
                #expect(result.text == "hi")
                // The answer ends at [DONE]; the connection is parked when the response's end is read, a moment
                // later on the event loop.
                #expect(await LLMTest.eventually { clients.streams.idleCount(key) == 1 })
            }
            #expect(counts.opened == 1)
            try await clients.shutdown()
            #expect(await LLMTest.eventually { counts.closed == 1 }, "shutdown closes the idle connection")
        }
    }

    @Test(
        "a request runs on the event loop its task prefers: a new connection opens there, an idle one there is taken first"
    )
    func theTasksPreferredEventLoopIsUsed() async throws {
        try await LLMPoolTest.withAnsweringServer { port, counts in
            let clients = ModelHTTPClients()
            let pool = clients.streams
            let model = LLMPoolTest.model("http://127.0.0.1:\(port)/v1", clients)
            let key = ModelConnectionPool.Key(tls: false, host: "127.0.0.1", port: port)
            let loops = Array(pool.group.makeIterator())
            try #require(loops.count >= 2, "the pool's group has a loop per core")
            func answer(on loop: any EventLoop) async {
                let result = await ModelConnectionPool.$preferredEventLoop.withValue(loop) {
                    await LLMTest.drain(model.streamAnswer(to: LLMPoolTest.hello))
                }
                #expect(result.text == "hi")
                #expect(await LLMTest.eventually { pool.idleCount(key) == 1 })
            }
            for loop in loops.prefix(2) {
                #expect(pool.lease(key, reuse: false, preferring: loop).eventLoop === loop)
            }
            await answer(on: loops[0])
            // With no idle connection on the preferred loop, one on another loop is taken (held here a moment).
            let held = try #require(pool.lease(key, reuse: true, preferring: loops[1]).idle)
            #expect(held.channel.eventLoop === loops[0])
            await answer(on: loops[1])
            #expect(counts.opened == 2, "the second answer opened a connection on its own loop")
            #expect(pool.park(held, key: key))
            // Both are idle now, the one on loops[0] parked last; preferring loops[1] takes the one there.
            let preferred = pool.lease(key, reuse: true, preferring: loops[1]).idle
            let other = pool.lease(key, reuse: true, preferring: nil).idle
            #expect(preferred?.channel.eventLoop === loops[1])
            #expect(other?.channel.eventLoop === loops[0])
            for taken in [preferred, other] { taken?.channel.close(promise: nil) }
            // A loop that is not the pool's is not used.
            let foreign = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            #expect(pool.lease(key, reuse: false, preferring: foreign.next()).eventLoop !== foreign.next())
            try await foreign.shutdownGracefully()
            try await clients.shutdown()
        }
    }

    @Test("a response with Connection: close is not reused; the client closes the connection")
    func connectionCloseIsNotReused() async throws {
        try await LLMPoolTest.withAnsweringServer(connectionClose: true) { port, counts in
            let clients = ModelHTTPClients()
            let model = LLMPoolTest.model("http://127.0.0.1:\(port)/v1", clients)
            for _ in 0..<2 {
                let result = await LLMTest.drain(model.streamAnswer(to: LLMPoolTest.hello))
                #expect(result.text == "hi")
            }
            #expect(counts.opened == 2)
            #expect(await LLMTest.eventually { counts.closed == 2 })
            #expect(clients.streams.idleCount(.init(tls: false, host: "127.0.0.1", port: port)) == 0)
            try await clients.shutdown()
        }
    }

    @Test("an idle connection the server closes leaves the pool; the next answer opens a new one")
    func closedWhileIdleLeavesThePool() async throws {
        try await LLMPoolTest.withAnsweringServer(closing: .afterAnswer) { port, counts in
            let clients = ModelHTTPClients()
            let model = LLMPoolTest.model("http://127.0.0.1:\(port)/v1", clients)
            let key = ModelConnectionPool.Key(tls: false, host: "127.0.0.1", port: port)
            for round in 1...3 {
                let result = await LLMTest.drain(model.streamAnswer(to: LLMPoolTest.hello))
                #expect(result.error == nil)
                #expect(result.text == "hi")
                #expect(await LLMTest.eventually { clients.streams.idleCount(key) == 0 && counts.closed == round })
            }
            #expect(counts.opened == 3)
            try await clients.shutdown()
        }
    }

    @Test("a reused connection the server closes instead of answering is retried on a new one, transparently")
    func staleReusedConnectionIsRetried() async throws {
        // Each connection answers once; the reused one is closed when the next request arrives (nothing answered).
        try await LLMPoolTest.withAnsweringServer(closing: .onSecondRequest) { port, counts in
            let clients = ModelHTTPClients()
            let model = LLMPoolTest.model("http://127.0.0.1:\(port)/v1", clients)
            let key = ModelConnectionPool.Key(tls: false, host: "127.0.0.1", port: port)
            var failures: [String] = []
            for _ in 0..<100 {
                let result = await LLMTest.drain(model.streamAnswer(to: LLMPoolTest.hello))
                if result.text != "hi" || result.error != nil { failures.append(String(describing: result.error)) }
                _ = await LLMTest.eventually { clients.streams.idleCount(key) >= 1 }  // parked: the next one reuses it
            }
            #expect(failures.isEmpty, "\(failures.count) failed: \(failures.prefix(3))")
            #expect(counts.opened == 100, "one new connection per answer after the first")
            #expect(counts.requests == 199, "every answer but the first tried the reused connection first")
            try await clients.shutdown()
        }
    }

    @Test("an idle connection is closed after the idle timeout")
    func idleTimeout() async throws {
        try await LLMPoolTest.withAnsweringServer { port, counts in
            let clients = ModelHTTPClients(
                connectTimeout: .seconds(10), tlsConfiguration: .makeClientConfiguration(),
                idleTimeout: .milliseconds(300))
            let model = LLMPoolTest.model("http://127.0.0.1:\(port)/v1", clients)
            let key = ModelConnectionPool.Key(tls: false, host: "127.0.0.1", port: port)
            let result = await LLMTest.drain(model.streamAnswer(to: LLMPoolTest.hello))
            #expect(result.text == "hi")
            #expect(await LLMTest.eventually { counts.closed == 1 })
            #expect(clients.streams.idleCount(key) == 0)
            try await clients.shutdown()
        }
    }

    @Test("many concurrent answers from one host all complete; at most 64 idle connections are kept")
    func manyConcurrentStreams() async throws {
        let upstream = try await FakeUpstream.start { _ in .tokens(3, delay: .milliseconds(200)) }
        let clients = ModelHTTPClients()
        // A minute to connect: 400 connections opened at once on a machine busy with the rest of the suite can wait
        // for the fake's accept queue longer than the 10 s default.
        let model = OpenAICompatibleModel(
            baseURL: upstream.baseURL, apiKey: nil, model: "m", httpClients: clients, connectTimeout: .seconds(60))
        let count = 400
        let failures = await withTaskGroup(of: String?.self) { group in
            for _ in 0..<count {
                group.addTask {
                    let result = await LLMTest.drain(model.streamAnswer(to: LLMPoolTest.hello))
                    if let error = result.error { return "\(error)" }
                    return result.text.isEmpty ? "no text" : nil
                }
            }
            return await group.reduce(into: [String]()) { if let failure = $1 { $0.append(failure) } }
        }
        #expect(failures.isEmpty, "\(failures.count) of \(count) failed, first: \(failures.first ?? "")")
        #expect(upstream.peakOpenStreams > ModelConnectionPool.maxIdlePerHost, "peak \(upstream.peakOpenStreams)")
        #expect(clients.streams.idleCount(.init(tls: false, host: "127.0.0.1", port: upstream.port)) <= 64)
        try await clients.shutdown()
        await upstream.stop()
    }

    @Test("https to a server that does not speak TLS is .unreachable, saying TLS")
    func tlsToPlainServer() async throws {
        try await LLMTest.withFakeUpstream({ _ in .tokens(1) }) { upstream, clients in
            let model = LLMPoolTest.model("https://127.0.0.1:\(upstream.port)/v1", clients)
            let result = await LLMTest.drain(model.streamAnswer(to: LLMPoolTest.hello))
            #expect(result.modelError?.kind == .unreachable)
            #expect(result.modelError?.message.contains("TLS") == true, "\(String(describing: result.error))")
            #expect(upstream.requests().isEmpty)
        }
    }

    @Test("TLS: an untrusted (self-signed) certificate is .unreachable; once trusted, the answer streams")
    func tlsSelfSigned() async throws {
        let (certificate, server) = try await LLMPoolTest.selfSignedServer()
        try await LLMPoolTest.withAnsweringServer(tls: server) { port, counts in
            let untrusting = ModelHTTPClients()
            let refused = await LLMTest.drain(
                LLMPoolTest.model("https://localhost:\(port)/v1", untrusting).streamAnswer(to: LLMPoolTest.hello))
            try await untrusting.shutdown()
            #expect(refused.modelError?.kind == .unreachable)
            #expect(refused.modelError?.message.contains("TLS") == true, "\(String(describing: refused.error))")

            var trust = TLSConfiguration.makeClientConfiguration()
            trust.trustRoots = .certificates([certificate])
            let trusting = ModelHTTPClients(connectTimeout: .seconds(10), tlsConfiguration: trust)
            let model = LLMPoolTest.model("https://localhost:\(port)/v1", trusting)
            let before = counts.opened
            let key = ModelConnectionPool.Key(tls: true, host: "localhost", port: port)
            for _ in 0..<2 {
                let result = await LLMTest.drain(model.streamAnswer(to: LLMPoolTest.hello))
                #expect(result.error == nil)
                #expect(result.text == "hi")
                #expect(await LLMTest.eventually { trusting.streams.idleCount(key) == 1 })
            }
            #expect(counts.opened == before + 1, "the TLS connection is kept alive and reused")
            try await trusting.shutdown()
        }
    }

    @Test("a URL that is not http(s) is .unreachable, never a crash")
    func invalidURL() async throws {
        let clients = ModelHTTPClients()
        for url in ["ftp://127.0.0.1/v1", "not a url", "http:///v1", "http://127.0.0.1:99999/v1"] {
            let result = await LLMTest.drain(LLMPoolTest.model(url, clients).streamAnswer(to: LLMPoolTest.hello))
            #expect(result.modelError?.kind == .unreachable, "\(url)")
        }
        try await clients.shutdown()
    }
}
