import Foundation
import XCTest

/// Builds Examples/CEmbedding/example.c the way a C user would (pkg-config, `cc`, the shared
/// library; then the static archive) and runs it; also compiles the header as C++.
final class CExampleTests: XCTestCase {
    private var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }
    /// The build folder holding the test bundle, libStubPoolC.so and libStubPoolCStatic.a.
    private var buildFolder: URL { ChildProcess.executable(named: "x").deletingLastPathComponent() }
    private var compiler: URL? { ExternalTools.find("cc") ?? ExternalTools.clang }

    private func pkgConfig(_ package: String) throws -> [String] {
        let script = packageRoot.appendingPathComponent("Examples/CEmbedding/write-pkgconfig.sh")
        try ExternalTools.run(URL(fileURLWithPath: "/bin/bash"), [script.path, buildFolder.path], missing: "bash")
        guard let pkgConfig = ExternalTools.find("pkg-config") else {
            throw ExternalTools.Failure(message: "pkg-config not found (installed by .ci/run)")
        }
        setenv("PKG_CONFIG_PATH", buildFolder.path, 1)
        let outcome = try ExternalTools.run(pkgConfig, ["--cflags", "--libs", package], missing: "pkg-config")
        return outcome.standardOutput.split(whereSeparator: \.isWhitespace).map(String.init)
    }

    private func buildAndRun(package: String) throws {
        let library = buildFolder.appendingPathComponent(package == "stubpool" ? "libStubPoolC.so" : "libStubPoolCStatic.a")
        guard FileManager.default.fileExists(atPath: library.path) else {
            return XCTFail("\(library.path) is missing: swift test builds it with the package's products")
        }
        let example = packageRoot.appendingPathComponent("Examples/CEmbedding/example.c")
        let binary = FileManager.default.temporaryDirectory.appendingPathComponent("stubpool-c-example-\(package)-\(getpid())")
        defer { try? FileManager.default.removeItem(at: binary) }
        try ExternalTools.run(compiler, ["-std=c11", "-Wall", "-Wextra", "-Werror", example.path, "-o", binary.path] + pkgConfig(package),
                              missing: "a C compiler")
        let outcome = try ChildProcess.run(binary, arguments: [], timeout: 120)
        XCTAssertEqual(outcome.terminationStatus, 0, outcome.standardError)
        XCTAssertTrue(outcome.standardOutput.contains("lazy: 100 closures materialized by 1 batch"), outcome.standardOutput)
        XCTAssertTrue(outcome.standardOutput.hasSuffix("stubpool C example: ok\n"), outcome.standardOutput)
    }

    func testExampleAgainstTheSharedLibrary() throws { try buildAndRun(package: "stubpool") }

    func testExampleAgainstTheStaticArchive() throws { try buildAndRun(package: "stubpool-static") }

    /// The install story: Examples/CEmbedding/install.sh puts both libraries, both headers and
    /// both pkg-config files under a prefix; closures.c, a plain libffi program, links the drop-in
    /// ahead of -lffi through `pkg-config stubpool-ffi` and its closures are StubPool stubs.
    func testDropInInstalledUnderAPrefixAndLinkedAheadOfLibffi() throws {
        let prefix = FileManager.default.temporaryDirectory.appendingPathComponent("stubpool-prefix-\(getpid())")
        defer { try? FileManager.default.removeItem(at: prefix) }
        try ExternalTools.run(URL(fileURLWithPath: "/bin/bash"), [
            packageRoot.appendingPathComponent("Examples/CEmbedding/install.sh").path, "--prefix", prefix.path,
            "--from", buildFolder.path,
        ], missing: "bash")
        guard let pkgConfig = ExternalTools.find("pkg-config") else {
            throw ExternalTools.Failure(message: "pkg-config not found (installed by .ci/run)")
        }
        setenv("PKG_CONFIG_PATH", prefix.appendingPathComponent("lib/pkgconfig").path, 1)
        let flags = try ExternalTools.run(pkgConfig, ["--cflags", "--libs", "stubpool-ffi"], missing: "pkg-config")
            .standardOutput.split(whereSeparator: \.isWhitespace).map(String.init)
        XCTAssertLessThan(try XCTUnwrap(flags.firstIndex(of: "-lStubPoolFFI")), try XCTUnwrap(flags.firstIndex(of: "-lffi")),
                          "the drop-in comes ahead of -lffi: \(flags)")
        let binary = prefix.appendingPathComponent("closures")
        try ExternalTools.run(compiler, ["-std=c11", "-Wall", "-Wextra", "-Werror",
                                         packageRoot.appendingPathComponent("Examples/CEmbedding/closures.c").path,
                                         "-o", binary.path] + flags, missing: "a C compiler")
        let outcome = try ChildProcess.run(binary, arguments: [], timeout: 120)
        XCTAssertEqual(outcome.terminationStatus, 0, outcome.standardError + outcome.standardOutput)
        XCTAssertTrue(outcome.standardOutput.contains("1000 closures allocated as StubPool stubs, 1000 prepared, 1000 freed"),
                      outcome.standardOutput)
    }

    func testHeaderIsCxxClean() throws {
        guard let cxx = ExternalTools.find("c++") ?? ExternalTools.find("clang++") else {
            throw XCTSkip("no C++ compiler")
        }
        let source = FileManager.default.temporaryDirectory.appendingPathComponent("stubpool-header-\(getpid()).cpp")
        defer { try? FileManager.default.removeItem(at: source) }
        try "#include \"stubpool.h\"\nint main() { return stubpool_api_version() == STUBPOOL_API_VERSION ? 0 : 1; }\n"
            .write(to: source, atomically: true, encoding: .utf8)
        try ExternalTools.run(cxx, ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                                    "-I", packageRoot.appendingPathComponent("Sources/CStubPoolAPI/include").path, source.path],
                              missing: "a C++ compiler")
    }
}
