// swift-tools-version:6.0
//
// The target graph is the architecture (docs/ARCHITECTURE.md):
//
//   C libraries     CLibPQ   CCurl + CCurlShims   COpenSSL + COpenSSLShims   (system libraries, pkg-config)
//   thin wrappers   Postgres (PostgresExecutor)  HTTP  Crypto                (no C type leaks above here)
//   API clients     Graph (tokens, failure classification, Endpoints/: one typed file per resource)
//                   PBX (3CX XAPI, DNS providers)
//   core            OnboarderConfig (configuration, logging)   Migrations (sql/migrations, sql/functions)
//                   Queue (states, retry policy, QueueDriver; JobQueue on PostgreSQL)
//                   Store (every other statement, on a PostgresExecutor; Store/Onboarding: the pipeline's)
//   services        Worker (pure WorkerMachine + JobSettlement, the loop, heartbeat and reaper services)
//                   Pipeline (Steps/, pure Plans/, Custody/: onboarding and rotation)
//   simulator       Simulator (a service per surface behind routes; never imports the client) SimTLS CLinux
//   executables     onboarder (CLI + daemon: parsing and output only)   onboarder-sim
import PackageDescription

let package = Package(
    name: "Onboarder",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "onboarder", targets: ["onboarder"]),
        .executable(name: "onboarder-sim", targets: ["onboarder-sim"]),
    ],
    dependencies: [
        // Command-line parsing for `onboarder` and its subcommands: the de-facto standard, small to build.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The logging API every Swift server library speaks; our own JSON/human handler plugs into it.
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // Runs the worker daemon as a Service: SIGTERM/SIGINT become a graceful shutdown we can drain on.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        // MARK: C libraries
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"]), .brew(["curl"])]
        ),
        .target(name: "CCurlShims", dependencies: ["CCurl"]),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]
        ),
        .target(name: "COpenSSLShims", dependencies: ["COpenSSL"]),

        // MARK: Thin Swift wrappers
        .target(name: "Postgres", dependencies: ["CLibPQ", .product(name: "Logging", package: "swift-log")]),
        .target(name: "HTTP", dependencies: ["CCurl", "CCurlShims", .product(name: "Logging", package: "swift-log")]),
        .target(name: "Crypto", dependencies: ["COpenSSL", "COpenSSLShims"]),

        // MARK: Core
        .target(
            name: "OnboarderConfig",
            dependencies: [.product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "Migrations",
            dependencies: ["Postgres", "Crypto", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "Store",
            dependencies: ["Postgres", "Crypto", "Queue", .product(name: "Logging", package: "swift-log")]
        ),

        .target(name: "Queue", dependencies: ["Postgres"]),
        .target(name: "Graph", dependencies: ["HTTP", "Crypto"]),
        .target(name: "CLinux"),
        // The simulator's HTTPS server side (OpenSSL over non-blocking sockets); the product never serves TLS.
        .target(name: "SimTLS", dependencies: ["Crypto", "COpenSSL"]),
        // Resources: the vendored Microsoft Graph permission list (its own data, not the client's table) and the
        // primes of the simulated PBXs' keys (made ahead: see KeyPairSupply).
        .target(
            name: "Simulator", dependencies: ["Crypto", "SimTLS", "CLinux"],
            resources: [.copy("Resources/graph-permissions.tsv"), .copy("Resources/pbx-primes.txt")]),
        .target(name: "PBX", dependencies: ["HTTP", "Graph", "Crypto"]),

        // MARK: Services
        .target(
            name: "Worker",
            dependencies: [
                "Queue", "Postgres", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        .target(
            name: "Pipeline",
            dependencies: [
                "Worker", "Queue", "Postgres", "Store", "Graph", "PBX", "HTTP", "Crypto",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: Executables
        .executableTarget(
            name: "onboarder",
            dependencies: [
                "OnboarderConfig", "Migrations", "Store", "Postgres", "HTTP", "Crypto", "Queue", "Worker", "Graph",
                "PBX", "Pipeline",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .executableTarget(
            name: "onboarder-sim",
            dependencies: [
                "Simulator", "Crypto", "PBX", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .executableTarget(
            name: "onboarder-bench",
            dependencies: ["HTTP", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // scripts/fuzz: the enqueue parser, the configuration loader and the response decoders under
        // seeded random and mutated inputs.
        .executableTarget(
            name: "onboarder-fuzz",
            dependencies: ["Graph", "HTTP", "OnboarderConfig", "Pipeline", "Queue", "Simulator"]
        ),

        // MARK: Tests (Tests/<Module>Tests mirrors Sources/<Module>)
        .target(
            name: "TestSupport",
            dependencies: ["Postgres", "Crypto", "Migrations", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport"
        ),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport"]),
        .testTarget(name: "CryptoTests", dependencies: ["Crypto", "TestSupport"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "Crypto", "TestSupport"]),
        .testTarget(name: "OnboarderConfigTests", dependencies: ["OnboarderConfig"]),
        .testTarget(name: "MigrationsTests", dependencies: ["Migrations", "Postgres", "TestSupport", "onboarder"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "Queue", "Postgres", "TestSupport"]),
        .testTarget(name: "SimulatorTests", dependencies: ["Simulator", "Graph", "HTTP", "Crypto", "TestSupport"]),
        .testTarget(name: "GraphTests", dependencies: ["Graph", "HTTP", "Crypto", "Simulator", "TestSupport"]),
        .testTarget(name: "QueueTests", dependencies: ["Queue", "Migrations", "Postgres", "TestSupport", "onboarder"]),
        .testTarget(
            name: "WorkerTests",
            dependencies: [
                "Worker", "Queue", "Store", "Postgres", "TestSupport", "onboarder",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // The operator's commands (`handover`, `cert add --dir`) run as built, under the real roles.
        .testTarget(
            name: "CommandTests",
            dependencies: ["Pipeline", "Store", "Crypto", "Postgres", "TestSupport", "Simulator", "onboarder"]),
        .testTarget(
            name: "PipelineTests",
            dependencies: [
                "Pipeline", "Simulator", "Graph", "PBX", "HTTP", "Crypto", "Queue", "Postgres", "Store", "TestSupport",
                "onboarder",
            ]),
    ],
    swiftLanguageModes: [.v6]
)
