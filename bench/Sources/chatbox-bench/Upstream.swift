import FakeUpstream
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The bench's fake OpenAI-compatible upstream: plain SwiftNIO, every token written from a timer on the
/// connection's own event loop (no task hops), frames prepared when the request arrives, connections kept alive.
/// It understands the directives of `Sources/FakeUpstream` that the bench uses — `tokens=N`, `reply="…"`,
/// `delay_ms=N`, `first_delay_ms=N`, `reasoning_content=N` (N reasoning tokens `thoughtN` in
/// `delta.reasoning_content` before the answer, the same delay apart) — answers title requests with the question's
/// first words at once, defaults to 200 tokens 5 ms apart, and ends with a usage chunk when the request asks for it
/// (`stream_options.include_usage`), like the project's FakeUpstream. (`chatbox-bench upstream --hummingbird` runs the project's FakeUpstream
/// instead.)
enum FastUpstream {
    static func start(port: Int) async throws -> Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: true)
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler())
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
    }

    /// What to stream for one request.
    struct Plan {
        var frames: [ByteBuffer]
        var delay: TimeAmount
        var firstDelay: TimeAmount
        var streamed: Bool
        var text: String
    }

    struct Wire: Decodable {
        struct Message: Decodable {
            var role: String
            var content: String?
        }
        struct StreamOptions: Decodable { var include_usage: Bool? }
        var model: String?
        var messages: [Message]
        var stream: Bool?
        var stream_options: StreamOptions?
    }

    static func plan(_ body: ByteBuffer) -> Plan? {
        guard let wire = try? JSONDecoder().decode(Wire.self, from: Data(body.readableBytesView)) else { return nil }
        let lastUser = wire.messages.last { $0.role == "user" }?.content ?? ""
        let isTitle = wire.messages.contains {
            $0.role == "system" && ($0.content ?? "").lowercased().contains("title")
        }
        var tokens: [String]
        var reasoning: [String] = []
        var delay = TimeAmount.milliseconds(5)
        var firstDelay = TimeAmount.zero
        if isTitle {
            let words = FakeUpstream.strippingDirectives(lastUser).split(whereSeparator: \.isWhitespace).prefix(4)
            tokens = [words.isEmpty ? "New chat" : words.joined(separator: " ")]
            delay = .zero
        } else {
            let d = FakeUpstream.directives(in: lastUser)
            if let reply = d["reply"] {
                tokens = FakeReply.wordPieces(reply)
            } else {
                tokens = FakeReply.numberedTokens(d["tokens"].flatMap { Int($0) } ?? 200)
            }
            if let ms = d["delay_ms"].flatMap({ Int64($0) }) { delay = .milliseconds(ms) }
            if let ms = d["first_delay_ms"].flatMap({ Int64($0) }) { firstDelay = .milliseconds(ms) }
            if let count = d["reasoning_content"].flatMap({ Int($0) }) { reasoning = FakeStream.reasoningTokens(count) }
        }
        let model = jsonEscaped(wire.model ?? "fake")
        let head =
            "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
            + "\"model\":\"\(model)\",\"choices\":[{\"index\":0,\"delta\":{"
        var frames = reasoning.enumerated().map { index, token in
            ByteBuffer(
                string: head + (index == 0 ? "\"role\":\"assistant\"," : "")
                    + "\"content\":null,\"reasoning_content\":\"" + jsonEscaped(token)
                    + "\"},\"finish_reason\":null}]}\n\n")
        }
        frames += tokens.enumerated().map { index, token in
            ByteBuffer(
                string: head + (index == 0 && reasoning.isEmpty ? "\"role\":\"assistant\"," : "") + "\"content\":\""
                    + jsonEscaped(token) + "\"},\"finish_reason\":null}]}\n\n")
        }
        var usage = ""
        if wire.stream_options?.include_usage == true {
            let prompt = max(wire.messages.reduce(0) { $0 + ($1.content ?? "").count } / 4, 1)
            usage =
                "data: {\"id\":\"chatcmpl-bench\",\"choices\":[],\"usage\":{\"prompt_tokens\":\(prompt),"
                + "\"completion_tokens\":\(tokens.count + reasoning.count)}}\n\n"
        }
        frames.append(
            ByteBuffer(string: head + "},\"finish_reason\":\"stop\"}]}\n\n" + usage + "data: [DONE]\n\n"))
        return Plan(
            frames: frames, delay: delay, firstDelay: firstDelay, streamed: wire.stream ?? false,
            text: tokens.joined())
    }
}

/// One connection: reads a request, streams its plan, then waits for the next request on the same connection.
final class UpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var pending: Scheduled<Void>?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var part):
            body.writeBuffer(&part)
        case .end:
            guard let head else { return }
            respond(context, head)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        pending?.cancel()
        pending = nil
        context.fireChannelInactive()
    }

    private func respond(_ context: ChannelHandlerContext, _ head: HTTPRequestHead) {
        if head.method == .GET {
            let ok = head.uri == "/health" || head.uri == "/v1/models"
            finish(
                context, head, status: ok ? .ok : .notFound, type: "text/plain",
                body: ByteBuffer(string: ok ? "ok" : ""))
            return
        }
        guard head.uri.hasSuffix("/chat/completions"), let plan = FastUpstream.plan(body) else {
            finish(
                context, head, status: .badRequest, type: "application/json",
                body: ByteBuffer(string: #"{"error":{"message":"not a chat completion request"}}"#))
            return
        }
        guard plan.streamed else {
            let json =
                "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"fake\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"\(jsonEscaped(plan.text))\"},"
                + "\"finish_reason\":\"stop\"}]}"
            finish(context, head, status: .ok, type: "application/json", body: ByteBuffer(string: json))
            return
        }
        var headers = HTTPHeaders([("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
        headers.add(name: "Transfer-Encoding", value: "chunked")
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))),
            promise: nil)
        if plan.delay == .zero, plan.firstDelay == .zero {
            var all = ByteBuffer()
            for var frame in plan.frames { all.writeBuffer(&frame) }
            context.write(wrapOutboundOut(.body(.byteBuffer(all))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        context.flush()
        send(context, plan.frames, index: 0, wait: plan.firstDelay, delay: plan.delay)
    }

    private func send(
        _ context: ChannelHandlerContext, _ frames: [ByteBuffer], index: Int, wait: TimeAmount,
        delay: TimeAmount
    ) {
        let loop = context.eventLoop.assumeIsolated()
        let step = {
            self.pending = nil
            guard context.channel.isActive else { return }
            context.write(self.wrapOutboundOut(.body(.byteBuffer(frames[index]))), promise: nil)
            if index + 1 == frames.count {
                context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
            } else {
                context.flush()
                self.send(
                    context, frames, index: index + 1, wait: index + 2 == frames.count ? .zero : delay, delay: delay)
            }
        }
        if wait == .zero { step() } else { pending = loop.scheduleTask(in: wait, step) }
    }

    private func finish(
        _ context: ChannelHandlerContext, _ head: HTTPRequestHead, status: HTTPResponseStatus,
        type: String, body: ByteBuffer
    ) {
        let headers = HTTPHeaders([("Content-Type", type), ("Content-Length", "\(body.readableBytes)")])
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
