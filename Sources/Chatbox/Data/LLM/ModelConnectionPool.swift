import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// Keep-alive HTTP/1.1 connections to model hosts, for streamed `/chat/completions` requests, on plain SwiftNIO.
///
/// Per host (scheme, host, port) it keeps a short list of idle connections: the most recently used is reused
/// first, at most `maxIdlePerHost` are kept, and one idle for `idleTimeout` (60 s) is closed. There is no limit on the
/// connections in use: each request that finds no idle connection opens one (thousands of answers can stream from
/// one host at the same time). A connection goes back to the list only after a response that ended completely and
/// allowed keep-alive (see `OpenAIStreamHandler`); one that closes while idle leaves the list.
///
/// A connection's pipeline: `NIOSSLClientHandler` for `https` (the system's trust roots, full verification, SNI
/// unless the host is an IP address), NIO's HTTP/1.1 client handlers, then an `OpenAIStreamHandler`, which stays
/// for the connection's life and carries one request at a time.
///
/// Through an HTTP proxy (`ModelProxy`, part of the key): an `http` request goes to the proxy with its absolute
/// URL (`ModelHTTPRequest`); an `https` connection first opens a tunnel (`ProxyTunnelHandler`), then gets the
/// handlers above. Not supported: HTTP/2.
final class ModelConnectionPool: Sendable {
    /// Where a connection goes: scheme, host and port.
    struct Key: Hashable, Sendable {
        var tls: Bool
        var host: String
        var port: Int
        /// The proxy the connection goes through; nil: direct.
        var proxy: ModelProxy.Server? = nil
    }

    /// An idle connection and its handler (touched only on the connection's event loop).
    struct Idle: Sendable {
        let channel: any Channel
        let handler: NIOLoopBound<OpenAIStreamHandler>
    }

    /// Where the next request to a host goes: an idle connection, or a new one to open on `eventLoop`.
    struct Lease: Sendable {
        let eventLoop: any EventLoop
        let idle: Idle?
    }

    static let maxIdlePerHost = 64
    /// How long an idle connection is kept.
    let idleTimeout: Duration
    /// The ticks at which a streaming answer's socket is read once its first output went out (see
    /// `OpenAIStreamHandler.read`); nil: read as soon as bytes come.
    let readGrid: TickGrid?

    private struct State {
        var idle: [Key: [Idle]] = [:]
        var shutDown = false
    }

    private let state = Mutex(State())
    let group: any EventLoopGroup
    /// Made once: a context is costly to build (it loads the trust roots), and can serve every connection.
    private let tls: Result<NIOSSLContext, any Error>

    init(
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        tlsConfiguration: TLSConfiguration = .makeClientConfiguration(), idleTimeout: Duration = .seconds(60),
        readPace: Duration = .zero
    ) {
        self.group = group
        self.idleTimeout = idleTimeout
        readGrid = TickGrid(readPace)
        tls = Result { try NIOSSLContext(configuration: tlsConfiguration) }
    }

    /// The event loop that a model request made by this task had best run on, when it is one of the pool's: the
    /// loop of the browser connection its answer streams to. Each piece then reaches that stream on the thread
    /// that parsed it, without waking another one (`ChatService` binds it around the model's `start`, from the
    /// loop the chat controller passes). Nil: any loop.
    @TaskLocal static var preferredEventLoop: (any EventLoop)?

    /// An idle connection to `key` when there is one and `reuse` allows it (the most recently parked on
    /// `preferred`, else the most recently parked; closed ones are dropped), else an event loop to open a new one
    /// on: `preferred` when it is one of the pool's.
    func lease(_ key: Key, reuse: Bool, preferring preferred: (any EventLoop)? = nil) -> Lease {
        if reuse, let idle = takeIdle(key, preferring: preferred) {
            return Lease(eventLoop: idle.channel.eventLoop, idle: idle)
        }
        if let preferred, group.makeIterator().contains(where: { $0 === preferred }) {
            return Lease(eventLoop: preferred, idle: nil)
        }
        return Lease(eventLoop: group.next(), idle: nil)
    }

    private func takeIdle(_ key: Key, preferring preferred: (any EventLoop)?) -> Idle? {
        state.withLock { state in
            guard var list = state.idle[key] else { return nil }
            list.removeAll { !$0.channel.isActive }
            let index =
                preferred.flatMap { loop in list.lastIndex { $0.channel.eventLoop === loop } }
                ?? list.indices.last
            let found = index.map { list.remove(at: $0) }
            state.idle[key] = list.isEmpty ? nil : list
            return found
        }
    }

    /// Sends `request` for `exchange` on the lease's connection, or on a new one. On `lease.eventLoop`, which is
    /// `exchange`'s. The connect timeout runs from here until the request head is written (TLS handshake included).
    func send(
        _ request: ModelHTTPRequest, on lease: Lease, for exchange: OpenAIStreamExchange, connectTimeout: Duration
    ) {
        lease.eventLoop.execute { [self] in
            exchange.armConnectTimer(timeout: connectTimeout)
            if let idle = lease.idle {
                idle.handler.value.start(exchange, request)
                return
            }
            connect(request.key, on: lease.eventLoop, timeout: connectTimeout).assumeIsolated().whenComplete {
                result in
                switch result {
                case .success(let channel):
                    do {
                        try channel.pipeline.syncOperations.handler(type: OpenAIStreamHandler.self).start(
                            exchange, request)
                    } catch {
                        channel.close(promise: nil)
                        exchange.failed(error)
                    }
                case .failure(let error):
                    exchange.failed(error)
                }
            }
        }
    }

    /// Opens a connection to `key` on `eventLoop`. The bootstrap's own timeout is a second longer than the
    /// model's, so that the exchange's timer (which also covers the TLS handshake and a proxy's tunnel) ends the
    /// answer first, with its clearer message; the bootstrap's only bounds the socket.
    private func connect(_ key: Key, on eventLoop: any EventLoop, timeout: Duration) -> EventLoopFuture<any Channel> {
        let sslContext: NIOSSLContext?
        switch (key.tls, tls) {
        case (false, _): sslContext = nil
        case (true, .success(let context)): sslContext = context
        case (true, .failure(let error)): return eventLoop.makeFailedFuture(error)
        }
        let serverName = Self.isIPAddress(key.host) ? nil : key.host
        let addHandlers = { @Sendable [self] (channel: any Channel) throws in
            let pipeline = channel.pipeline.syncOperations
            if let sslContext {
                try pipeline.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
            }
            try pipeline.addHTTPClientHandlers()
            try pipeline.addHandler(OpenAIStreamHandler(pool: self, key: key))
        }
        guard let proxy = key.proxy else {
            return bootstrap(on: eventLoop, timeout: timeout) { channel in
                channel.eventLoop.makeCompletedFuture { try addHandlers(channel) }
            }.connect(host: key.host, port: key.port)
        }
        // Through a proxy: to an https model, a tunnel first; then the same handlers as a direct connection.
        let tunnel = key.tls ? eventLoop.makePromise(of: Void.self) : nil
        return bootstrap(on: eventLoop, timeout: timeout) { channel in
            channel.eventLoop.makeCompletedFuture {
                if let tunnel {
                    try channel.pipeline.syncOperations.addHandler(
                        ProxyTunnelHandler(host: key.host, port: key.port, proxy: proxy, established: tunnel))
                } else {
                    try addHandlers(channel)
                }
            }
        }
        .connect(host: proxy.host, port: proxy.port)
        .flatMapError { error in
            tunnel?.fail(error)  // when the tunnel's handler never came to fail it
            return eventLoop.makeFailedFuture(ModelProxyError.unreachable(proxy.location, error))
        }
        .flatMap { channel in
            guard let tunnel else { return eventLoop.makeSucceededFuture(channel) }
            return tunnel.futureResult.flatMapThrowing {
                do {
                    try addHandlers(channel)
                } catch {
                    channel.close(promise: nil)
                    throw error
                }
                return channel
            }
        }
    }

    private func bootstrap(
        on eventLoop: any EventLoop, timeout: Duration,
        _ initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) -> ClientBootstrap {
        ClientBootstrap(group: eventLoop)
            .connectTimeout(.nanoseconds((timeout + .seconds(1)).wholeNanoseconds))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            // A streamed answer comes in pieces of a few hundred bytes; the channel keeps its receive buffer between
            // reads, so it starts small (NIO's default is 2 KB) and grows when a read fills it.
            .channelOption(
                .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)
            )
            .channelInitializer(initializer)
    }

    /// Keeps an idle connection whose response ended cleanly; false when it is not kept (the host has
    /// `maxIdlePerHost` already, or the pool is shut down): the caller closes it.
    func park(_ idle: Idle, key: Key) -> Bool {
        state.withLock { state in
            guard !state.shutDown, state.idle[key, default: []].count < Self.maxIdlePerHost else { return false }
            state.idle[key, default: []].append(idle)
            return true
        }
    }

    /// Takes `channel` off the idle list (it timed out or closed); false when it was not there (taken meanwhile).
    func unpark(_ channel: any Channel, key: Key) -> Bool {
        state.withLock { state in
            guard var list = state.idle[key], let index = list.firstIndex(where: { $0.channel === channel }) else {
                return false
            }
            list.remove(at: index)
            state.idle[key] = list.isEmpty ? nil : list
            return true
        }
    }

    /// How many idle connections to `key` are kept (for tests).
    func idleCount(_ key: Key) -> Int {
        state.withLock { $0.idle[key]?.count ?? 0 }
    }

    /// Closes every idle connection; connections in use close when their answer ends (none is parked any more).
    func shutdown() async {
        let idle = state.withLock { state in
            state.shutDown = true
            defer { state.idle = [:] }
            return state.idle.values.flatMap { $0 }
        }
        for connection in idle { try? await connection.channel.close() }
    }

    private static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}

/// `host:port`, an IPv6 address in brackets (`[::1]:8080`), the port left out when nil: a request's authority, or
/// an address shown to users.
func hostAndPort(_ host: String, _ port: Int?) -> String {
    let shown = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
    return port.map { "\(shown):\($0)" } ?? shown
}

/// One request to a model endpoint, ready to write: where to connect, its head (with `Host` and `Content-Length`)
/// and its body. Through a proxy, an `http` request's target is its absolute URL and it carries the proxy's
/// `Proxy-Authorization` (an `https` one goes through a tunnel unchanged).
struct ModelHTTPRequest: Sendable {
    let key: ModelConnectionPool.Key
    let head: HTTPRequestHead
    let body: ByteBuffer

    /// Throws `ModelStreamError.invalidURL` unless `url` is `http(s)://host[:port][/path][?query]`. `proxy`: the
    /// model proxy, if any (whether the host bypasses it is decided here).
    init(url: String, method: HTTPMethod, headers: HTTPHeaders, body: ByteBuffer, proxy: ModelProxy? = nil) throws {
        try self.init(url: ModelURL(url), method: method, headers: headers, body: body, proxy: proxy)
    }

    init(url: ModelURL, method: HTTPMethod, headers: HTTPHeaders, body: ByteBuffer, proxy: ModelProxy? = nil) {
        let (tls, host, port) = (url.tls, url.host, url.port)
        var target = url.target
        var headers = headers
        if !headers.contains(name: "Host") {  // a connection's own Host header wins, as with AsyncHTTPClient
            headers.add(name: "Host", value: hostAndPort(host, port == url.defaultPort ? nil : port))
        }
        headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
        let server = proxy?.server(for: host)
        if let server, !tls {
            target = "http://\(hostAndPort(host, port))\(target)"
            if let authorization = server.authorization {
                headers.replaceOrAdd(name: "Proxy-Authorization", value: authorization)
            }
        }
        key = .init(tls: tls, host: host, port: port, proxy: server)
        head = HTTPRequestHead(version: .http1_1, method: method, uri: target, headers: headers)
        self.body = body
    }
}

/// A model endpoint's URL, parsed: `http(s)://host[:port][/path][?query]`, the host without IPv6 brackets, the
/// request target (path and query, at least `/`).
struct ModelURL: Sendable {
    let tls: Bool
    let host: String
    let port: Int
    let target: String
    var defaultPort: Int { tls ? 443 : 80 }

    /// Throws `ModelStreamError.invalidURL` for anything else.
    init(_ url: String) throws {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(),
            scheme == "http" || scheme == "https", var host = parsed.host(percentEncoded: false), !host.isEmpty
        else { throw ModelStreamError.invalidURL }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        tls = scheme == "https"
        port = parsed.port ?? (tls ? 443 : 80)
        guard (1...65535).contains(port) else { throw ModelStreamError.invalidURL }
        var target = parsed.path(percentEncoded: true)
        if target.isEmpty { target = "/" }
        if let query = parsed.query(percentEncoded: true) { target += "?" + query }
        self.host = host
        self.target = target
    }
}

/// What the stream client itself reports, besides NIO's and NIOSSL's own errors.
enum ModelStreamError: Error, Equatable {
    /// The URL is not `http(s)://host…`.
    case invalidURL
    /// The consumer left (the request was cancelled).
    case cancelled
    /// The server closed the connection before the response ended.
    case connectionClosed
}
