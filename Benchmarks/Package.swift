// swift-tools-version: 6.1
// StubPool's benchmark suite (ordo-one package-benchmark), a package of its own so that the root
// package's `swift test` does not build the benchmark machinery. Run from this folder:
//     swift package --disable-sandbox benchmark
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, which depends on where the repository was
// cloned: read it off this manifest's location.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "StubPoolBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "StubPoolBenchmarks",
            dependencies: [
                .product(name: "StubPool", package: root),
                .product(name: "StubPoolPeers", package: root),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/StubPoolBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
