import CTestHelpers
import Foundation
import Testing

/// Address-space exhaustion (Tests/StubPoolCrashProbe/ResourceExhaustion.swift), in a child
/// process with RLIMIT_AS lowered to one chunk above its use: a bulk allocation needing two more
/// chunks fails and leaves nothing; single allocations fill one more chunk, then fail with a typed
/// error and nothing half-built; the pool keeps working.
@Suite struct ResourceExhaustionTests {
    @Test(.disabled(if: ct_sanitizer_active() != 0,
                     "a sanitizer's runtime reserves terabytes of shadow memory: RLIMIT_AS cannot be lowered under it"))
    func chunkReservationFailureIsTypedAndLeavesNothing() throws {
        let outcome = try ChildProcess.run("StubPoolCrashProbe", arguments: ["exhaustion"], timeout: 120)
        let line = try #require(outcome.standardOutput.split(separator: "\n").first { $0.hasPrefix("EXHAUSTION ") },
                                "probe output: \(outcome.standardOutput)\(outcome.standardError)")
        #expect(outcome.terminationStatus == 0 && !outcome.terminatedBySignal)
        #expect(line.contains("bulk=ok"), "\(line)")
        #expect(line.contains("single=ok"), "\(line)")
        #expect(line.contains("still-works=true"), "\(line)")
        #expect(line.contains("chunks=2"), "exactly one chunk fit under the limit: \(line)")
        print("resource exhaustion: \(line)")
    }
}
