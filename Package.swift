// swift-tools-version:6.1
import PackageDescription

// Every target is compiled with the same strictness: Swift 6 language mode (strict
// concurrency) plus the upcoming features the server ecosystem turns on.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "hotlined",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hotlined", targets: ["hotlined"]),
        .executable(name: "hotlinectl", targets: ["hotlinectl"]),
        .executable(name: "hotline-tools", targets: ["hotline-tools"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // The metrics endpoint's registry and exposition format, and the HTTP server the
        // metrics endpoint and the wallboard are served by (issue 17).
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Tests only: the export's CSV read back by an independent CSV parser.
        .package(url: "https://github.com/swiftcsv/SwiftCSV", from: "0.10.0"),
    ],
    targets: [
        // The pure domain: records, validation, normalisation, routing, markings,
        // anonymity policy. No I/O: no sockets, no files, no SQLite.
        .target(
            name: "HotlineCore",
            dependencies: [],
            swiftSettings: strict
        ),
        // Durable storage of the event log and its projections, in SQLite via GRDB.
        .target(
            name: "HotlineStore",
            dependencies: [
                "HotlineCore",
                "CSpawn",
                .product(name: "GRDB", package: "GRDB.swift"),
                // sqlite3_interrupt, for the daemon's readers only (GRDB's interrupts the writer too).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        // The log in PostgreSQL (issue 15), via postgres-nio: reaching the primary among the
        // configured hosts, the schema's named migrations, and the writes, through the same
        // EventProcessor as SQLite's.
        .target(
            name: "HotlinePostgres",
            dependencies: [
                "HotlineCore",
                "HotlineStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The workstation protocol over a Unix stream socket, with swift-nio.
        .target(
            name: "HotlineServer",
            dependencies: [
                "HotlineCore",
                "HotlineStore",
                "HotlineTime",
                "CSpawn",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        // The daemon's two read-only HTTP endpoints, both off unless configured: the
        // Prometheus/OpenMetrics metrics and the control room's live wallboard (issue 17).
        .target(
            name: "HotlineWeb",
            dependencies: [
                "HotlineCore",
                "HotlineStore",
                "HotlineServer",
                "HotlineTime",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // glibc's posix_spawn extensions (close every inherited descriptor, chdir), gettid,
        // prctl and explicit_bzero, which Swift's Glibc module does not declare (or, prctl,
        // cannot call); for the alert command sink, the bulk readers' lower priority, no core
        // dumps and wiping key bytes.
        .target(name: "CSpawn"),
        // libsystemd, wrapped thinly: no Swift package does it.
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        // The systemd adapter: socket activation, sd_notify, watchdog, native journald logging.
        .target(
            name: "HotlineSystemd",
            dependencies: ["CSystemd", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // The system's timezone database, for the core's shift arithmetic (Foundation).
        .target(name: "HotlineTime", dependencies: ["HotlineCore"], swiftSettings: strict),
        // A small blocking client of the protocol, for hotlinectl, benchmarks and tests.
        .target(name: "HotlineClient", dependencies: ["HotlineCore"], swiftSettings: strict),
        .executableTarget(
            name: "hotlined",
            dependencies: [
                "HotlineCore",
                "HotlineStore",
                "HotlinePostgres",
                "HotlineServer",
                "HotlineSystemd",
                "HotlineWeb",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // libFuzzer over the request decoder and validator (make fuzz); built normally, a
        // replayer of a corpus for the tests.
        .executableTarget(name: "hotline-fuzz", dependencies: ["HotlineCore"], path: "Sources/HotlineFuzz", swiftSettings: strict),
        // What the two command-line programs share: the socket option, errors, --json.
        .target(
            name: "HotlineCommandLine",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),
        // The load generator, alert benchmark and crash loop (Benchmarks/, make crash-loop):
        // developers' tools, not installed.
        .executableTarget(
            name: "hotline-tools",
            dependencies: [
                "HotlineCore",
                "HotlineClient",
                "HotlineCommandLine",
                "HotlineScratch",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "hotlinectl",
            dependencies: [
                "HotlineCore",
                "HotlineClient",
                "HotlineCommandLine",
                "HotlineStore",
                "HotlineTime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // A private PostgreSQL cluster to test against: for the tests and hotline-tools, never installed.
        .target(name: "HotlineScratch", swiftSettings: strict),
        // What the test targets share and the product does not: a forger's tools.
        .target(
            name: "HotlineTestSupport", dependencies: ["HotlineStore", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Tests/HotlineTestSupport", swiftSettings: strict
        ),
        .testTarget(
            name: "HotlineCoreTests",
            dependencies: ["HotlineCore", .product(name: "SwiftCSV", package: "SwiftCSV")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "HotlineSystemdTests",
            dependencies: ["HotlineSystemd", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "HotlineStoreTests",
            dependencies: [
                "HotlineCore", "HotlineStore", "HotlineTestSupport", .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "HotlineServerTests",
            dependencies: [
                "HotlineCore",
                "HotlineServer",
                "HotlineStore",
                "HotlineTime",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "HotlineCore", "HotlineClient", "HotlineTestSupport", "HotlinePostgres", "HotlineScratch", "HotlineStore",
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
    ]
)
