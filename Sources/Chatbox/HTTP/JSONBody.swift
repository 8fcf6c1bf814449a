import Foundation
import Hummingbird

/// Reads a request's JSON body with clear 4xx errors: wrong content type (415), too large (413), malformed
/// JSON or invalid UTF-8 (400), a missing field or one of the wrong type (422).
struct JSONBody {
    let maxBytes: Int

    /// Decodes a required JSON body.
    func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        guard let value = try await decodeOptional(type, from: request) else {
            throw HTTPError(.badRequest, message: "The request body is empty; it must be a JSON object.")
        }
        return value
    }

    /// Decodes a JSON body that may be left out entirely (nil then).
    func decodeOptional<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T? {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBytes)
        } catch {
            throw HTTPError(.contentTooLarge, message: "The request body is larger than \(maxBytes) bytes.")
        }
        guard buffer.readableBytes > 0 else { return nil }
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        guard contentType.hasPrefix("application/json") else {
            throw HTTPError(
                .unsupportedMediaType, message: "Send the request body as JSON (Content-Type: application/json).")
        }
        let data = Data(buffer: buffer)
        guard String(validating: data, as: UTF8.self) != nil else {
            throw HTTPError(.badRequest, message: "The request body is not valid UTF-8.")
        }
        do {
            return try APICoding.decoder.decode(T.self, from: data)
        } catch let error as DecodingError {
            throw Self.describe(error)
        }
    }

    /// The raw bytes of a JSON body (for documents decoded elsewhere, like imports).
    func rawJSON(from request: Request) async throws -> Data {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBytes)
        } catch {
            let limit = maxBytes >= 1_048_576 ? "\(maxBytes / 1_048_576) MB" : "\(maxBytes) bytes"
            throw HTTPError(.contentTooLarge, message: "The file is larger than \(limit).")
        }
        guard buffer.readableBytes > 0 else { throw HTTPError(.badRequest, message: "The request body is empty.") }
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            throw HTTPError(.unsupportedMediaType, message: "Send the file as JSON (Content-Type: application/json).")
        }
        return Data(buffer: buffer)
    }

    static func describe(_ error: DecodingError) -> HTTPError {
        switch error {
        case .keyNotFound(let key, let context):
            return HTTPError(.unprocessableContent, message: "Field '\(path(context.codingPath + [key]))' is required.")
        case .typeMismatch(let type, let context):
            return HTTPError(
                .unprocessableContent, message: "Field '\(path(context.codingPath))' must be \(describe(type)).")
        case .valueNotFound(let type, let context):
            return HTTPError(
                .unprocessableContent,
                message: "Field '\(path(context.codingPath))' must be \(describe(type)), not null.")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                return HTTPError(.badRequest, message: "The request body is not valid JSON.")
            }
            return HTTPError(
                .unprocessableContent, message: "Field '\(path(context.codingPath))' has an invalid value.")
        @unknown default:
            return HTTPError(.badRequest, message: "The request body could not be read.")
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        let joined = keys.map { $0.intValue.map { "[\($0)]" } ?? snake($0.stringValue) }.joined(separator: ".")
        return joined.isEmpty ? "body" : joined
    }

    private static func snake(_ name: String) -> String {
        var out = ""
        for character in name {
            if character.isUppercase { out += "_" + character.lowercased() } else { out.append(character) }
        }
        return out
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type, is String?.Type: "a string"
        case is Int.Type, is Int64.Type, is Int?.Type: "a whole number"
        case is Bool.Type, is Bool?.Type: "true or false"
        default:
            "\(type)".hasPrefix("Dictionary") || "\(type)".hasPrefix("KeyedDecoding") ? "an object" : "of another type"
        }
    }
}
