// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "StubPool",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "StubPool", targets: ["StubPool"]),
        .executable(name: "stubpool", targets: ["stubpool"]),
        // The benchmark peers (libffi closures, one page per stub) and the icache experiment's
        // stub chains, shared by the `stubpool` tool, the Benchmarks/ package and the tests.
        .library(name: "StubPoolPeers", targets: ["StubPoolPeers"]),
        // The C API (Sources/CStubPoolAPI/include/stubpool.h) as a shared library (self-contained:
        // the Swift runtime linked in, only stubpool_* exported) and a static archive.
        .library(name: "StubPoolC", type: .dynamic, targets: ["StubPoolCShared"]),
        .library(name: "StubPoolCStatic", type: .static, targets: ["StubPoolC"]),
        // libffi's closure API on StubPool stubs, for LD_PRELOAD or linking ahead of -lffi: C
        // code, which loads libStubPoolC.so (beside it) on the first closure (the shipped build:
        // Examples/CEmbedding/install.sh).
        .library(name: "StubPoolFFI", type: .dynamic, targets: ["StubPoolFFIDropIn"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The main job's table (`swift run -c release stubpool`).
        .package(url: "https://github.com/ordo-one/TextTable", from: "0.0.2"),
        // `swift package generate-documentation --target StubPool` (Sources/StubPool/StubPool.docc).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // System calls and assembly only: mmap, mprotect, memfd, cache maintenance, trap entries.
        .target(
            name: "CStubPoolShim",
            cSettings: [
                // Fault injection exists in debug (test) builds only; release builds compile it out.
                .define("STUBPOOL_FAULT_INJECTION", .when(configuration: .debug)),
            ]
        ),
        // libffi, used by tests and benchmarks as a peer and as an ABI oracle.
        .systemLibrary(
            name: "CFFI",
            pkgConfig: "libffi",
            providers: [.apt(["libffi-dev"])]
        ),
        .target(
            name: "StubPool",
            dependencies: ["CStubPoolShim"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The C API's public header, and the calling thread's last-error storage.
        .target(name: "CStubPoolAPI"),
        // The C API: a thin @_cdecl face over the Swift core.
        .target(
            name: "StubPoolC",
            dependencies: ["StubPool", "CStubPoolAPI"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // libStubPoolC.so: the C API linked with the Swift runtime inside (no toolchain needed
        // where it is loaded) and only exports.map's names exported. Nothing else links it.
        .target(
            name: "StubPoolCShared",
            dependencies: ["StubPoolC"],
            exclude: ["exports.map"],
            linkerSettings: [
                .unsafeFlags([
                    "-static-stdlib",
                    "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/StubPoolCShared/exports.map",
                ]),
            ]
        ),
        // libffi closures on StubPool stubs (stubpool_ffi_*): a C client of the C API, which it
        // finds linked in or loads on first use (core.c).
        .target(
            name: "StubPoolFFI",
            dependencies: ["CStubPoolAPI", "CFFI"],
            linkerSettings: [.linkedLibrary("dl")]
        ),
        // The drop-in: libffi's closure names on StubPoolFFI, plus the exit audit; exports.map's
        // names only.
        .target(
            name: "StubPoolFFIDropIn",
            dependencies: ["StubPoolFFI"],
            exclude: ["exports.map"],
            publicHeadersPath: ".",
            linkerSettings: [
                // SwiftPM links it with the Swift driver, which adds the Swift runtime (and its
                // link flags reach every snippet, so no -nostartfiles here): this build is for
                // development and tests. What ships is built with cc by
                // Examples/CEmbedding/install.sh: plain C, libc only.
                .unsafeFlags([
                    "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/StubPoolFFIDropIn/exports.map",
                ]),
            ]
        ),
        .target(
            name: "StubPoolPeers",
            dependencies: ["StubPool", "StubPoolC", "StubPoolFFI", "CFFI"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Hardware counters for the icache experiment (perf_event_open).
        .target(name: "CBenchCounters"),
        // The headline's floor: the least a data-slot stub allocator must do, in plain C.
        .target(name: "CBenchFloor"),
        .executableTarget(
            name: "stubpool",
            dependencies: [
                "StubPool", "StubPoolPeers", "CBenchCounters", "CBenchFloor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "TextTable", package: "TextTable"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // C and assembly helpers for the tests: call-through helpers and a register recorder.
        .target(
            name: "CTestHelpers",
            dependencies: ["CFFI"],
            path: "Tests/CTestHelpers"
        ),
        // C++ for the arena's call-frame tests: an exception thrown below generated code.
        .target(
            name: "CXXTestHelpers",
            path: "Tests/CXXTestHelpers"
        ),
        // __m256 / __m512 targets for the lazy-resolver tests: the vector calling convention
        // follows each translation unit's -m flags, so each width is its own target.
        .target(
            name: "CTestVectors256",
            dependencies: ["CTestHelpers"],
            path: "Tests/CTestVectors256",
            cSettings: [.unsafeFlags(["-mavx"])]
        ),
        .target(
            name: "CTestVectors512",
            dependencies: ["CTestHelpers"],
            path: "Tests/CTestVectors512",
            cSettings: [.unsafeFlags(["-mavx512f"])]
        ),
        // Swift helpers shared by the unit tests, the crash probe and the fuzz driver.
        .target(
            name: "StubPoolTestSupport",
            path: "Tests/StubPoolTestSupport",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // A tiny program the tests run as a child process to watch a released stub abort.
        .executableTarget(
            name: "StubPoolCrashProbe",
            dependencies: ["StubPool", "CStubPoolShim", "CTestHelpers", "CXXTestHelpers", "StubPoolTestSupport"],
            path: "Tests/StubPoolCrashProbe",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The fuzz driver: a libFuzzer target when built with -sanitize=fuzzer and
        // -D STUBPOOL_LIBFUZZER (see .ci/run), a corpus replayer otherwise.
        .executableTarget(
            name: "StubPoolFuzz",
            dependencies: ["StubPool", "CStubPoolShim", "CTestHelpers", "StubPoolTestSupport"],
            path: "Tests/StubPoolFuzz",
            exclude: ["Corpus"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "StubPoolTests",
            dependencies: [
                "StubPool", "StubPoolPeers", "StubPoolC", "CStubPoolAPI", "CStubPoolShim", "CFFI", "CTestHelpers",
                "CTestVectors256", "CTestVectors512",
                "StubPoolCrashProbe", "StubPoolFuzz", "StubPoolTestSupport",
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
