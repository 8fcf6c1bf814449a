import AsyncHTTPClient
import Foundation
import NIOPosix
import NIOSSL
import Synchronization

/// The HTTP clients of OpenAI-compatible models, shared by every model of the server: a `ModelConnectionPool`
/// for the streamed answers (plain SwiftNIO, keep-alive connections per host, no limit on concurrent streams) and
/// AsyncHTTPClient for the occasional `GET {base}/models` listing (`ModelListing`). Both go through the model
/// proxy when one is configured (`ModelProxy`), except to the hosts it bypasses.
///
/// The streams used to go through AsyncHTTPClient too, spread over 16 clients because its pool copies its whole
/// connection list each time it opens one (profiled in bench/README.md, "What was profiled"); the NIO pool has no
/// such cost, and no future per body part.
public final class ModelHTTPClients: Sendable {
    /// For listings only: direct, and through the proxy.
    private let directListing: HTTPClient
    private let proxiedListing: HTTPClient?
    /// The model proxy, if any.
    let proxy: ModelProxy?
    /// For streamed answers.
    let streams: ModelConnectionPool
    /// Endpoints that refused a request with `stream_options` and accepted it without (see
    /// `OpenAICompatibleModel`). Bounded: a few connections' endpoints, each added once.
    private let refusingStreamOptions = Mutex<Set<String>>([])

    /// `connectTimeout` bounds the listing client's connections; a model's streams have their own (see
    /// `OpenAICompatibleModel`). `readPace`: a streaming answer's socket is read at most once per tick this far
    /// apart once its first output went out (`OpenAIStreamHandler.read`); the server passes its stream batch
    /// interval. Shut them down with `shutdown()`.
    public convenience init(
        connectTimeout: Duration = .seconds(10), proxy: ModelProxy? = nil, readPace: Duration = .zero
    ) {
        self.init(
            connectTimeout: connectTimeout, tlsConfiguration: .makeClientConfiguration(), proxy: proxy,
            readPace: readPace)
    }

    /// `tlsConfiguration`: how stream connections to `https` endpoints are secured (tests trust their own
    /// certificate with it); `idleTimeout`: how long an idle stream connection is kept.
    init(
        connectTimeout: Duration, tlsConfiguration: TLSConfiguration, idleTimeout: Duration = .seconds(60),
        proxy: ModelProxy? = nil, readPace: Duration = .zero
    ) {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .nanoseconds(connectTimeout.wholeNanoseconds))
        configuration.connectionPool = .init(idleTimeout: .seconds(60))
        // A refused connection fails at once instead of being retried until the connect timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.decompression = .disabled
        let group = MultiThreadedEventLoopGroup.singleton
        directListing = HTTPClient(eventLoopGroup: group, configuration: configuration)
        proxiedListing = proxy.map { proxy in
            configuration.proxy = .server(
                host: proxy.server.host, port: proxy.server.port,
                authorization: proxy.server.credentials.map { .basic(credentials: $0) })
            return HTTPClient(eventLoopGroup: group, configuration: configuration)
        }
        self.proxy = proxy
        streams = ModelConnectionPool(
            tlsConfiguration: tlsConfiguration, idleTimeout: idleTimeout, readPace: readPace)
    }

    /// The listing client for `url`: through the proxy unless there is none or the URL's host bypasses it.
    func listing(for url: String) -> HTTPClient {
        guard let proxiedListing, let proxy, let host = URLComponents(string: url)?.host,
            proxy.server(for: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))) != nil
        else { return directListing }
        return proxiedListing
    }

    /// Whether requests to `endpoint` must leave out `stream_options` (it refused them before).
    func refusesStreamOptions(_ endpoint: String) -> Bool {
        refusingStreamOptions.withLock { $0.contains(endpoint) }
    }

    func rememberRefusesStreamOptions(_ endpoint: String) {
        refusingStreamOptions.withLock { set in
            if set.count < 10_000 { set.insert(endpoint) }
        }
    }

    /// Closes the idle stream connections and the listing client.
    public func shutdown() async throws {
        await streams.shutdown()
        try await directListing.shutdown()
        try await proxiedListing?.shutdown()
    }
}
