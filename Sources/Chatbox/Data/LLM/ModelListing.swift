import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat

/// What an OpenAI-compatible provider offers: `GET {baseURL}/models` (the base URL without trailing slashes, no
/// `/v1` added), with the API key as a Bearer token and the connection's extra headers. Reads OpenAI's
/// `{"data":[{"id":…}]}` and Ollama's native `{"models":[{"name":…}]}`.
///
/// Bounded: the whole exchange within `timeout` (10 s), a body of at most `maxBytes` (1 MiB). Failures are
/// `ModelError`s whose messages name the provider by `host:port` and never carry the key (`ModelErrorText`).
struct ModelListing: Sendable {
    let baseURL: String
    let apiKey: String?
    let headers: [(String, String)]
    let httpClients: ModelHTTPClients
    let logger: Logger
    var timeout: Duration = .seconds(10)
    var maxBytes = 1 << 20

    private var errors: ModelErrorText { ModelErrorText(url: baseURL, secrets: [apiKey] + headers.map(\.1)) }

    /// The endpoint: `baseURL` without trailing slashes + `/models`.
    var endpoint: String {
        var base = Substring(baseURL)
        while base.hasSuffix("/") { base = base.dropLast() }
        return base + "/models"
    }

    /// The provider's model ids, in its order, each once.
    func fetch() async throws -> [String] {
        let errors = self.errors
        var request = HTTPClientRequest(url: endpoint)
        request.method = .GET
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Chatbox")
        if let apiKey, !apiKey.isEmpty { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
        let deadline = NIODeadline.now() + .nanoseconds(Int64(timeout.wholeNanoseconds))
        let response: HTTPClientResponse
        var body: ByteBuffer
        do {
            response = try await httpClients.listing(for: request.url).execute(
                request, deadline: deadline, logger: logger)
            body = try await response.body.collect(upTo: maxBytes)
        } catch is NIOTooManyBytesError {
            throw ModelError(
                .malformed, "The model list of \(errors.location) is larger than \(maxBytes / 1_048_576) MiB.")
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw ModelError(.timeout, "\(errors.location) did not list its models within \(Self.describe(timeout)).")
        } catch let error as HTTPClientError where error == .invalidURL || error == .emptyHost || error == .emptyScheme
        {
            errors.log(logger, "the model list request could not be made", error)
            throw ModelError(.unreachable, "The base URL of \(errors.location) is not valid.")
        } catch {
            errors.log(logger, "listing the models failed", error)
            throw ModelError(
                .unreachable, "Could not reach \(errors.location) to list its models (\(describeConnectError(error))).")
        }
        guard (200..<300).contains(response.status.code) else {
            let message = errors.quote(providerMessage(fromErrorBody: body))
            throw ModelError(
                .http,
                "\(errors.location) answered HTTP \(response.status.code) when asked for its models"
                    + (message.isEmpty ? "." : ": \(message)"))
        }
        guard let ids = Self.parse(body.readData(length: body.readableBytes) ?? Data()) else {
            throw ModelError(
                .malformed,
                "The model list of \(errors.location) could not be read (expected {\"data\": [{\"id\": …}]}).")
        }
        return ids
    }

    /// "10 seconds", "1 second", "300 ms".
    static func describe(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        guard milliseconds >= 1000 else { return "\(milliseconds) ms" }
        let seconds = milliseconds / 1000
        return seconds == 1 ? "1 second" : "\(seconds) seconds"
    }

    /// The ids of an OpenAI `{"data":[{"id"}]}` or Ollama `{"models":[{"name"}]}` list (blank ones left out, each
    /// once, in order); nil when the body is neither.
    static func parse(_ data: Data) -> [String]? {
        struct Listed: Decodable {
            struct Entry: Decodable {
                var id: String?
                var name: String?
                var model: String?
            }
            var data: [Entry]?
            var models: [Entry]?
        }
        guard let listed = try? JSONDecoder().decode(Listed.self, from: data) else { return nil }
        let entries: [String]
        if let data = listed.data {
            entries = data.compactMap { $0.id ?? $0.name }
        } else if let models = listed.models {
            entries = models.compactMap { $0.name ?? $0.model ?? $0.id }
        } else {
            return nil
        }
        var seen = Set<String>()
        return entries.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { !$0.isEmpty && seen.insert($0).inserted }
    }
}
