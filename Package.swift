// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "chatbox",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "chatbox", targets: ["chatbox"]),
        .executable(name: "fake-upstream", targets: ["fake-upstream"]),
        .executable(name: "chatbox-bench", targets: ["chatbox-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0",
                 traits: [.defaults, "CommandLineArguments"]),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.36.0"),
    ],
    targets: [
        // MariaDB Connector/C, seen through pkg-config. Missing? `apt-get install libmariadb-dev pkg-config`
        // (Debian/Ubuntu) or `brew install mariadb-connector-c pkg-config` (macOS).
        .systemLibrary(
            name: "CMariaDB",
            pkgConfig: "libmariadb",
            providers: [.apt(["libmariadb-dev"]), .brew(["mariadb-connector-c"])]
        ),
        // MySQL/MariaDB as a SQLKit database: blocking libmariadb calls on a thread pool, a bounded pool.
        .target(
            name: "MariaDBKit",
            dependencies: [
                "CMariaDB",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The application: data → business → presentation (see Sources/Chatbox/{Data,Domain,HTTP}).
        .target(
            name: "Chatbox",
            dependencies: [
                "MariaDBKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .executableTarget(
            name: "chatbox",
            dependencies: ["Chatbox", .product(name: "Configuration", package: "swift-configuration")]
        ),
        // A scriptable OpenAI-compatible server: the one stand-in the tests, browser suite and benchmarks use.
        .target(
            name: "FakeUpstream",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")]
        ),
        .executableTarget(name: "fake-upstream", dependencies: ["FakeUpstream"]),
        // Benchmarks: load generator, seeding tool and report (bench/README.md).
        .executableTarget(
            name: "chatbox-bench",
            dependencies: [
                "Chatbox",
                "FakeUpstream",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "bench/Sources/chatbox-bench"
        ),
        .testTarget(
            name: "MariaDBKitTests",
            dependencies: ["MariaDBKit", .product(name: "SQLKit", package: "sql-kit")]
        ),
        .testTarget(
            name: "ChatboxTests",
            dependencies: [
                "Chatbox",
                "FakeUpstream",
                "MariaDBKit",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
    ]
)
