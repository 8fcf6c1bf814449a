@testable import Chatbox
import Configuration
import Foundation
import Hummingbird
import Testing

@Suite("Configuration")
struct ConfigTests {
    /// How the host check reads a `Host` header (or a configured name): no port, lower case, no trailing dot,
    /// spaces around it ignored, IPv6 in brackets.
    @Test func aHostNameIsReadWithoutPortCaseOrTrailingDot() {
        #expect(HostCheckMiddleware<BasicRequestContext>.name(ofHost: " LocalHost:8080 ") == "localhost")
        #expect(HostCheckMiddleware<BasicRequestContext>.name(ofHost: "Chat.Example.ORG.") == "chat.example.org")
        #expect(HostCheckMiddleware<BasicRequestContext>.name(ofHost: "[::1]:80") == "[::1]")
        #expect(HostCheckMiddleware<BasicRequestContext>.name(ofHost: "::1") == "[::1]")
        #expect(HostCheckMiddleware<BasicRequestContext>.name(ofHost: "\t127.0.0.1") == "127.0.0.1")
        #expect(HostCheckMiddleware<BasicRequestContext>.isLoopback("127.0.0.1"))
        #expect(!HostCheckMiddleware<BasicRequestContext>.isLoopback("evil.example"))
    }

    static func config(env: [String: String] = [:], flags: [String] = []) throws -> AppConfig {
        let reader = ConfigReader(providers: [
            CommandLineArgumentsProvider(arguments: ["chatbox"] + flags),
            EnvironmentVariablesProvider(environmentVariables: env).prefixKeys(with: "chatbox")
        ])
        return try AppConfig(reader: reader)
    }

    @Test func defaultsServeSQLiteOnLoopbackWithTheDemoModel() throws {
        let config = try Self.config()
        #expect(config.host == "127.0.0.1")
        #expect(config.port == 8080)
        #expect(config.database == .sqlite(path: "data/chatbox.sqlite"))
        #expect(config.model.baseURL == nil && config.model.command == nil)
    }

    @Test func environmentVariablesAreRead() throws {
        let config = try Self.config(env: [
            "CHATBOX_HOST": "0.0.0.0", "CHATBOX_PORT": "9000",
            "CHATBOX_DATABASE_URL": "mysql://root:pw@127.0.0.1:3306/chatbox_db",
            "CHATBOX_SESSION_LIFETIME_HOURS": "2", "CHATBOX_REGISTRATION_OPEN": "false", "CHATBOX_BCRYPT_COST": "10",
            "CHATBOX_LOG_LEVEL": "debug", "CHATBOX_LLM_BASE_URL": "http://127.0.0.1:11434/v1",
            "CHATBOX_LLM_MODEL": "qwen2.5:7b", "CHATBOX_LLM_HEADERS": "X-Org: acme; X-Team: chat",
            "CHATBOX_LLM_FIRST_TOKEN_TIMEOUT": "7", "CHATBOX_TITLE_MODEL": "small"
        ])
        #expect(config.host == "0.0.0.0" && config.port == 9000)
        #expect(config.database == .mysql(url: "mysql://root:pw@127.0.0.1:3306/chatbox_db"))
        #expect(config.sessionLifetime == 2 * 3_600_000)
        #expect(!config.registrationOpen && config.bcryptCost == 10 && config.logLevel == .debug)
        #expect(config.model.model == "qwen2.5:7b")
        #expect(config.model.headers.map { "\($0.0)=\($0.1)" } == ["X-Org=acme", "X-Team=chat"])
        #expect(config.model.firstTokenTimeout == .seconds(7))
        #expect(config.model.titleModel == "small")
    }

    @Test func theHardeningLimitsHaveSafeDefaultsAndAreRead() throws {
        let defaults = try Self.config()
        #expect(
            defaults.maxAnswerChars == 200_000 && defaults.maxRunningPerUser == 3 && defaults.maxStreamsPerUser == 20)
        #expect(defaults.allowedHosts.isEmpty && defaults.idleTimeout == .seconds(30))
        #expect(defaults.sessionMaxAge == 90 * 24 * 3_600_000 && defaults.registrationsPerAddress == 10)
        #expect(defaults.model.commandEnvironment.isEmpty)
        let set = try Self.config(env: [
            "CHATBOX_CHAT_MAX_ANSWER_CHARS": "5000", "CHATBOX_CHAT_MAX_RUNNING_PER_USER": "1",
            "CHATBOX_CHAT_MAX_STREAMS_PER_USER": "4", "CHATBOX_HTTP_ALLOWED_HOSTS": "chat.example.org, box.lan",
            "CHATBOX_HTTP_IDLE_TIMEOUT_SECONDS": "5", "CHATBOX_SESSION_MAX_AGE_HOURS": "48",
            "CHATBOX_REGISTRATION_MAX_PER_ADDRESS": "2", "CHATBOX_LLM_COMMAND_ENV": "OPENAI_API_KEY,HF_HOME"
        ])
        #expect(set.maxAnswerChars == 5000 && set.maxRunningPerUser == 1 && set.maxStreamsPerUser == 4)
        #expect(set.allowedHosts == ["chat.example.org", "box.lan"] && set.idleTimeout == .seconds(5))
        #expect(set.sessionMaxAge == 48 * 3_600_000 && set.registrationsPerAddress == 2)
        #expect(set.model.commandEnvironment == ["OPENAI_API_KEY", "HF_HOME"])
        // A sliding lifetime longer than the default maximum age raises the maximum with it.
        #expect(try Self.config(env: ["CHATBOX_SESSION_LIFETIME_HOURS": "4000"]).sessionMaxAge == 4000 * 3_600_000)
    }

    @Test func theModelProxyAndTheHostsThatBypassItAreRead() throws {
        let config = try Self.config(env: [
            "CHATBOX_LLM_PROXY": "http://proxy.lan:3128", "CHATBOX_LLM_NO_PROXY": "localhost, .corp.example"
        ])
        #expect(
            config.model.proxy == (try ModelProxy(url: "http://proxy.lan:3128", noProxy: ["localhost", "corp.example"]))
        )
        #expect(try Self.config().model.proxy == nil)
    }

    @Test func flagsWinOverEnvironmentVariables() throws {
        let config = try Self.config(
            env: ["CHATBOX_PORT": "9000"], flags: ["--port", "9100", "--database-url", "sqlite:///tmp/x.sqlite"])
        #expect(config.port == 9100)
        #expect(config.database == .sqlite(path: "/tmp/x.sqlite"))
    }

    @Test(arguments: [
        (["CHATBOX_PORT": "eighty"], "CHATBOX_PORT (--port): must be a whole number from 0 to 65535, not \"eighty\""),
        (["CHATBOX_PORT": "70000"], "CHATBOX_PORT (--port): must be a whole number from 0 to 65535, not \"70000\""),
        (
            ["CHATBOX_DATABASE_URL": "postgres://x"],
            "CHATBOX_DATABASE_URL (--database-url): must start with sqlite:// or mysql://"
        ),
        (
            ["CHATBOX_REGISTRATION_OPEN": "maybe"],
            "CHATBOX_REGISTRATION_OPEN (--registration-open): must be true or false, not \"maybe\""
        ),
        (["CHATBOX_BCRYPT_COST": "3"], "CHATBOX_BCRYPT_COST (--bcrypt-cost): must be a whole number from 4 to 16"),
        (["CHATBOX_LOG_LEVEL": "loud"], "CHATBOX_LOG_LEVEL (--log-level): must be one of"),
        (
            ["CHATBOX_LLM_BASE_URL": "http://x/v1"],
            "CHATBOX_LLM_MODEL (--llm-model): is needed with CHATBOX_LLM_BASE_URL"
        ),
        (
            ["CHATBOX_LLM_BASE_URL": "ftp://x", "CHATBOX_LLM_MODEL": "m"],
            "CHATBOX_LLM_BASE_URL (--llm-base-url): must be an http:// or https:// URL"
        ),
        (["CHATBOX_LLM_HEADERS": "nocolon"], "CHATBOX_LLM_HEADERS (--llm-headers): each header is Name: value"),
        (["CHATBOX_DATABASE_URL": "mysql://root@127.0.0.1:3306/"], "CHATBOX_DATABASE_URL (--database-url):"),
        (
            ["CHATBOX_CHAT_MAX_RUNNING_PER_USER": "0"],
            "CHATBOX_CHAT_MAX_RUNNING_PER_USER (--chat-max-running-per-user): must be a whole number from 1"
        ),
        (
            ["CHATBOX_CHAT_MAX_ANSWER_CHARS": "99999999999999999999999"],
            "CHATBOX_CHAT_MAX_ANSWER_CHARS (--chat-max-answer-chars): must be a whole number"
        ),
        (
            ["CHATBOX_HTTP_IDLE_TIMEOUT_SECONDS": "-1"],
            "CHATBOX_HTTP_IDLE_TIMEOUT_SECONDS (--http-idle-timeout-seconds): must be a whole number from 1 to 3600"
        ),
        (
            ["CHATBOX_LLM_PROXY": "https://proxy:3128"],
            "CHATBOX_LLM_PROXY (--llm-proxy): must be an http:// URL such as http://proxy.example.com:3128 (the proxy"
        ),
        (["CHATBOX_LLM_PROXY": "proxy.lan"], "CHATBOX_LLM_PROXY (--llm-proxy): must be an http:// URL"),
        (
            ["CHATBOX_LLM_NO_PROXY": "localhost"],
            "CHATBOX_LLM_NO_PROXY (--llm-no-proxy): has no effect without CHATBOX_LLM_PROXY"
        )
    ])
    func aBadValueNamesTheSettingAndTheReason(env: [String: String], message: String) {
        #expect {
            try Self.config(env: env)
        } throws: { error in
            "\(error)".hasPrefix(message)
        }
    }

    @Test func theServerRefusesToStartWithABadSettingInOneLine() async throws {
        let binary = try #require(Self.binary())
        let (status, output) = try await Shell.status(
            [binary], environment: ["CHATBOX_PORT": "eighty", "PATH": "/usr/bin:/bin"])
        #expect(status == 2)
        #expect(output == "chatbox: CHATBOX_PORT (--port): must be a whole number from 0 to 65535, not \"eighty\"\n")
    }

    @Test func operatorCommandsAddAUserAndResetAPassword() async throws {
        let binary = try #require(Self.binary())
        let database = "sqlite://" + TestConfig.temporaryDirectory().appendingPathComponent("ops.sqlite").path
        func run(_ arguments: [String], stdin: String) async throws -> (Int32, String) {
            try await Shell.status(
                [binary] + arguments + ["--database-url", database, "--bcrypt-cost", "4"], input: stdin)
        }
        #expect(try await run(["migrate"], stdin: "") == (0, "Database is up to date (\(database)).\n"))
        #expect(
            try await run(["user", "add", "ops", "--admin"], stdin: "first-password\n") == (
                0, "Added admin ops (id 1).\n"
            ))
        #expect(
            try await run(["user", "add", "ops"], stdin: "first-password\n") == (
                1, "chatbox: That username is taken.\n"
            ))
        #expect(try await run(["user", "add", "weak"], stdin: "short\n").0 == 1)
        #expect(try await run(["user", "reset-password", "OPS"], stdin: "second-password\n").0 == 0)
        #expect(
            try await run(["user", "reset-password", "nobody"], stdin: "second-password\n") == (
                1, "chatbox: No user named nobody.\n"
            ))
        // There is always an admin, for operators too.
        #expect(
            try await run(["user", "set-role", "ops", "user"], stdin: "")
                == (1, "chatbox: There must always be an admin: this would remove the last one.\n"))
        #expect(try await run(["user", "add", "deputy", "--admin"], stdin: "first-password\n").0 == 0)
        #expect(try await run(["user", "set-role", "ops", "user"], stdin: "") == (0, "ops is now a user.\n"))
        #expect(try await run(["frobnicate"], stdin: "").0 == 2)
    }

    /// The built `chatbox` executable beside the test bundle.
    static func binary() -> String? {
        var url = Bundle.main.bundleURL
        for _ in 0..<3 {
            let candidate = url.appendingPathComponent("chatbox").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            url.deleteLastPathComponent()
        }
        return nil
    }
}
