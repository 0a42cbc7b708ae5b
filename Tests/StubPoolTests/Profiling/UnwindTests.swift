import CTestHelpers
import Testing
@testable import StubPool

/// Unwinding through pool chunks (``ProfilingOutputs/unwind``): with it on, every chunk's code
/// region is registered with the process's unwinder as frameless code (UnwindRegistration), so a
/// backtrace taken with the program counter inside a chunk continues to the caller. It is a
/// process-wide switch, so each side runs in a child process of its own.
@Suite struct UnwindTests {
    /// `kind → crosses` and `churn → crosses` from the probe.
    func probe(environment: [String: String]) throws -> [String: String] {
        let outcome = try ChildProcess.run("StubPoolCrashProbe", arguments: ["unwind"], environment: environment)
        try #require(outcome.terminationStatus == 0 && !outcome.terminatedBySignal, "\(outcome.standardError)")
        return Dictionary(uniqueKeysWithValues: outcome.standardOutput.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            return fields.count == 2 ? (String(fields[0]), String(fields[1])) : nil
        })
    }

    /// On (the environment's `STUBPOOL_PERF=unwind`): from inside a chunk of every kind the
    /// backtrace reaches the call site, also after 200 pools' chunks were registered and removed.
    @Test(.enabled(if: Architecture.host == .x86_64, "the trap-in-code helper is x86-64 only"))
    func backtraceFromInsideAChunkReachesTheCaller() throws {
        let results = try probe(environment: ["STUBPOOL_PERF": "unwind"])
        for kind in StubKind.allCases { #expect(results[kind.rawValue] == "1", "\(kind): \(results)") }
        #expect(results["churn"] == "1", "\(results)")
    }

    /// Off (the default): nothing is registered, and the same backtrace stops inside the chunk;
    /// so the test above could fail, and a process that did not ask pays nothing.
    @Test(.enabled(if: Architecture.host == .x86_64, "the trap-in-code helper is x86-64 only"))
    func unwindRegistrationIsOffUnlessAskedFor() throws {
        let results = try probe(environment: ["STUBPOOL_PERF": ""])
        for kind in StubKind.allCases { #expect(results[kind.rawValue] == "0", "\(kind): \(results)") }
    }

    /// An arena body committed without a ``CodeFrame``: a backtrace stops inside it.
    @Test(.enabled(if: Architecture.host == .x86_64, "the trap-in-code helper is x86-64 only"))
    func backtraceFromCodeWithoutUnwindInformationStops() throws {
        let arena = CodeArena()
        let blob = try arena.commit([[0xCC, 0xCC, 0xCC, 0xCC]])[0]
        #expect(ct_backtrace_crosses(blob.entry) == 0)
    }

    @Test func theSectionDescribesTheRange() {
        let (bytes, fdeOffset) = UnwindRegistration.section(frameless: 0x1000..<0x41000, architecture: .x86_64)
        #expect(bytes.count % 4 == 0 && fdeOffset % 8 == 0)
        let word = { (offset: Int, count: Int) in (0..<count).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) } }
        #expect(word(fdeOffset + 4, 4) == UInt64(fdeOffset + 4), "the FDE points back to the CIE")
        #expect(word(fdeOffset + 8, 8) == 0x1000 && word(fdeOffset + 16, 8) == 0x40000)
        #expect(word(bytes.count - 4, 4) == 0, "terminated")
    }
}
