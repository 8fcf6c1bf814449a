import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The files of `web/` as HTTP responses: a pre-compressed sibling (`app.css.br`, `app.css.gz`, made at set-up by
/// scripts/compress-web.sh) chosen by the request's `Accept-Encoding` when it is at least as new as the file,
/// a strong `ETag` from the file's content (`If-None-Match` → 304), and caching by kind: the vendor libraries
/// under their versioned path `/vendor/<lock hash>/…` are immutable for a year, everything else is revalidated
/// on each use (`no-cache`). Contents are kept in memory and read again when a file's size or mtime changes.
final class StaticFiles: Sendable {
    /// The content codings a sibling file can carry, best first.
    enum Encoding: String, CaseIterable, Sendable {
        case br
        case gzip

        var suffix: String { self == .br ? ".br" : ".gz" }
        var tagSuffix: String { self == .br ? "-br" : "-gz" }
    }

    static let immutable = "public, max-age=31536000, immutable"
    static let revalidate = "no-cache"
    /// Text files that may have compressed siblings (the same list as scripts/compress-web.sh).
    static let compressible: Set<String> = ["html", "css", "js", "mjs", "svg", "json"]

    let root: String
    /// The first 12 hex digits of the SHA-256 of `web/vendor.lock`: the vendor files' path segment that marks them
    /// immutable (`/vendor/<version>/vue.esm-browser.prod.js`); nil when there is no lock.
    let vendorVersion: String?
    private let threadPool: NIOThreadPool
    private let cache = Mutex<[String: Cached]>([:])

    init(root: String, threadPool: NIOThreadPool = .singleton) {
        self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
        self.threadPool = threadPool
        vendorVersion = FileManager.default.contents(atPath: self.root + "/vendor.lock").map(Self.vendorVersion(lock:))
    }

    static func vendorVersion(lock: Data) -> String {
        String(SHA256.hash(data: lock).lowercaseHex.prefix(12))
    }

    /// The response for a URL path, or nil when no file answers it. Throws 400 for a path that is not well formed
    /// or tries to leave the root.
    func response(to request: Request, path urlPath: String) async throws -> Response? {
        guard let (relative, immutable) = try resolve(urlPath) else { return nil }
        let accepted = Self.acceptedEncodings(request.headers[values: .acceptEncoding].joined(separator: ","))
        let fullPath = root + relative
        let compressible = Self.compressible.contains(Self.fileExtension(relative))
        guard
            let file = try await threadPool.runIfActive({
                try self.load(fullPath, accepted: compressible ? accepted : [])
            })
        else { return nil }

        var headers = HTTPFields()
        if let type = MediaType.getMediaType(forExtension: Self.fileExtension(relative)) {
            headers[.contentType] = type.description
        }
        let eTag = "\"\(file.hash)\(file.encoding?.tagSuffix ?? "")\""
        headers[.eTag] = eTag
        headers[.cacheControl] = immutable ? Self.immutable : Self.revalidate
        if compressible { headers[.vary] = "Accept-Encoding" }
        if Self.matches(ifNoneMatch: request.headers[values: .ifNoneMatch], eTag: eTag) {
            return Response(status: .notModified, headers: headers)
        }
        if let encoding = file.encoding { headers[.contentEncoding] = encoding.rawValue }
        headers[.contentLength] = String(file.body.readableBytes)
        return Response(
            status: .ok, headers: headers, body: request.method == .head ? .init() : .init(byteBuffer: file.body))
    }

    /// The file path under the root for a URL path, and whether it is a versioned (immutable) vendor file.
    func resolve(_ urlPath: String) throws -> (path: String, immutable: Bool)? {
        guard var path = urlPath.removingPercentEncoding else {
            throw HTTPError(.badRequest, message: "Invalid percent encoding in URL")
        }
        // Nothing outside the root: no "..", no NUL, no backslash, no hidden files (.git, …).
        guard !path.contains(".."), !path.contains("\0"), !path.contains("\\"), !path.contains("/.") else {
            throw HTTPError(.badRequest)
        }
        if !path.hasPrefix("/") { path = "/" + path }
        if path.hasSuffix("/") { path += "index.html" }
        if let version = vendorVersion, path.hasPrefix("/vendor/\(version)/") {
            return ("/vendor/" + path.dropFirst("/vendor/\(version)/".count), true)
        }
        return (path, false)
    }

    // MARK: files (run on the thread pool)

    private struct Stamp: Equatable {
        let size: Int
        let modified: Int64  // nanoseconds since 1970
    }

    private struct Cached: Sendable {
        let size: Int
        let modified: Int64
        let body: ByteBuffer
        let hash: String
    }

    private struct Loaded: Sendable {
        let body: ByteBuffer
        let hash: String
        let encoding: Encoding?
    }

    private func load(_ path: String, accepted: [Encoding]) throws -> Loaded? {
        guard let stamp = Self.stamp(path), let source = read(path, stamp: stamp) else { return nil }
        for encoding in accepted {
            let sibling = path + encoding.suffix
            // A sibling older than its file is stale (the file changed after set-up): send the plain file.
            if let siblingStamp = Self.stamp(sibling), siblingStamp.modified >= stamp.modified,
                let compressed = read(sibling, stamp: siblingStamp)
            {
                return Loaded(body: compressed.body, hash: source.hash, encoding: encoding)
            }
        }
        return Loaded(body: source.body, hash: source.hash, encoding: nil)
    }

    private func read(_ path: String, stamp: Stamp) -> Cached? {
        if let cached = cache.withLock({ $0[path] }), cached.size == stamp.size, cached.modified == stamp.modified {
            return cached
        }
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let digest = SHA256.hash(data: data).prefix(16).lowercaseHex
        let entry = Cached(size: stamp.size, modified: stamp.modified, body: ByteBuffer(data: data), hash: digest)
        cache.withLock { $0[path] = entry }
        return entry
    }

    /// Size and modification time of a regular file (symbolic links followed), or nil.
    private static func stamp(_ path: String) -> Stamp? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        #if canImport(Darwin)
            let time = info.st_mtimespec
        #else
            let time = info.st_mtim
        #endif
        return Stamp(size: Int(info.st_size), modified: Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec))
    }

    // MARK: headers

    /// The codings a request accepts, best first (`Accept-Encoding` with q-values; ties go to brotli). Empty for
    /// an absent header or one that asks for `identity` over any coding.
    static func acceptedEncodings(_ header: String) -> [Encoding] {
        var weights: [String: Double] = [:]
        for element in header.split(separator: ",") {
            let parts = element.split(separator: ";").map { $0.trimmingSpaces.lowercased() }
            guard let coding = parts.first, !coding.isEmpty else { continue }
            var q = 1.0
            for parameter in parts.dropFirst() where parameter.hasPrefix("q=") {
                q = Double(parameter.dropFirst(2)).map { min(max($0, 0), 1) } ?? 0
            }
            weights[coding == "x-gzip" ? "gzip" : coding] = q
        }
        let identity = weights["identity"] ?? 0
        return Encoding.allCases
            .map { ($0, weights[$0.rawValue] ?? weights["*"] ?? 0) }
            .filter { $0.1 > 0 && $0.1 >= identity }
            .enumerated().sorted { ($0.element.1, -$0.offset) > ($1.element.1, -$1.offset) }
            .map(\.element.0)
    }

    /// Whether `If-None-Match` names this representation (weak comparison, as RFC 9110 asks for this header).
    static func matches(ifNoneMatch values: [String], eTag: String) -> Bool {
        values.flatMap { $0.split(separator: ",") }.contains { candidate in
            var tag = String(candidate.trimmingSpaces)
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            return tag == eTag
        }
    }

    static func fileExtension(_ path: String) -> String {
        guard let last = path.split(separator: "/").last, let dot = last.lastIndex(of: ".") else { return "" }
        return String(last[last.index(after: dot)...]).lowercased()
    }
}
