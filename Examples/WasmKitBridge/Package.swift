// swift-tools-version: 6.3
// WasmKit guest functions as native C function pointers through StubPool. Its own package: WasmKit
// needs tools 6.3 and adds minutes to a clean build, so the root package does not depend on it.
import PackageDescription

let package = Package(
    name: "WasmKitBridge",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "WasmKitBridge", targets: ["WasmKitBridge"]),
        .executable(name: "wasmkit-bridge", targets: ["wasmkit-bridge"]),
    ],
    dependencies: [
        .package(name: "StubPool", path: "../.."),
        .package(url: "https://github.com/swiftwasm/WasmKit", exact: "0.4.2"),
    ],
    targets: [
        .target(
            name: "WasmKitBridge",
            dependencies: [
                .product(name: "StubPool", package: "StubPool"),
                .product(name: "WasmKit", package: "WasmKit"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "wasmkit-bridge",
            dependencies: [
                "WasmKitBridge",
                .product(name: "WasmKit", package: "WasmKit"),
                .product(name: "WAT", package: "WasmKit"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "WasmKitBridgeTests",
            dependencies: [
                "WasmKitBridge",
                .product(name: "WasmKit", package: "WasmKit"),
                .product(name: "WAT", package: "WasmKit"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
