import CTestHelpers
import Foundation
import Testing
@testable import StubPool

@Suite struct ReleaseTests {
    static let cases: [(StubKind, CodeStrategy, Bool)] = StubKind.allCases.flatMap { kind in
        CodeStrategy.allCases.flatMap { strategy in [false, true].map { (kind, strategy, $0) } }
    }

    /// Calling a released stub dies with `call through released stub #<id> at 0x<addr>`.
    @Test(arguments: cases)
    func callingReleasedStubAbortsWithDiagnostic(kind: StubKind, strategy: CodeStrategy, landingPads: Bool) throws {
        var arguments = [kind.rawValue, strategy.rawValue]
        if landingPads { arguments.append("landing-pads") }
        let outcome = try ChildProcess.run("StubPoolCrashProbe", arguments: arguments)
        let fields = outcome.standardOutput.split(whereSeparator: \.isWhitespace)
        try #require(fields.count == 2, "probe output: \(outcome.standardOutput) \(outcome.standardError)")
        #expect(outcome.terminatedBySignal && outcome.terminationStatus == SIGABRT, "\(outcome.standardError)")
        #expect(outcome.standardError.contains("call through released stub #\(fields[0]) at 0x\(fields[1])"),
                "stderr: \(outcome.standardError)")
        #expect(!outcome.standardError.contains("returned from a released stub"))
    }

    /// The same for stubs whose data slots are inside their payloads (the released state is
    /// written there; only a slot never handed out holds 0).
    @Test(arguments: [StubKind.context, .bindFirstArgument], CodeStrategy.allCases)
    func callingAReleasedStubWithItsDataInItsPayloadAborts(kind: StubKind, strategy: CodeStrategy) throws {
        let outcome = try ChildProcess.run("StubPoolCrashProbe", arguments: [kind.rawValue, strategy.rawValue, "landing-pads", "payload-data"])
        let fields = outcome.standardOutput.split(whereSeparator: \.isWhitespace)
        try #require(fields.count == 2, "probe output: \(outcome.standardOutput) \(outcome.standardError)")
        #expect(outcome.terminatedBySignal && outcome.terminationStatus == SIGABRT, "\(outcome.standardError)")
        #expect(outcome.standardError.contains("call through released stub #\(fields[0]) at 0x\(fields[1])"),
                "stderr: \(outcome.standardError)")
    }

    /// The same with the chunk full and the released stub the one nearest the chunk's anchor, whose
    /// data slot leads every released stub of the chunk to the trap: no placement may hand the
    /// anchor out (with 64-byte slots the staggered placement once did, and calls through released
    /// stubs of that chunk no longer trapped).
    @Test(arguments: StubKind.allCases.flatMap { kind in ["packed", "pageStart", "staggered"].flatMap { placement in [false, true].map { (kind, placement, $0) } } })
    func callingAReleasedStubOfAFullChunkAborts(kind: StubKind, placement: String, landingPads: Bool) throws {
        var arguments = ["full-chunk", kind.rawValue, placement]
        if landingPads { arguments.append("landing-pads") }
        let outcome = try ChildProcess.run("StubPoolCrashProbe", arguments: arguments)
        let fields = outcome.standardOutput.split(whereSeparator: \.isWhitespace)
        try #require(fields.count == 2, "probe output: \(outcome.standardOutput) \(outcome.standardError)")
        #expect(outcome.terminatedBySignal && outcome.terminationStatus == SIGABRT, "\(outcome.standardError)")
        #expect(outcome.standardError.contains("call through released stub #\(fields[0]) at 0x\(fields[1])"),
                "stderr: \(outcome.standardError)")
    }

    @Test func releasedSlotIsQuarantinedUntilReclaim() throws {
        let pool = try StubPool(.init(kind: .context, shards: 1))
        let first = try pool.allocate(target: CTargets.returnContextRegister, context: 1)
        let second = try pool.allocate(target: CTargets.returnContextRegister, context: 2)
        try pool.release(first)
        #expect(pool.statistics().quarantinedStubs == 1)
        #expect(pool.statistics().liveStubs == 1)
        #expect(pool.stub(containing: first.address) == nil)
        let third = try pool.allocate(target: CTargets.returnContextRegister, context: 3)
        #expect(third.address != first.address, "a quarantined slot must not be reused before reclaim")
        #expect(pool.reclaim() == 1)
        #expect(pool.statistics().quarantinedStubs == 0)
        // The reclaimed slot is free in its shard again: the thread's cache hands out the rest of
        // its batch, then refills lowest first, starting with that slot.
        var reused: Stub?
        for _ in 0...SlotCache.capacity where reused == nil {
            let stub = try pool.allocate(target: CTargets.returnContextRegister, context: 4)
            if stub.address == first.address { reused = stub }
        }
        let found = try #require(reused, "packed placement reuses the lowest free slot at the next refill")
        #expect(found.id == first.id)
        #expect(ct_call0(found.entry) == 4)
        #expect(ct_call0(second.entry) == 2)
        #expect(ct_call0(third.entry) == 3)
    }

    @Test func releasedStubCannotBeRetargeted() throws {
        let pool = try StubPool()
        let stub = try pool.allocate(target: CTargets.weighted3)
        try pool.release(stub)
        #expect(throws: StubPoolError.released(id: stub.id)) { try pool.retarget(stub, to: CTargets.weighted3) }
        #expect(throws: StubPoolError.released(id: stub.id)) { try pool.setContext(1, for: stub) }
    }
}
