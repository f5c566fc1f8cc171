// swift-tools-version: 6.1
import PackageDescription

// Every module compiles in Swift 5 language mode with complete concurrency checking
// warnings on; the seams (CommandRunner, HTTPTransport, Clock) are Sendable.
let settings: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
    name: "aphex",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "aphex", targets: ["aphex"]),
        // The simulated cluster's black-box face: loopback API server and stand-in
        // kubectl / kind / k3s (dispatch on argv[0]). Test asset, not shipped.
        .executable(name: "aphex-sim", targets: ["aphex-sim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // MARK: C libraries (only the owning module imports each)
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),
        // libyaml's event parser (the copy Yams compiles in): anchors and aliases are refused
        // before Yams composes a document (YAMLGuard).
        .target(name: "CYamlEvents", dependencies: [.product(name: "Yams", package: "Yams")]),

        // MARK: Product modules (arrows point down: aphex → AphexCLI → Bootstrap → ArgoInstall/ClusterDrivers
        // /SecretGen → KubeClient → AphexCore; see docs/architecture.md)
        // The executable only starts the root command; every command lives in AphexCLI.
        .executableTarget(name: "aphex", dependencies: ["AphexCLI"], swiftSettings: settings),
        .target(
            name: "AphexCLI",
            dependencies: [
                "Bootstrap", "SecretGen", "ClusterDrivers", "ArgoInstall", "KubeClient", "AphexCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: settings),
        .target(
            name: "Bootstrap",
            dependencies: ["SecretGen", "ArgoInstall", "ClusterDrivers", "KubeClient", "AphexCore"],
            swiftSettings: settings),
        .target(
            name: "SecretGen",
            dependencies: ["AphexCore", "COpenSSL"],
            swiftSettings: settings),
        .target(
            name: "ArgoInstall",
            dependencies: [
                "KubeClient", "AphexCore",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: settings),
        .target(
            name: "ClusterDrivers",
            dependencies: ["KubeClient", "AphexCore"],
            swiftSettings: settings + [.define("APHEX_TEST_HOOKS", .when(configuration: .debug))]),
        .target(
            name: "KubeClient",
            dependencies: [
                "AphexCore", "CCurl",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: settings),
        .target(
            name: "AphexCore",
            dependencies: [
                "COpenSSL", "CYamlEvents",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Yams", package: "Yams"),
            ],
            // Debug builds (`swift build`, `swift test`) are the test builds: they honour the
            // test hooks APHEX_HOST_ROOT and APHEX_K3S_INSTALL_URL even as root. Release builds
            // (scripts/setup.sh) honour them only for a non-root user (TestHooks).
            swiftSettings: settings + [.define("APHEX_TEST_HOOKS", .when(configuration: .debug))]),

        // MARK: Test support (test bed): the one virtual clock, recording runner, recording
        // reporter and HTTP test server (plain and TLS), and the thread helpers. Fakes fail
        // loudly on what a test did not set up.
        .target(
            name: "TestSupport",
            dependencies: ["AphexCore"],
            path: "Tests/TestSupport",
            swiftSettings: settings),

        // MARK: The simulated cluster (test bed)
        // zlib: the simulator gzips large responses as the API server does, and reads the
        // gzipped recordings in ../shared/realapi.
        .systemLibrary(name: "CZlib", path: "Tests/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .target(
            name: "SimCluster",
            dependencies: [
                "AphexCore", "KubeClient", "TestSupport", "CZlib", "COpenSSL",
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Tests/SimCluster",
            resources: [.copy("Scenarios")],
            swiftSettings: settings),
        .executableTarget(
            name: "aphex-sim",
            dependencies: ["SimCluster", "AphexCore", "KubeClient"],
            path: "Tests/SimTool",
            swiftSettings: settings),

        // MARK: Tests
        .testTarget(name: "SecretGenTests", dependencies: ["SecretGen", "AphexCore"], swiftSettings: settings),
        .testTarget(name: "ClusterDriversTests",
                    dependencies: ["ClusterDrivers", "KubeClient", "AphexCore", "SimCluster", "SecretGen", "TestSupport"],
                    swiftSettings: settings),
        .testTarget(name: "ArgoInstallTests",
                    dependencies: ["ArgoInstall", "KubeClient", "AphexCore", "SimCluster", "TestSupport"],
                    swiftSettings: settings),
        .testTarget(name: "BootstrapTests",
                    dependencies: ["Bootstrap", "SecretGen", "ArgoInstall", "ClusterDrivers", "KubeClient", "AphexCore",
                                   "SimCluster", "TestSupport"],
                    swiftSettings: settings),
        .testTarget(name: "AphexCLITests",
                    dependencies: ["AphexCLI", "Bootstrap", "ClusterDrivers", "KubeClient", "AphexCore", "SimCluster",
                                   "TestSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
                    swiftSettings: settings),
        .testTarget(name: "SimClusterTests", dependencies: ["SimCluster", "KubeClient", "AphexCore", "TestSupport"],
                    swiftSettings: settings),
        // Runs the built `aphex` (and `aphex-sim` stand-ins) as a user or CI would.
        .testTarget(name: "BlackBoxTests",
                    dependencies: ["SimCluster", "ClusterDrivers", "KubeClient", "AphexCore", "TestSupport"],
                    swiftSettings: settings),
    ]
)
