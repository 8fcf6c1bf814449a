import Foundation
import Configuration
import Logging

/// A setting with a bad value: start-up stops with one line naming the setting and the reason.
public struct ConfigError: Error, CustomStringConvertible {
    public let key: String
    public let reason: String
    public init(_ key: String, _ reason: String) {
        self.key = key
        self.reason = reason
    }
    /// `CHATBOX_PORT (--port): must be a whole number from 1 to 65535, not "abc"`.
    public var description: String { "\(ConfigError.environmentName(key)) (\(ConfigError.flagName(key))): \(reason)" }

    /// `llm.baseUrl` → `CHATBOX_LLM_BASE_URL`.
    static func environmentName(_ key: String) -> String {
        "CHATBOX_" + words(key).joined(separator: "_").uppercased()
    }
    /// `llm.baseUrl` → `--llm-base-url`.
    static func flagName(_ key: String) -> String { "--" + words(key).joined(separator: "-").lowercased() }

    private static func words(_ key: String) -> [String] {
        key.split(separator: ".").flatMap { part -> [String] in
            var words: [String] = []
            var current = ""
            for character in part {
                if character.isUppercase, !current.isEmpty {
                    words.append(current)
                    current = ""
                }
                current.append(character)
            }
            words.append(current)
            return words
        }
    }
}

/// How to reach the chat model, and the title model beside it.
public struct ModelSettings: Sendable {
    public var baseURL: String?
    public var apiKey: String?
    public var model: String?
    public var headers: [(String, String)] = []
    public var command: String?
    /// Names of the server's environment variables the command also gets (besides PATH, HOME, LANG, LC_ALL and TZ).
    public var commandEnvironment: [String] = []
    public var systemPrompt: String?
    /// The newest turns sent to the model fit in this many characters (the system prompt and question always go).
    public var contextChars = 24_000
    public var firstTokenTimeout: Duration = .seconds(60)
    public var stallTimeout: Duration = .seconds(60)
    public var demoTokenDelay: Duration = .milliseconds(25)
    public var titleBaseURL: String?
    public var titleAPIKey: String?
    public var titleModel: String?
    public var titleTimeout: Duration = .seconds(15)
    /// The HTTP proxy for OpenAI-compatible models (every connection's), and the hosts that bypass it.
    public var proxy: ModelProxy?
}

/// Every setting, read once at start-up from CLI flags, then `CHATBOX_*` environment variables, then defaults.
public struct AppConfig: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var database = DatabaseLocation.sqlite(path: "data/chatbox.sqlite")
    public var mysqlPoolSize = 8
    /// The MySQL search index to use instead of the best the server offers (nil: that one).
    public var searchIndex: SearchIndexKind?
    public var webRoot = "web"
    public var sessionLifetime: Millis = 30 * 24 * 3_600_000
    /// However often it is used, a session ends this long after sign-in.
    public var sessionMaxAge: Millis = 90 * 24 * 3_600_000
    public var registrationOpen = true
    public var bcryptCost = 12
    public var logLevel = Logger.Level.info
    public var secureCookies = false
    public var maxBodyBytes = 1 << 20
    /// The largest history file an import accepts.
    public var maxImportBytes = 50 << 20
    public var maxMessageChars = 100_000
    /// An answer that grows past this many characters ends as failed ("the answer was too long"), its text kept.
    public var maxAnswerChars = 200_000
    /// Answers one user may have running at once, across conversations (429 beyond).
    public var maxRunningPerUser = 3
    /// Open answer streams (sends and re-attaches) one user may hold at once (429 beyond).
    public var maxStreamsPerUser = 20
    public var loginFailuresPerAccount = 5
    public var loginFailuresPerAddress = 20
    public var loginWindow: Duration = .seconds(900)
    /// Sign-ups per client address per login window.
    public var registrationsPerAddress = 10
    public var trustForwardedFor = false
    public var allowedOrigins: [String] = []
    /// Extra `Host` names served while listening on a loopback address (DNS-rebinding guard); loopback names always are.
    public var allowedHosts: [String] = []
    /// A connection that sends no complete request head for this long is closed (slow headers).
    public var idleTimeout: Duration = .seconds(30)
    public var flushInterval: Duration = .seconds(1)
    /// An answer's stream writes its pieces at most once per tick this far apart (the same ticks for every stream),
    /// sending whatever arrived meanwhile together (the first piece always goes at once); once an answer has begun,
    /// its model's socket is read at most once per tick too (`TickGrid`). One browser frame: smooth to read, and
    /// far fewer writes and wake-ups than one per token. Zero writes every piece at once and reads as bytes come.
    public var streamBatchInterval: Duration = .milliseconds(16)
    /// How long a shutdown waits for running answers before stopping them.
    public var shutdownGrace: Duration = .seconds(10)
    /// How long a session read from the database is used without reading it again (0: always read). Changes on
    /// this instance take effect at once; another instance's (a logout, a disabled user) within this time.
    public var sessionCache: Duration = .seconds(10)
    /// This instance's name in logs, `/healthz` and the database's leases (default: host name and port).
    public var instanceID: String?
    /// An instance whose lease (renewed with every progress save) is older than this is presumed dead: any other
    /// instance fails its running answers (text kept) and frees their conversations.
    public var instanceLease: Duration = .seconds(5)
    /// How often a stream re-attached on an instance that does not own the answer reads its saved text.
    public var followInterval: Duration = .milliseconds(200)
    public var model = ModelSettings()

    public init() {}

    /// `instanceID`, else the host name and port (`chatbox-1:8080`).
    public var instance: String {
        instanceID
            ?? String(
                "\(ProcessInfo.processInfo.hostName):\(port)".utf8.prefix(190).filter { $0 > 32 && $0 < 127 }.map {
                    Character(UnicodeScalar($0))
                })
    }

    public init(reader: ConfigReader) throws(ConfigError) {
        let read = SettingReader(reader: reader)
        host = read.string("host") ?? host
        port = try read.int("port", in: 0...65535) ?? port
        if let url = read.string("database.url") {
            do { database = try DatabaseLocation(url: url) } catch { throw ConfigError("database.url", error.reason) }
        }
        mysqlPoolSize = try read.int("database.poolSize", in: 1...256) ?? mysqlPoolSize
        if let index = read.string("database.searchIndex"), index != "auto" {
            guard let kind = SearchIndexKind(rawValue: index), kind != .fts5 else {
                throw ConfigError(
                    "database.searchIndex", "must be auto, mroonga, ngram, trigram_table or like, not \"\(index)\"")
            }
            searchIndex = kind
        }
        webRoot = read.string("web.root") ?? webRoot
        sessionLifetime =
            try read.int("session.lifetimeHours", in: 1...87_600).map { Millis($0) * 3_600_000 }
            ?? sessionLifetime
        sessionMaxAge =
            try read.int("session.maxAgeHours", in: 1...87_600).map { Millis($0) * 3_600_000 }
            ?? max(sessionMaxAge, sessionLifetime)
        registrationOpen = try read.bool("registration.open") ?? registrationOpen
        bcryptCost = try read.int("bcrypt.cost", in: 4...16) ?? bcryptCost
        if let level = read.string("log.level") {
            guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
                throw ConfigError(
                    "log.level", "must be one of trace, debug, info, notice, warning, error, critical, not \"\(level)\""
                )
            }
            logLevel = parsed
        }
        secureCookies = try read.bool("cookies.secure") ?? secureCookies
        maxBodyBytes = try read.int("http.maxBodyBytes", in: 1024...(1 << 30)) ?? maxBodyBytes
        maxImportBytes = try read.int("http.maxImportBytes", in: 1024...(1 << 31)) ?? maxImportBytes
        maxMessageChars = try read.int("chat.maxMessageChars", in: 1...10_000_000) ?? maxMessageChars
        maxAnswerChars = try read.int("chat.maxAnswerChars", in: 1...100_000_000) ?? maxAnswerChars
        maxRunningPerUser = try read.int("chat.maxRunningPerUser", in: 1...10_000) ?? maxRunningPerUser
        maxStreamsPerUser = try read.int("chat.maxStreamsPerUser", in: 1...100_000) ?? maxStreamsPerUser
        loginFailuresPerAccount = try read.int("login.maxFailures", in: 1...1000) ?? loginFailuresPerAccount
        loginFailuresPerAddress =
            try read.int("login.maxFailuresPerAddress", in: 1...100_000)
            ?? loginFailuresPerAddress
        trustForwardedFor = try read.bool("http.trustForwardedFor") ?? trustForwardedFor
        allowedOrigins = read.list("http.allowedOrigins") ?? allowedOrigins
        allowedHosts = read.list("http.allowedHosts") ?? allowedHosts
        idleTimeout = try read.seconds("http.idleTimeoutSeconds", in: 1...3600) ?? idleTimeout
        registrationsPerAddress = try read.int("registration.maxPerAddress", in: 1...100_000) ?? registrationsPerAddress
        flushInterval = try read.seconds("chat.flushIntervalMs", scale: 1000, in: 10...60_000) ?? flushInterval
        streamBatchInterval = try read.seconds("chat.streamBatchMs", scale: 1000, in: 0...1000) ?? streamBatchInterval
        shutdownGrace = try read.seconds("shutdown.graceSeconds", in: 0...600) ?? shutdownGrace
        if let id = read.string("instance.id") {
            guard (1...190).contains(id.utf8.count), id.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "\u{7F}" })
            else {
                throw ConfigError(
                    "instance.id", "must be 1 to 190 printable ASCII characters without spaces, not \"\(id)\"")
            }
            instanceID = id
        }
        sessionCache = try read.seconds("session.cacheSeconds", in: 0...3600) ?? sessionCache
        instanceLease = try read.seconds("instance.leaseMs", scale: 1000, in: 500...600_000) ?? instanceLease
        followInterval = try read.seconds("chat.followIntervalMs", scale: 1000, in: 10...10_000) ?? followInterval
        model = try Self.modelSettings(read)
    }

    private static func modelSettings(_ read: SettingReader) throws(ConfigError) -> ModelSettings {
        var model = ModelSettings()
        model.baseURL = read.string("llm.baseUrl")
        model.apiKey = read.secret("llm.apiKey")
        model.model = read.string("llm.model")
        model.command = read.string("llm.command")
        model.commandEnvironment = read.list("llm.commandEnv") ?? model.commandEnvironment
        model.systemPrompt = read.string("llm.systemPrompt")
        if let headers = read.string("llm.headers") { model.headers = try parseHeaders(headers) }
        if let url = model.baseURL {
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw ConfigError(
                    "llm.baseUrl",
                    "must be an http:// or https:// URL such as http://127.0.0.1:11434/v1, not \"\(url)\"")
            }
            guard model.model != nil else {
                throw ConfigError(
                    "llm.model", "is needed with CHATBOX_LLM_BASE_URL: the model's name, e.g. qwen2.5:7b or gpt-4o-mini"
                )
            }
            if model.command != nil {
                throw ConfigError("llm.command", "choose one: CHATBOX_LLM_COMMAND or CHATBOX_LLM_BASE_URL, not both")
            }
        }
        model.contextChars = try read.int("llm.contextChars", in: 100...10_000_000) ?? model.contextChars
        model.firstTokenTimeout = try read.seconds("llm.firstTokenTimeout", in: 1...3600) ?? model.firstTokenTimeout
        model.stallTimeout = try read.seconds("llm.stallTimeout", in: 1...3600) ?? model.stallTimeout
        model.demoTokenDelay = try read.seconds("llm.demoDelayMs", scale: 1000, in: 0...5000) ?? model.demoTokenDelay
        model.titleBaseURL = read.string("title.baseUrl")
        model.titleAPIKey = read.secret("title.apiKey")
        model.titleModel = read.string("title.model")
        model.titleTimeout = try read.seconds("title.timeout", in: 1...600) ?? model.titleTimeout
        let noProxy = read.list("llm.noProxy") ?? []
        if let url = read.string("llm.proxy") {
            do { model.proxy = try ModelProxy(url: url, noProxy: noProxy) } catch {
                throw ConfigError("llm.proxy", error.reason)
            }
        } else if !noProxy.isEmpty {
            throw ConfigError("llm.noProxy", "has no effect without CHATBOX_LLM_PROXY")
        }
        return model
    }

    /// `X-Org: acme; X-Team: chat` → pairs.
    static func parseHeaders(_ text: String) throws(ConfigError) -> [(String, String)] {
        var headers: [(String, String)] = []
        for part in text.split(separator: ";") where !part.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let colon = part.firstIndex(of: ":") else {
                throw ConfigError("llm.headers", "each header is Name: value, separated by ';' (got \"\(part)\")")
            }
            let name = part[..<colon].trimmingCharacters(in: .whitespaces)
            let value = part[part.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
                throw ConfigError("llm.headers", "\"\(name)\" is not a valid header name")
            }
            headers.append((name, value))
        }
        return headers
    }
}

/// Reads raw strings and turns them into typed values with errors that name the setting.
struct SettingReader {
    let reader: ConfigReader

    func string(_ key: String) -> String? {
        guard let value = reader.string(forKey: ConfigKey(key)) else { return nil }
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? nil : trimmed
    }

    func secret(_ key: String) -> String? {
        reader.string(forKey: ConfigKey(key), isSecret: true).flatMap { $0.isEmpty ? nil : $0 }
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let text = string(key) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw ConfigError(
                key, "must be a whole number from \(range.lowerBound) to \(range.upperBound), not \"\(text)\"")
        }
        return value
    }

    func bool(_ key: String) throws(ConfigError) -> Bool? {
        guard let text = string(key) else { return nil }
        switch text.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigError(key, "must be true or false, not \"\(text)\"")
        }
    }

    /// A number of seconds (or of milliseconds with `scale: 1000`) as a Duration.
    func seconds(_ key: String, scale: Int = 1, in range: ClosedRange<Int>) throws(ConfigError) -> Duration? {
        guard let value = try int(key, in: range) else { return nil }
        return .milliseconds(value * 1000 / scale)
    }

    func list(_ key: String) -> [String]? {
        string(key).map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
    }
}
