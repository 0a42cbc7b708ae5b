import Foundation
import StubPoolPeers

/// Tools some tests need beyond Swift: LLVM's assembler, the AArch64 cross toolchain and qemu.
/// Locally a test whose tool is missing is skipped with a message naming it; under CI (`CI=true`)
/// it runs regardless and fails if the tool is missing, since `.ci/run` installs everything.
enum ExternalTools {
    static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"

    /// The CLI's search (the Swift toolchain's directory, then `PATH`).
    static func find(_ name: String) -> URL? { ToolSearch.find(name).map(URL.init(fileURLWithPath:)) }

    static let clang = find("clang")
    static let crossCompiler = find("aarch64-linux-gnu-gcc")
    static let qemu = find("qemu-aarch64")
    /// The AArch64 sysroot qemu loads libraries from (libc6-dev-arm64-cross, libffi-dev:arm64).
    static let aarch64Sysroot = "/usr/aarch64-linux-gnu"
    static let aarch64Libffi = "/usr/lib/aarch64-linux-gnu/libffi.so"

    /// Whether the emulated AArch64 tests can run here.
    static var aarch64EmulationAvailable: Bool {
        crossCompiler != nil && qemu != nil && FileManager.default.fileExists(atPath: aarch64Sysroot)
            && FileManager.default.fileExists(atPath: aarch64Libffi)
    }

    static let aarch64EmulationMissing = "needs qemu-user, gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and libffi-dev:arm64 (installed by .ci/run; runs whenever CI=true)"
    static let clangMissing = "needs clang (shipped with the Swift toolchain; runs whenever CI=true)"

    /// Runs `tool`, failing with its output if it exits unsuccessfully.
    @discardableResult
    static func run(_ tool: URL?, _ arguments: [String], missing: String) throws -> ChildProcess.Outcome {
        guard let tool else { throw Failure(message: "tool not found: \(missing)") }
        let outcome = try ChildProcess.run(tool, arguments: arguments, timeout: 180)
        guard outcome.terminationStatus == 0, !outcome.terminatedBySignal else {
            throw Failure(message: "\(tool.lastPathComponent) \(arguments.joined(separator: " ")) failed (status \(outcome.terminationStatus)):\n\(outcome.standardError)\(outcome.standardOutput)")
        }
        return outcome
    }

    struct Failure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}
