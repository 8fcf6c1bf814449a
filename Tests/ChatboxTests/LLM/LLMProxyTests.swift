import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

@testable import Chatbox
import FakeUpstream

/// The model proxy (`CHATBOX_LLM_PROXY`) against a real proxy (tinyproxy): streamed answers and listings go through
/// it, `https` models through a tunnel with TLS end to end, and every failure of the proxy is told as one.
@Suite("LLM: models reached through an HTTP proxy")
struct LLMProxyTests {
    static func clients(_ proxy: String, noProxy: [String] = [], trust: NIOSSLCertificate? = nil) throws
        -> ModelHTTPClients
    {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let trust { tls.trustRoots = .certificates([trust]) }
        return ModelHTTPClients(
            connectTimeout: .seconds(30), tlsConfiguration: tls, proxy: try ModelProxy(url: proxy, noProxy: noProxy))
    }

    static func answer(_ baseURL: String, _ clients: ModelHTTPClients) async -> LLMStreamResult {
        await LLMTest.drain(LLMPoolTest.model(baseURL, clients).streamAnswer(to: LLMPoolTest.hello))
    }

    @Test("an http model is asked through the proxy, with the request's absolute URL, on a kept-alive connection")
    func anHTTPModelIsAskedThroughTheProxy() async throws {
        try await TinyProxy.with { proxy in
            try await LLMTest.withFakeUpstream({ _ in .tokens(3) }) { upstream, _ in
                let clients = try Self.clients(proxy.url)
                for _ in 0..<2 {
                    let result = await Self.answer(upstream.baseURL, clients)
                    #expect(result.error == nil, "\(String(describing: result.error))")
                    #expect(result.pieces.count == 3)
                }
                try await clients.shutdown()
                #expect(
                    upstream.requests().map { $0.header("Via") ?? "" }.allSatisfy { $0.contains("tinyproxy") },
                    "the model saw the proxy's Via header")
                #expect(
                    proxy.requests().filter { $0 == "POST \(upstream.baseURL)/chat/completions HTTP/1.1" }.count == 2,
                    "\(proxy.requests())")
            }
        }
    }

    @Test("an https model is reached through a CONNECT tunnel, with TLS end to end")
    func anHTTPSModelIsReachedThroughATunnel() async throws {
        let (certificate, server) = try await LLMPoolTest.selfSignedServer()
        try await TinyProxy.with { proxy in
            try await LLMPoolTest.withAnsweringServer(tls: server) { port, _ in
                // Untrusted, the model's certificate is refused through the tunnel as it would be directly.
                let untrusting = try Self.clients(proxy.url)
                let refused = await Self.answer("https://localhost:\(port)/v1", untrusting)
                try await untrusting.shutdown()
                #expect(refused.modelError?.message.contains("TLS") == true, "\(String(describing: refused.error))")

                let clients = try Self.clients(proxy.url, trust: certificate)
                let result = await Self.answer("https://localhost:\(port)/v1", clients)
                try await clients.shutdown()
                #expect(result.error == nil, "\(String(describing: result.error))")
                #expect(result.text == "hi")
                #expect(proxy.requests().filter { $0 == "CONNECT localhost:\(port) HTTP/1.1" }.count == 2)
            }
        }
    }

    @Test("a proxy that wants a password is given the one in its URL; without it the answer fails saying so")
    func aProxyThatWantsAPassword() async throws {
        let (certificate, server) = try await LLMPoolTest.selfSignedServer()
        try await TinyProxy.with(credentials: "alice:proxy-secret-42") { proxy in
            let withPassword = "http://alice:proxy-secret-42@127.0.0.1:\(proxy.port)"
            try await LLMTest.withFakeUpstream({ _ in .tokens(2) }) { upstream, _ in
                let clients = try Self.clients(withPassword)
                let result = await Self.answer(upstream.baseURL, clients)
                try await clients.shutdown()
                #expect(result.error == nil, "\(String(describing: result.error))")
                #expect(upstream.requests().first?.header("Proxy-Authorization") == nil, "the proxy keeps it")
            }
            try await LLMPoolTest.withAnsweringServer(tls: server) { port, _ in
                let clients = try Self.clients(withPassword, trust: certificate)
                let result = await Self.answer("https://localhost:\(port)/v1", clients)
                try await clients.shutdown()
                #expect(result.text == "hi", "\(String(describing: result.error))")

                let wrong = try Self.clients("http://alice:wrong-password@127.0.0.1:\(proxy.port)", trust: certificate)
                let refused = await Self.answer("https://localhost:\(port)/v1", wrong)
                try await wrong.shutdown()
                let message = refused.modelError?.message ?? ""
                #expect(refused.modelError?.kind == .unreachable)
                #expect(
                    message.contains("the proxy 127.0.0.1:\(proxy.port) wants a user name and password (HTTP 40"),
                    "\(message)")
                #expect(!message.contains("wrong-password") && message.contains("CHATBOX_LLM_PROXY"))
            }
        }
    }

    @Test("a proxy that cannot be reached fails the answer naming the proxy; a bypassed host goes direct")
    func anUnreachableProxyAndABypassedHost() async throws {
        let closed = try await LLMTest.closedPort()
        try await LLMTest.withFakeUpstream({ _ in .tokens(2) }) { upstream, _ in
            let clients = try Self.clients("http://127.0.0.1:\(closed)")
            let failed = await Self.answer(upstream.baseURL, clients)
            try await clients.shutdown()
            #expect(failed.modelError?.kind == .unreachable)
            #expect(
                failed.modelError?.message
                    == "Cannot reach the model at 127.0.0.1:\(upstream.port): the proxy 127.0.0.1:\(closed) cannot be "
                    + "reached (connection refused)", "\(String(describing: failed.error))")
            #expect(upstream.requests().isEmpty)

            let bypassing = try Self.clients("http://127.0.0.1:\(closed)", noProxy: ["localhost", "127.0.0.1"])
            let direct = await Self.answer(upstream.baseURL, bypassing)
            try await bypassing.shutdown()
            #expect(direct.error == nil, "\(String(describing: direct.error))")
            #expect(direct.pieces.count == 2)
        }
    }

    @Test("the server set up with CHATBOX_LLM_PROXY answers and names a chat through the proxy")
    func theServerAnswersThroughTheProxy() async throws {
        try await TinyProxy.with { proxy in
            let setting = try ModelProxy(url: proxy.url)
            try await withChatApp({ $0.model.proxy = setting }) { chat in
                let id = try await chat.conversation()
                let events = try await chat.turn(id, "[[fake tokens=3]] hello")
                #expect(events.names.last == "title", "\(events.names)")
                let requests = chat.fake.requests()
                #expect(requests.count == 2, "the answer and the title")
                #expect(requests.allSatisfy { $0.header("Via")?.contains("tinyproxy") == true })
                #expect(
                    proxy.requests().filter { $0 == "POST \(chat.fake.baseURL)/chat/completions HTTP/1.1" }.count == 2,
                    "\(proxy.requests())")
            }
        }
    }

    @Test("the model list is asked through the proxy too")
    func theModelListGoesThroughTheProxy() async throws {
        try await TinyProxy.with { proxy in
            try await LLMTest.withFakeUpstream({ _ in .tokens(1) }) { upstream, _ in
                let clients = try Self.clients(proxy.url)
                let listing = ModelListing(
                    baseURL: upstream.baseURL, apiKey: nil, headers: [], httpClients: clients,
                    logger: Logger(label: "test"))
                // A failed fetch is a failed expectation, after the clients are shut down (a client left running
                // is an assertion failure that stops the whole test process).
                let ids: Result<[String], any Error>
                do { ids = .success(try await listing.fetch()) } catch { ids = .failure(error) }
                try await clients.shutdown()
                #expect(try ids.get() == ["fake"])
                // AsyncHTTPClient tunnels even to an http host.
                #expect(
                    proxy.requests() == ["CONNECT 127.0.0.1:\(upstream.port) HTTP/1.1"], "\(proxy.requests())")
            }
        }
    }

    @Test("a proxy that answers the tunnel with something other than HTTP fails the answer, saying so")
    func aProxyThatDoesNotSpeakHTTP() async throws {
        try await LLMPoolTest.withServer(
            { channel in try channel.pipeline.syncOperations.addHandler(GarbageHandler()) },
            { port in
                let clients = try Self.clients("http://127.0.0.1:\(port)")
                let result = await Self.answer("https://localhost:1/v1", clients)
                try await clients.shutdown()
                #expect(
                    result.modelError?.message.contains("the proxy 127.0.0.1:\(port) did not answer as an HTTP proxy")
                        == true, "\(String(describing: result.error))")
            })
    }
}

/// Answers anything with bytes that are not HTTP.
private final class GarbageHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "SSH-2.0-OpenSSH\r\n\r\n")), promise: nil)
    }
}

/// The proxy setting: what it accepts, which hosts bypass it, and what a request through it looks like.
@Suite("LLM: the model proxy setting")
struct ModelProxySettingTests {
    @Test("a proxy URL is http://[user:password@]host[:port]; anything else is refused with the reason")
    func proxyURLs() throws {
        let proxy = try ModelProxy(url: "http://bob:pa%3Ass@Proxy.Example.com:3128")
        #expect(proxy.server.host == "proxy.example.com")
        #expect(proxy.server.port == 3128)
        #expect(proxy.server.authorization == "Basic " + Data("bob:pa:ss".utf8).base64EncodedString())
        #expect(try ModelProxy(url: "http://proxy").server.port == 80)
        #expect(try ModelProxy(url: "http://[::1]:8888").server.location == "[::1]:8888")
        for bad in ["proxy:3128", "https://proxy:3128", "socks5://proxy:1080", "http://", "http://proxy:3128/path"] {
            #expect(throws: ModelProxy.Invalid.self, "\(bad)") { try ModelProxy(url: bad) }
        }
    }

    @Test("a host bypasses the proxy when it or a parent domain is listed, or the list has *")
    func bypass() throws {
        let proxy = try ModelProxy(url: "http://proxy:3128", noProxy: [".internal.example", "LOCALHOST", "10.0.0.7"])
        #expect(proxy.server(for: "api.openai.com") == proxy.server)
        #expect(proxy.server(for: "internal.example") == nil)
        #expect(proxy.server(for: "llm.internal.example") == nil)
        #expect(proxy.server(for: "notinternal.example") == proxy.server)
        #expect(proxy.server(for: "localhost") == nil)
        #expect(proxy.server(for: "10.0.0.7") == nil)
        #expect(proxy.server(for: "10.0.0.70") == proxy.server)
        #expect(try ModelProxy(url: "http://proxy:3128", noProxy: ["*"]).server(for: "anything") == nil)
    }

    @Test("through the proxy an http request names its absolute URL and carries Proxy-Authorization; https does not")
    func requestsThroughTheProxy() throws {
        let proxy = try ModelProxy(url: "http://u:p@proxy:3128")
        let plain = try ModelHTTPRequest(
            url: "http://model.lan:8000/v1/chat/completions?x=1", method: .POST, headers: [:], body: ByteBuffer(),
            proxy: proxy)
        #expect(plain.head.uri == "http://model.lan:8000/v1/chat/completions?x=1")
        #expect(plain.head.headers["Proxy-Authorization"] == [proxy.server.authorization ?? "-"])
        #expect(plain.key.proxy == proxy.server)
        let secure = try ModelHTTPRequest(
            url: "https://api.example.com/v1/chat/completions", method: .POST, headers: [:], body: ByteBuffer(),
            proxy: proxy)
        #expect(secure.head.uri == "/v1/chat/completions")
        #expect(secure.head.headers["Proxy-Authorization"].isEmpty, "inside the tunnel the model would see it")
        #expect(secure.key.proxy == proxy.server)
        let direct = try ModelHTTPRequest(
            url: "http://model.lan:8000/v1/chat/completions", method: .POST, headers: [:], body: ByteBuffer(),
            proxy: try ModelProxy(url: "http://proxy:3128", noProxy: ["lan"]))
        #expect(direct.head.uri == "/v1/chat/completions")
        #expect(direct.key.proxy == nil)
    }
}
