import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The libffi drop-in (libStubPoolFFI.so) inside C programs as real clients use it: preloaded,
/// linked ahead of -lffi, and under AddressSanitizer. The programs live in Tests/DropIn.
@Suite struct DropInTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    /// The build folder holding the test bundle and libStubPoolFFI.so.
    static let buildFolder = ChildProcess.executable(named: "x").deletingLastPathComponent()
    static let dropIn = buildFolder.appendingPathComponent("libStubPoolFFI.so")

    enum Build { case plain, linkedAhead, addressSanitizer }

    /// The sanitizer this test process (and so the drop-in beside it) was built with: programs
    /// that load the drop-in must be built with the same one.
    static let sanitizer: String? = {
        if dlsym(nil, "__tsan_init") != nil { return "thread" }  // nil: RTLD_DEFAULT
        if dlsym(nil, "__asan_init") != nil { return "address" }
        return nil
    }()

    /// Compiles Tests/DropIn/`source` into a temporary program.
    static func compile(_ source: String, _ build: Build) throws -> URL {
        // A name of its own per call: test cases run in parallel, and two of them compile the same
        // source with the same build (one runs it preloaded): a shared path let one remove or
        // rewrite the other's program while it ran.
        let binary = FileManager.default.temporaryDirectory
            .appendingPathComponent("stubpool-\(source)-\(build)-\(getpid())-\(UUID().uuidString)")
        var arguments = ["-std=gnu11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-pthread",
                         packageRoot.appendingPathComponent("Tests/DropIn/\(source)").path, "-o", binary.path]
        var compiler = ExternalTools.find("cc") ?? ExternalTools.clang
        switch build {
        case .plain: break
        case .linkedAhead:
            arguments += ["-L", buildFolder.path, "-Wl,-rpath," + buildFolder.path, "-lStubPoolFFI"]
        case .addressSanitizer:
            arguments += ["-fsanitize=address"]
        }
        if let sanitizer {
            arguments += ["-fsanitize=\(sanitizer)"]
            if sanitizer == "thread", let clang = ExternalTools.clang {
                // The shared runtime (the instrumented libStubPoolC.so the drop-in loads needs
                // its symbols), which intercepts libdispatch: link the toolchain's own
                // libdispatch and blocks runtime beside it.
                let swiftRuntime = clang.resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent()
                    .appendingPathComponent("lib/swift/linux").path
                let sanitizerRuntime = URL(fileURLWithPath: try ExternalTools.run(
                    clang, ["-print-file-name=libclang_rt.tsan-x86_64.so"], missing: "clang"
                ).standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)).deletingLastPathComponent().path
                arguments += ["-shared-libsan", "-Wl,-rpath," + sanitizerRuntime,
                              "-L", swiftRuntime, "-Wl,-rpath," + swiftRuntime, "-ldispatch", "-lBlocksRuntime"]
            }
        }
        if build == .addressSanitizer || sanitizer != nil {
            compiler = ExternalTools.clang
            arguments += ["-fno-omit-frame-pointer"]
        }
        try ExternalTools.run(compiler, arguments + ["-lffi", "-ldl"], missing: "a C compiler")
        return binary
    }

    static func run(_ binary: URL, _ arguments: [String] = [], preload: Bool, expectDropIn: Bool,
                    environment extra: [String: String] = [:]) throws -> ChildProcess.Outcome {
        var environment = extra.merging(["SWIFT_BACKTRACE": "enable=no"]) { $1 }
        if preload { environment["LD_PRELOAD"] = dropIn.path }
        if expectDropIn { environment["EXPECT_DROP_IN"] = "1" }
        if sanitizer == "address" {
            // ASan's free-memory quarantine off, as for the Swift fork stress (ForkTests): its
            // recycle lock is not fork-safe, and a forked child can wait on it forever.
            let options = ProcessInfo.processInfo.environment["ASAN_OPTIONS"].map { $0 + ":" } ?? ""
            environment["ASAN_OPTIONS"] = options + "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
        }
        return try ChildProcess.run(binary, arguments: arguments, environment: environment, timeout: 600)
    }

    static func fields(_ output: String) -> [String: String] {
        Dictionary(output.split(separator: "\n").compactMap { line -> (String, String)? in
            let parts = line.split(separator: "=", maxSplits: 1)
            return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
        }, uniquingKeysWith: { $1 })
    }

    /// Foreign closures where a read before or after them faults, malloc'ed ones and the system
    /// libffi's own, next to the drop-in's closures of every payload class: the same program
    /// passes on the system libffi alone, preloaded, linked ahead, and preloaded under ASan.
    @Test(arguments: [
        (Build.plain, false), (Build.plain, true), (Build.linkedAhead, false), (Build.addressSanitizer, true),
    ])
    func foreignClosuresAreLeftToTheSystemLibffi(build: Build, preload: Bool) throws {
        if build == .addressSanitizer && ExternalTools.clang == nil {
            guard ExternalTools.isCI else {
                print("DropInTests: skipped the ASan run: \(ExternalTools.clangMissing)")
                return
            }
        }
        // One sanitizer per program: under ThreadSanitizer the ASan row has nothing to add.
        if build == .addressSanitizer && Self.sanitizer == "thread" { return }
        let binary = try Self.compile("foreign_closures.c", build)
        defer { try? FileManager.default.removeItem(at: binary) }
        let throughDropIn = preload || build == .linkedAhead
        let outcome = try Self.run(binary, preload: preload, expectDropIn: throughDropIn)
        print("DropInTests foreign closures (\(build), preload \(preload)):\n\(outcome.standardOutput)", terminator: "")
        #expect(!outcome.terminatedBySignal && outcome.terminationStatus == 0, "\(outcome.standardError)")
        let verdict = throughDropIn ? "foreign closures: ok (through the drop-in)" : "foreign closures: ok (system libffi alone)"
        #expect(outcome.standardOutput.contains(verdict), "\(outcome.standardOutput)")
    }

    /// The drop-in fills closures itself once it learned what the system libffi writes for each
    /// kind of cif: over 10,000 random signatures (variadic ones, structs, long double among
    /// them) every closure it prepares equals, byte for byte, one the system libffi prepared. And
    /// one closure prepared 1,000 times, alternating an integer and an SSE signature (two libffi
    /// entries), reaches the entry of its latest preparation on every call.
    @Test func preparedClosuresEqualTheSystemLibffisByteForByte() throws {
        let binary = try Self.compile("prep_differential.c", .plain)
        defer { try? FileManager.default.removeItem(at: binary) }
        let outcome = try Self.run(binary, ["10000"], preload: true, expectDropIn: true)
        print("DropInTests: \(outcome.standardOutput)", terminator: "")
        #expect(!outcome.terminatedBySignal && outcome.terminationStatus == 0, "\(outcome.standardError)")
        #expect(outcome.standardOutput.contains("prep differential: 10000 signatures"), "\(outcome.standardOutput)")
        #expect(outcome.standardOutput.contains("1000 preparations alternating two entries, 0 wrong calls"), "\(outcome.standardOutput)")
    }

    /// Short-lived threads: 4,000 of them, one after another, each making two closures, give back
    /// what they hold when they exit (the drop-in's reserve of ready closures, and releases that
    /// must still lead to a reclaim), so slots are reused: at most a quarter of the 8,000 closures
    /// have an address of their own, on the system libffi alone as through the drop-in.
    @Test(arguments: [false, true])
    func threadsThatExitGiveTheirClosuresBack(preload: Bool) throws {
        let binary = try Self.compile("thread_exit_closures.c", .plain)
        defer { try? FileManager.default.removeItem(at: binary) }
        let outcome = try Self.run(binary, ["4000"], preload: preload, expectDropIn: preload)
        print("DropInTests thread exit (preload \(preload)): \(outcome.standardOutput)", terminator: "")
        #expect(!outcome.terminatedBySignal && outcome.terminationStatus == 0, "\(outcome.standardError)")
        #expect(Self.fields(outcome.standardOutput)["closures"] == "8000", "\(outcome.standardOutput)")
    }

    /// The release rule: a call through a freed closure's code address reports itself and aborts,
    /// never runs the closure. With STUBPOOL_FFI_FREE_BATCH=1 right after the free; with the
    /// default batch once the thread freed 64 more closures.
    @Test(arguments: [("at-once", "1"), ("after-batch", nil)] as [(String, String?)])
    func aCallThroughAFreedClosureAborts(mode: String, batch: String?) throws {
        let binary = try Self.compile("freed_closure_call.c", .plain)
        defer { try? FileManager.default.removeItem(at: binary) }
        let outcome = try Self.run(binary, [mode], preload: true, expectDropIn: true,
                                   environment: batch.map { ["STUBPOOL_FFI_FREE_BATCH": $0] } ?? [:])
        #expect(outcome.standardOutput.contains("calling"), "\(outcome.standardOutput)\(outcome.standardError)")
        #expect(!outcome.standardOutput.contains("ran a freed closure"), "\(outcome.standardOutput)")
        #expect(outcome.terminatedBySignal && outcome.terminationStatus == SIGABRT, "\(outcome.terminationStatus) \(outcome.standardError)")
        #expect(outcome.standardError.contains("call through released stub"), "\(outcome.standardError)")
    }

    /// fork() at any instant: 1,000 forks while three threads allocate, prepare, call and free
    /// closures through the drop-in. Debian's libffi alone hangs children here (47 of 200 measured).
    @Test func forkWhileThreadsMakeClosuresLeavesNoChildHung() throws {
        let forks = ProcessInfo.processInfo.environment["STUBPOOL_FORK_STRESS"].flatMap { Int($0) } ?? 1_000
        let binary = try Self.compile("fork_closures.c", .plain)
        defer { try? FileManager.default.removeItem(at: binary) }
        let outcome = try Self.run(binary, ["\(forks)"], preload: true, expectDropIn: true)
        #expect(!outcome.terminatedBySignal && outcome.terminationStatus == 0, "\(outcome.standardError)")
        let fields = Self.fields(outcome.standardOutput)
        print("fork stress (drop-in): \(fields["forks"] ?? "?") forks while 3 threads made closures (\(fields["worker_rounds"] ?? "?") rounds of 16): \(fields["children_ok"] ?? "?") children right, \(fields["children_hung"] ?? "?") hung, inherited wrong \(fields["children_inherited_wrong"] ?? "?"), new wrong \(fields["children_new_wrong"] ?? "?"), allocation failed \(fields["children_alloc_failed"] ?? "?"), other \(fields["children_other"] ?? "?"); parent intact \(fields["parent_intact"] ?? "?")")
        #expect(fields["children_ok"] == "\(forks)", "\(outcome.standardOutput)")
        #expect(fields["children_hung"] == "0")
        #expect(fields["worker_failed"] == "0")
        #expect(fields["parent_intact"] == "1")
    }
}
