import Foundation
import Testing
@testable import StubPool

/// AArch64 stubs executed under emulation: the C harness in Tests/AArch64Harness, cross-compiled
/// with aarch64-linux-gnu-gcc together with the C shim and the C test helpers, maps templates made
/// here by the Swift encoder the way the pool does and runs under qemu-aarch64.
@Suite(.serialized) struct AArch64EmulationTests {
    static let enabled = ExternalTools.aarch64EmulationAvailable || ExternalTools.isCI
    /// Signatures handed to the libffi oracle per variant; bindFirstArgument uses those whose
    /// integer-class arguments all stay in registers (about half), and must still reach 1,000.
    static let signatureCount = 2_400
    static let minimumSignaturesPerKind = 1_000
    static let registerRounds = 1_000

    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Built once per test process.
    static let harness: Result<URL, ExternalTools.Failure> = {
        do {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stubpool-aarch64-\(getpid())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let output = directory.appendingPathComponent("harness")
            let root = packageRoot.path
            func files(_ folder: String, _ suffix: String) throws -> [String] {
                try FileManager.default.contentsOfDirectory(atPath: "\(root)/\(folder)")
                    .filter { $0.hasSuffix(suffix) }.sorted().map { "\(root)/\(folder)/\($0)" }
            }
            let sources = try files("Tests/AArch64Harness", ".c") + files("Sources/CStubPoolShim", ".c")
                + files("Sources/CStubPoolShim", ".S")
                + ["Tests/CTestHelpers/closure_recorder.c", "Tests/CTestHelpers/targets.c",
                   "Tests/CTestHelpers/recorder_aarch64.S"].map { "\(root)/\($0)" }
            try ExternalTools.run(ExternalTools.crossCompiler, [
                "-O1", "-g", "-Wall", "-Wextra", "-Werror",
                "-I\(root)/Tests/AArch64Harness", "-I\(root)/Tests/CTestHelpers/include",
                "-I\(root)/Sources/CStubPoolShim/include", "-I\(root)/Sources/CStubPoolShim",
                "-o", output.path] + sources + ["-lffi"], missing: ExternalTools.aarch64EmulationMissing)
            return .success(output)
        } catch let failure as ExternalTools.Failure {
            return .failure(failure)
        } catch {
            return .failure(ExternalTools.Failure(message: "\(error)"))
        }
    }()

    struct Report {
        var fields: [String: String]
        func number(_ name: String) -> Int { Int(fields[name] ?? "") ?? -1 }
    }

    /// Runs the harness on `variant`'s template for `geometry` under qemu and returns its RESULT line.
    static func run(_ variant: StubVariant, codeSize: Int, emulatedPageSize: Int? = nil, bti: Bool = false,
                    signatures: URL? = nil, seed: UInt64 = 1, registerRounds: Int = 0) throws -> Report {
        let encoder = AArch64StubEncoder()
        let geometry = ChunkGeometry(pageSize: emulatedPageSize ?? 4096, slotSize: encoder.slotSize(for: variant), codeSize: codeSize)
        let template = TemplateBuilder.codeRegion(encoder: encoder, variant: variant, geometry: geometry)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("stubpool-template-\(UUID().uuidString)")
        try Data(template).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let kind = switch variant.kind { case .forward: "forward"; case .context: "context"; case .bindFirstArgument: "bind" }
        var qemuArguments = ["-L", ExternalTools.aarch64Sysroot]
        if let emulatedPageSize { qemuArguments += ["-p", "\(emulatedPageSize)"] }
        if bti { qemuArguments += ["-cpu", "max"] }
        var arguments = [try harness.get().path, "--template", file.path, "--kind", kind,
                         "--slot-size", "\(geometry.slotSize)", "--code-size", "\(geometry.codeSize)",
                         "--data-size", "\(geometry.dataSize)", "--seed", "\(seed)",
                         "--released-offset", "\(encoder.releasedEntryOffset(for: variant) ?? 0)",
                         "--register-rounds", "\(registerRounds)"]
        if variant.landingPad { arguments.append("--landing-pad") }
        if bti { arguments.append("--bti") }
        if let signatures { arguments += ["--signatures", signatures.path] }
        let outcome = try ExternalTools.run(ExternalTools.qemu, qemuArguments + arguments, missing: ExternalTools.aarch64EmulationMissing)
        guard let line = outcome.standardOutput.split(separator: "\n").first(where: { $0.hasPrefix("RESULT ") }) else {
            throw ExternalTools.Failure(message: "no RESULT line:\n\(outcome.standardOutput)\(outcome.standardError)")
        }
        let fields = line.dropFirst("RESULT ".count).split(separator: " ").map { $0.split(separator: "=", maxSplits: 1) }
        return Report(fields: Dictionary(uniqueKeysWithValues: fields.map { (String($0[0]), String($0[1])) }))
    }

    static var variants: [StubVariant] {
        StubKind.allCases.flatMap { kind in [false, true].map { StubVariant(kind: kind, landingPad: $0) } }
    }

    @Test("AArch64: every slot of every variant calls through, releases trap, under 4/16/64 KiB pages",
          .enabled(if: enabled, "\(ExternalTools.aarch64EmulationMissing)"))
    func aarch64CallsThroughEverySlot() throws {
        for variant in Self.variants {
            for (codeSize, pageSize) in [(64 * 1024, 4096), (256 * 1024, 16 * 1024), (ChunkGeometry.maximumCodeSize, 64 * 1024)] {
                let report = try Self.run(variant, codeSize: codeSize, emulatedPageSize: pageSize)
                let slots = codeSize / AArch64StubEncoder().slotSize(for: variant) - 1
                #expect(report.number("failures") == 0, "\(variant) code size \(codeSize): \(report.fields)")
                #expect(report.number("page") == pageSize)
                #expect(report.number("calls") == 2 * slots, "\(variant): both chunks, every slot but the anchor")
                #expect(report.number("released") == 6)
                print("AArch64 \(variant), \(codeSize / 1024) KiB code, \(pageSize / 1024) KiB pages: \(report.number("calls")) calls, \(report.number("released")) released traps")
            }
        }
    }
}
