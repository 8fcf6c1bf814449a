import NIOCore

/// Opens a tunnel through an HTTP proxy to an `https` model (`CONNECT host:port`), the first handler of a new
/// connection to the proxy. Once the proxy answers 2xx it leaves the pipeline and fulfils `established`; the
/// pool then adds TLS and HTTP in its place, so that TLS runs end to end with the model. Any other answer, a close
/// or an error fails `established` with a `ModelProxyError` and closes the connection.
///
/// Bounded: the proxy's answer head may take at most `maxHead` bytes. No timer of its own: the exchange's connect
/// timeout covers the tunnel (it runs until the request head is written).
final class ProxyTunnelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let maxHead = 16 * 1024

    let established: EventLoopPromise<Void>
    private let target: String
    private let proxy: ModelProxy.Server
    private var received: ByteBuffer?
    private var done = false

    /// A tunnel to `host:port` through `proxy`; `established` is fulfilled on the channel's event loop.
    init(host: String, port: Int, proxy: ModelProxy.Server, established: EventLoopPromise<Void>) {
        target = hostAndPort(host, port)
        self.proxy = proxy
        self.established = established
    }

    func channelActive(context: ChannelHandlerContext) {
        var head = "CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\n"
        if let authorization = proxy.authorization { head += "Proxy-Authorization: \(authorization)\r\n" }
        head += "\r\n"
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: head)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        var bytes = unwrapInboundIn(data)
        if received == nil {
            received = bytes
        } else {
            received?.writeBuffer(&bytes)
        }
        guard let buffer = received else { return }
        let view = buffer.readableBytesView
        guard let end = Self.headEnd(view) else {
            if buffer.readableBytes > Self.maxHead { fail(context, .badAnswer(proxy.location)) }
            return
        }
        guard let status = Self.status(view[view.startIndex..<end]) else {
            fail(context, .badAnswer(proxy.location))
            return
        }
        guard (200..<300).contains(status) else {
            fail(context, .refused(proxy.location, status: status))  // its body, if any, is not read
            return
        }
        guard end == view.endIndex else {
            // Bytes after a tunnel's answer, before TLS even began: not a proxy that tunnels.
            fail(context, .badAnswer(proxy.location))
            return
        }
        done = true
        received = nil
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        established.succeed()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context, .unreachable(proxy.location, error))
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(context, .closed(proxy.location))
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if !done {
            done = true
            established.fail(ModelProxyError.closed(proxy.location))
        }
    }

    private func fail(_ context: ChannelHandlerContext, _ error: ModelProxyError) {
        guard !done else { return }
        done = true
        received = nil
        established.fail(error)
        context.close(promise: nil)
    }

    /// Where the answer head ends (after its empty line), or nil before it came whole.
    private static func headEnd(_ bytes: ByteBufferView) -> ByteBufferView.Index? {
        var index = bytes.startIndex
        while index + 3 < bytes.endIndex {
            if bytes[index] == 13, bytes[index + 1] == 10, bytes[index + 2] == 13, bytes[index + 3] == 10 {
                return index + 4
            }
            index += 1
        }
        return nil
    }

    /// The status of `HTTP/1.x NNN …`, or nil when the head does not start like that.
    private static func status(_ head: ByteBufferView.SubSequence) -> Int? {
        let line = head.prefix { $0 != 13 }
        let words = line.split(separator: 32, maxSplits: 2)
        guard words.count >= 2, words[0].starts(with: Array("HTTP/1.".utf8)), words[1].count == 3,
            words[1].allSatisfy({ (48...57).contains($0) })
        else { return nil }
        return words[1].reduce(0) { $0 * 10 + Int($1 - 48) }
    }
}

/// Why a connection through the model proxy failed. Shown to users inside the model's error
/// (`describeConnectError`), the proxy named by `host:port` (never its user or password).
enum ModelProxyError: Error {
    /// The proxy could not be reached (the underlying connect error).
    case unreachable(String, any Error)
    /// The proxy answered the tunnel request with this status.
    case refused(String, status: Int)
    /// The proxy closed the connection before the tunnel was open.
    case closed(String)
    /// The proxy's answer was not HTTP (or too long).
    case badAnswer(String)

    /// A few words for the model's error message.
    var text: String {
        switch self {
        case .unreachable(let proxy, let error): "the proxy \(proxy) cannot be reached (\(describeConnectError(error)))"
        case .refused(let proxy, let status) where status == 407 || status == 401:  // tinyproxy says 401
            "the proxy \(proxy) wants a user name and password (HTTP \(status)): put them in CHATBOX_LLM_PROXY"
        case .refused(let proxy, let status): "the proxy \(proxy) refused to connect to the model (HTTP \(status))"
        case .closed(let proxy): "the proxy \(proxy) closed the connection"
        case .badAnswer(let proxy): "the proxy \(proxy) did not answer as an HTTP proxy"
        }
    }
}
