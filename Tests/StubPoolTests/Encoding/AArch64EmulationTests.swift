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
                + ["Tests/CTestHelpers/closure_recorder.c", "Tests/CTestHelpers/targets.c", "Tests/CTestHelpers/unwind.c",
                   "Tests/CTestHelpers/recorder_aarch64.S"].map { "\(root)/\($0)" }
            try ExternalTools.run(ExternalTools.crossCompiler, [
                "-O1", "-g", "-Wall", "-Wextra", "-Werror",
                "-I\(root)/Tests/AArch64Harness", "-I\(root)/Tests/CTestHelpers/include",
                "-I\(root)/Sources/CStubPoolShim/include", "-I\(root)/Sources/CStubPoolShim",
                "-no-pie", "-o", output.path] + sources + ["-lffi"], missing: ExternalTools.aarch64EmulationMissing)
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

        /// The `key=value` fields of the harness's RESULT line.
        init(_ outcome: ChildProcess.Outcome) throws {
            guard let line = outcome.standardOutput.split(separator: "\n").first(where: { $0.hasPrefix("RESULT ") }) else {
                throw ExternalTools.Failure(message: "no RESULT line:\n\(outcome.standardOutput)\(outcome.standardError)")
            }
            let pairs = line.dropFirst("RESULT ".count).split(separator: " ").map { $0.split(separator: "=", maxSplits: 1) }
            fields = Dictionary(uniqueKeysWithValues: pairs.map { (String($0[0]), String($0[1])) })
        }
    }

    /// Runs the harness on `variant`'s template for `geometry` under qemu and returns its RESULT line.
    static func run(_ variant: StubVariant, codeSize: Int, emulatedPageSize: Int? = nil, bti: Bool = false,
                    signatures: URL? = nil, seed: UInt64 = 1, registerRounds: Int = 0) throws -> Report {
        let arguments = try harnessArguments(variant, codeSize: codeSize, emulatedPageSize: emulatedPageSize, bti: bti,
                                             signatures: signatures, seed: seed, registerRounds: registerRounds)
        let outcome = try ExternalTools.run(ExternalTools.qemu, arguments, missing: ExternalTools.aarch64EmulationMissing)
        return try Report(outcome)
    }

    /// qemu's arguments for running the harness on `variant`'s template (written to a temporary
    /// file that lives until the test process ends).
    static func harnessArguments(_ variant: StubVariant, codeSize: Int, emulatedPageSize: Int?, bti: Bool,
                                 signatures: URL?, seed: UInt64, registerRounds: Int) throws -> [String] {
        let encoder = AArch64StubEncoder()
        let geometry = try ChunkGeometry(pageSize: emulatedPageSize ?? 4096, slotSize: encoder.slotSize(for: variant), codeSize: codeSize)
        let file = try templateFile(for: variant, geometry: geometry)
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
        if let lazy = encoder.lazyEntryOffset(for: variant) { arguments += ["--lazy-offset", "\(lazy)"] }
        if bti { arguments.append("--bti") }
        if let signatures { arguments += ["--signatures", signatures.path] }
        return qemuArguments + arguments
    }

    /// The template of `variant` for `geometry`, written once into the harness's directory.
    static func templateFile(for variant: StubVariant, geometry: ChunkGeometry) throws -> URL {
        let directory = try harness.get().deletingLastPathComponent()
        let file = directory.appendingPathComponent("template-\(variant)-\(geometry.codeSize)")
        if !FileManager.default.fileExists(atPath: file.path) {
            let template = TemplateBuilder.codeRegion(encoder: AArch64StubEncoder(), variant: variant, geometry: geometry)
            try Data(template).write(to: file)
        }
        return file
    }

    /// Runs the harness and returns how it ended, successful or not.
    static func outcome(_ variant: StubVariant, codeSize: Int, bti: Bool) throws -> ChildProcess.Outcome {
        let arguments = try harnessArguments(variant, codeSize: codeSize, emulatedPageSize: nil, bti: bti,
                                             signatures: nil, seed: 1, registerRounds: 0)
        guard let qemu = ExternalTools.qemu else { throw ExternalTools.Failure(message: ExternalTools.aarch64EmulationMissing) }
        return try ChildProcess.run(qemu, arguments: arguments, timeout: 180)
    }

    /// Every kind with and without landing pads, eager and lazy (pending calls go through the
    /// shim's aarch64 lazy resolver of their kind).
    static var variants: [StubVariant] {
        StubKind.allCases.flatMap { kind in
            [false, true].flatMap { pad in [false, true].map { StubVariant(kind: kind, landingPad: pad, lazyEntry: $0) } }
        }
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
                #expect(report.number("lazy_resolutions") == (variant.lazyEntry ? 2 * slots : 0), "every call resolves lazily")
                print("AArch64 \(variant), \(codeSize / 1024) KiB code, \(pageSize / 1024) KiB pages: \(report.number("calls")) calls, \(report.number("released")) released traps")
            }
        }
    }
}

extension AArch64EmulationTests {
    @Test("AArch64 BTI: guarded pages run landing-pad stubs and fault on stubs without",
          .enabled(if: enabled, "\(ExternalTools.aarch64EmulationMissing)"))
    func aarch64BranchTargetIdentification() throws {
        for variant in Self.variants where variant.landingPad {
            let report = try Self.run(variant, codeSize: ChunkGeometry.defaultCodeSize, bti: true)
            #expect(report.number("failures") == 0, "\(variant): \(report.fields)")
            #expect(report.fields["bti"] == "guarded", "\(variant)")
            print("AArch64 BTI-guarded \(variant): \(report.number("calls")) calls, \(report.number("released")) released traps")
        }
        for variant in Self.variants where !variant.landingPad {
            let outcome = try Self.outcome(variant, codeSize: ChunkGeometry.defaultCodeSize, bti: true)
            #expect(outcome.terminatedBySignal && outcome.terminationStatus == SIGILL,
                    "\(variant) without landing pads must fault on guarded pages: \(outcome.standardOutput)\(outcome.standardError)")
            print("AArch64 BTI-guarded \(variant): faults (signal \(outcome.terminationStatus))")
        }
    }

    @Test("AArch64 libffi oracle and full register state through every kind",
          .enabled(if: enabled, "\(ExternalTools.aarch64EmulationMissing)"))
    func aarch64RandomSignatures() throws {
        let seed = testSeed("AArch64 oracle")
        var random = SplitMix64(seed: seed)
        let factory = FFISignatureFactory()
        let lines = (0..<Self.signatureCount).map { _ in factory.describe(factory.makeSignature(using: &random)) }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("stubpool-signatures-\(UUID().uuidString)")
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        for variant in Self.variants {
            let report = try Self.run(variant, codeSize: ChunkGeometry.defaultCodeSize, signatures: file,
                                      seed: seed, registerRounds: Self.registerRounds)
            #expect(report.number("failures") == 0, "\(variant): \(report.fields)")
            #expect(report.number("ffi_mismatches") == 0)
            #expect(report.number("register_mismatches") == 0)
            #expect(report.number("registers") == Self.registerRounds)
            #expect(report.number("signatures") >= Self.minimumSignaturesPerKind, "\(variant): \(report.fields)")
            #expect(report.number("signatures") + report.number("skipped") == Self.signatureCount)
            let slots = ChunkGeometry.defaultCodeSize / AArch64StubEncoder().slotSize(for: variant) - 1
            let throughStub = 2 * slots + Self.registerRounds + report.number("signatures")
            #expect(report.number("lazy_resolutions") == (variant.lazyEntry ? throughStub : 0),
                    "lazy variants: every call through the stub goes through the resolver")
            for coverage in ["variadic", "hfa", "indirect", "stack"] {
                #expect(report.number(coverage) >= 5, "\(variant): too few signatures with \(coverage) (\(report.fields))")
            }
            print("AArch64 oracle \(variant): \(report.number("signatures")) signatures (\(report.number("variadic")) variadic, \(report.number("hfa")) HFA, \(report.number("indirect")) x8 results, \(report.number("stack")) with stack arguments), \(report.number("ffi_mismatches")) mismatches; \(report.number("registers")) register states, \(report.number("register_mismatches")) mismatches")
        }
    }
}

extension AArch64EmulationTests {
    /// Runs the harness's arena mode on `lines`; returns its RESULT fields.
    static func runEmitted(_ lines: [String]) throws -> Report {
        let file = try harness.get().deletingLastPathComponent().appendingPathComponent("emitted-\(UUID().uuidString)")
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let outcome = try ExternalTools.run(ExternalTools.qemu, ["-L", ExternalTools.aarch64Sysroot, try harness.get().path, "--emitted", file.path],
                                            missing: ExternalTools.aarch64EmulationMissing)
        return try Report(outcome)
    }

    @Test("AArch64 arena bodies run under qemu from a dual-mapped region",
          .enabled(if: enabled, "\(ExternalTools.aarch64EmulationMissing)"))
    func aarch64EmittedBodies() throws {
        // The harness is linked -no-pie: ct_weighted3 has the same address in every run.
        let probe = try Self.runEmitted([])
        let target = try #require(UInt(probe.fields["weighted3"]?.dropFirst(2) ?? "", radix: 16))
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        func weighted(_ a: Int64, _ b: Int64, _ c: Int64) -> Int64 { a &+ b &* 3 &+ c &* 7 }
        var lines: [String] = []
        for value: UInt64 in [0, 1, 0xFFFF, 0x1_0000, 0xDEAD_BEEF, 0x1234_5678_9ABC_DEF0, UInt64.max] {
            lines.append("\(hex(CodeEmitter.returnConstant(value, architecture: .arm64))) ret \(Int64(bitPattern: value))")
        }
        for caller in 0...2 {
            let constants: [UInt64] = Array([11, 0x1_0000_0001, 13].prefix(3 - caller))
            let bytes = try CodeEmitter.bindConstants(constants, afterArguments: caller, target: target, architecture: .arm64)
            var arguments: [Int64] = [5, 6, 7]
            for (offset, constant) in constants.enumerated() { arguments[caller + offset] = Int64(bitPattern: constant) }
            let expected = weighted(arguments[0], arguments[1], arguments[2])
            lines.append("\(hex(bytes)) call3 5 6 7 \(expected)")
        }
        let report = try Self.runEmitted(lines)
        #expect(report.number("emitted") == lines.count)
        #expect(report.number("failures") == 0, "\(report.fields)")
        print("AArch64 arena bodies: \(report.number("emitted")) emitted bodies run under qemu, \(report.number("failures")) failures")
    }

    /// A chunk's frameless FDE on AArch64 (CFA = sp, return address in x30): a backtrace taken in
    /// the signal handler of a trap inside the chunk reaches the call into it with the FDE
    /// registered (libgcc's `__register_frame`, as pools do), and stops in the chunk without it.
    @Test("AArch64: a backtrace from inside a chunk reaches its caller through the chunk's FDE (qemu)",
          .enabled(if: enabled, "\(ExternalTools.aarch64EmulationMissing)"))
    func aarch64BacktraceCrossesAChunk() throws {
        let variant = StubVariant(kind: .forward)
        let geometry = try ChunkGeometry(pageSize: 4096, slotSize: AArch64StubEncoder().slotSize(for: variant), codeSize: 64 * 1024)
        let template = try Self.templateFile(for: variant, geometry: geometry)
        let directory = try Self.harness.get().deletingLastPathComponent()
        // Where the harness maps the chunk (MAP_FIXED_NOREPLACE): the next candidate if something
        // already lies there (the harness then exits 2 before any backtrace).
        var outcome: ChildProcess.Outcome?
        for address: UInt in [0x40_0000_0000, 0x51_0000_0000, 0x62_0000_0000] {
            let section = UnwindRegistration.section(frameless: address..<address + UInt(geometry.codeSize), architecture: .arm64).bytes
            let ehFrame = directory.appendingPathComponent("eh-frame-\(UUID().uuidString)")
            try Data(section).write(to: ehFrame)
            defer { try? FileManager.default.removeItem(at: ehFrame) }
            let qemu = try #require(ExternalTools.qemu, "\(ExternalTools.aarch64EmulationMissing)")
            let run = try ChildProcess.run(qemu, arguments: ["-L", ExternalTools.aarch64Sysroot, try Self.harness.get().path, "--unwind",
                                                             template.path, ehFrame.path, "\(address)", "\(geometry.codeSize)"], timeout: 180)
            outcome = run
            if run.terminatedBySignal || run.terminationStatus != 2 { break }
        }
        let finished = try #require(outcome)
        #expect(!finished.terminatedBySignal && finished.terminationStatus == 0, "\(finished.standardError)\(finished.standardOutput)")
        let report = try Report(finished)
        #expect(report.number("unregistered") == 0, "without unwind information the backtrace stops in the chunk")
        #expect(report.number("registered") == 1, "with the chunk's FDE the backtrace reaches the caller")
        print("AArch64 unwinding under qemu: caller reached without the chunk's FDE \(report.number("unregistered")), with it \(report.number("registered"))")
    }
}
