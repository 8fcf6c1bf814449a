import NIOCore
import NIOHTTP1

/// The last handler of a pooled model connection (see `ModelConnectionPool`): writes one request at a time and
/// hands its response, part by part as NIO decodes it, to the request's `OpenAIStreamExchange`, which parses it
/// right there on the event loop (no future, task or hop per body part).
///
/// After a response the connection goes back to the pool only when the response ended completely (its `.end`
/// part), the request was written whole, the response allowed keep-alive (HTTP/1.1 without `Connection: close`),
/// and nobody asked to drop it; otherwise it is closed. A connection that closes while a request is on it reports
/// the first error seen (TLS, HTTP parsing, reset…), else `ModelStreamError.connectionClosed`, to the exchange;
/// before any response byte, the exchange takes that for a stale keep-alive connection and retries.
///
/// Once a response's first output went out, its socket is read at most once per slot of the pool's `readGrid`
/// (see `read(context:)`).
///
/// Everything here runs on the channel's event loop; `NIOLoopBound` and the exchange reach it only there.
final class OpenAIStreamHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    private let pool: ModelConnectionPool
    private let key: ModelConnectionPool.Key
    private var context: ChannelHandlerContext?
    /// The request on this connection; nil while idle.
    private var exchange: OpenAIStreamExchange?
    /// What the current response allows (its head's `isKeepAlive`).
    private var keepAlive = false
    /// The whole request (up to its `.end`) reached the socket.
    private var requestWritten = false
    /// The exchange dropped the connection (the rest of the response is not wanted).
    private var dropping = false
    /// The first error of the pipeline (TLS, HTTP parsing, I/O), and of a write: what a close reports.
    private var caught: (any Error)?
    private var writeFailure: (any Error)?
    private var idleTimer: Scheduled<Void>?
    /// The slot of the last read that brought bytes (`channelReadComplete`); nil since the request was written.
    private var lastReadSlot: UInt64?
    /// The socket's next read, held until the next tick.
    private var heldRead: Scheduled<Void>?

    init(pool: ModelConnectionPool, key: ModelConnectionPool.Key) {
        self.pool = pool
        self.key = key
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        releaseHeldRead()
    }

    // MARK: Requests

    /// Writes `request` for `exchange`. A connection closed meanwhile fails it with what closed it (a TLS
    /// failure…), else as stale (nothing was sent); an exchange that ended meanwhile (cancelled, timed out) closes
    /// the connection instead.
    func start(_ exchange: OpenAIStreamExchange, _ request: ModelHTTPRequest) {
        guard let context, context.channel.isActive, self.exchange == nil else {
            context?.close(promise: nil)
            exchange.failed(caught ?? writeFailure ?? ChannelError.ioOnClosedChannel)
            return
        }
        idleTimer?.cancel()
        idleTimer = nil
        guard !exchange.ended else {
            context.close(promise: nil)
            return
        }
        self.exchange = exchange
        keepAlive = false
        lastReadSlot = nil
        requestWritten = false
        dropping = false
        caught = nil
        writeFailure = nil
        exchange.attach(self)

        let headWritten = context.eventLoop.makePromise(of: Void.self)
        headWritten.futureResult.assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success: exchange.requestSent()
            case .failure(let error): writeFailed(error)
            }
        }
        let allWritten = context.eventLoop.makePromise(of: Void.self)
        allWritten.futureResult.assumeIsolated().whenComplete { [self] result in
            guard self.exchange === exchange else { return }
            switch result {
            case .success: requestWritten = true
            case .failure(let error): writeFailed(error)
            }
        }
        context.write(wrapOutboundOut(.head(request.head)), promise: headWritten)
        context.write(wrapOutboundOut(.body(.byteBuffer(request.body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: allWritten)
    }

    /// The exchange wants no more of this response: the connection is closed, never reused.
    func drop() {
        dropping = true
        exchange = nil
        context?.close(promise: nil)
    }

    private func writeFailed(_ error: any Error) {
        if writeFailure == nil { writeFailure = error }
        context?.close(promise: nil)
    }

    // MARK: Responses

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard let exchange else {
                context.close(promise: nil)  // an answer to no request (e.g. a server's 408 to an idle connection)
                return
            }
            keepAlive = head.isKeepAlive
            exchange.receivedHead(head.status)
        case .body(let buffer):
            exchange?.receivedBodyPart(buffer)
        case .end:
            guard let exchange else { return }
            self.exchange = nil
            exchange.detach()
            if keepAlive, requestWritten, !dropping, context.channel.isActive {
                becomeIdle(context)
            } else {
                context.close(promise: nil)
            }
            exchange.bodyEnded()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let grid = pool.readGrid { lastReadSlot = grid.slot() }
        context.fireChannelReadComplete()
    }

    // MARK: Paced reads

    /// The socket's next read (NIO asks for one after each read, `autoRead`). Once the response's first output went
    /// out, a read asked for in the slot of the last one waits for the next tick: the model's pieces that come
    /// meanwhile wait in the socket and are read together, and the streams of this event loop wake up once per
    /// tick for all of them, instead of once per piece (a model sends a TCP segment per token). The relay writes
    /// what such a read brings at once (`SSE.relay`, on the same ticks), so a piece waits at most one interval, as
    /// it would in the relay anyway. Before the first output (the time to first token) and while idle (to see the
    /// host close it), reads are never held.
    func read(context: ChannelHandlerContext) {
        guard heldRead == nil else { return }
        guard let grid = pool.readGrid, let exchange, exchange.hasOutput, let last = lastReadSlot,
            grid.slot() == last
        else {
            context.read()
            return
        }
        heldRead = context.eventLoop.assumeIsolated().scheduleTask(deadline: grid.tick(after: last)) { [self] in
            heldRead = nil
            self.context?.read()
        }
    }

    private func releaseHeldRead() {
        heldRead?.cancel()
        heldRead = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if caught == nil { caught = error }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        idleTimer = nil
        releaseHeldRead()
        if let exchange {
            self.exchange = nil
            exchange.detach()
            exchange.failed(caught ?? writeFailure ?? ModelStreamError.connectionClosed)
        } else {
            _ = pool.unpark(context.channel, key: key)
        }
        context.fireChannelInactive()
    }

    // MARK: Idle

    /// Back to the pool, closed after `idleTimeout` unless a request takes it first.
    private func becomeIdle(_ context: ChannelHandlerContext) {
        let channel = context.channel
        let idle = ModelConnectionPool.Idle(
            channel: channel, handler: NIOLoopBound(self, eventLoop: context.eventLoop))
        guard pool.park(idle, key: key) else {
            context.close(promise: nil)
            return
        }
        let timeout = pool.idleTimeout
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(
            in: .nanoseconds(timeout.wholeNanoseconds)
        ) { [pool, key] in
            if pool.unpark(channel, key: key) { channel.close(promise: nil) }
        }
    }
}
