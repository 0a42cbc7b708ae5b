import CTestHelpers
import Foundation
import Synchronization
import StubPoolTestSupport
import Testing
@testable import StubPool

/// The allocation fast path: per-thread slot caches, thread exit, ranges, memory given back.
@Suite struct SlotCacheTests {
    @Test func exitingThreadReturnsItsCachedSlotsAndKeepsItsStubs() throws {
        let pool = try StubPool(.init(kind: .context, shards: 1))
        let made = Mutex<[Stub]>([])
        onExitingThread {
            let stubs = (0..<3).map { _ in try! pool.allocate(target: CTargets.returnContextRegister, context: 7) }
            made.withLock { $0 = stubs }
        }
        let stubs = made.withLock { $0 }
        let statistics = pool.statistics()
        #expect(statistics.liveStubs == 3)
        #expect(statistics.cachedSlots == 0, "the exited thread's cache went back to the shard")
        for stub in stubs { #expect(ct_call0(stub.entry) == 7) }
        // The returned slots are allocatable again, lowest first, from this thread's cache.
        let next = try pool.allocate(target: CTargets.returnContextRegister, context: 8)
        #expect(next.address == stubs[2].address + UInt(pool.layout.geometry.slotSize))
        for stub in stubs { try pool.release(stub) }
        try pool.release(next)
        #expect(pool.reclaim() == 4)
        #expect(pool.statistics().liveStubs == 0)
    }

    @Test func releasesQueuedByAnExitedThreadAreReclaimed() throws {
        let pool = try StubPool(.init(shards: 1))
        let stubs = Array(try pool.allocate(count: 300, target: CTargets.weighted3))
        onExitingThread { for stub in stubs { try! pool.release(stub) } }
        #expect(pool.statistics().quarantinedStubs == 300)
        #expect(pool.reclaim() == 300)
        #expect(pool.statistics().liveStubs == 0)
    }

    @Test func threadOutlivingItsPoolDropsTheCache() throws {
        let ready = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        var pool: StubPool? = try StubPool()
        let token = pool!.layout.token
        let box = Mutex<StubPool?>(pool)
        let thread = Thread {
            _ = try! box.withLock { $0! }.allocate(target: CTargets.weighted3)
            box.withLock { $0 = nil }
            ready.signal()
            done.wait()  // the pool dies while this thread still holds its cache
        }
        thread.start()
        ready.wait()
        pool = nil
        #expect(ChunkRegistry.liveChunkRanges().allSatisfy { ChunkRegistry.chunk(containing: $0.lowerBound)?.layout.token != token })
        done.signal()
    }

    @Test func rangeOperationsAreAllOrNothing() throws {
        let pool = try StubPool(.init(kind: .context, shards: 1))
        let stubs = try pool.allocate(count: 40_000, target: CTargets.returnContextRegister, context: 1)
        let capacity = pool.layout.capacity
        #expect(stubs.runs.count == (40_000 + capacity - 1) / capacity, "one run per fresh chunk")
        #expect(stubs.count == 40_000 && Set(stubs.map(\.address)).count == 40_000)
        try pool.retarget(stubs, to: CTargets.returnContextRegister, context: 2)
        #expect(ct_call0(stubs[0].entry) == 2 && ct_call0(stubs[39_999].entry) == 2 && ct_call0(stubs[20_000].entry) == 2)
        try pool.release(stubs[12_345])
        #expect(throws: StubPoolError.released(id: stubs[12_345].id)) { try pool.release(stubs) }
        #expect(throws: StubPoolError.released(id: stubs[12_345].id)) {
            try pool.retarget(stubs, to: CTargets.returnContextRegister, context: 3)
        }
        #expect(ct_call0(stubs[12_346].entry) == 2, "a failed range operation changed nothing")
        #expect(pool.statistics().liveStubs == 39_999)
        let other = try StubPool()
        #expect(throws: StubPoolError.self) { try other.release(stubs) }
    }

    @Test func emptyChunksGoBackWithHysteresis() throws {
        let delay = Duration.milliseconds(200)
        let pool = try StubPool(.init(shards: 1, idleChunkDelay: delay))
        let stubs = try pool.allocate(count: 100_000, target: CTargets.weighted3)
        let mapped = pool.statistics().chunks
        try pool.release(stubs)
        #expect(pool.reclaim() == 100_000)
        #expect(pool.statistics().chunks == mapped, "the first reclaim that finds chunks empty keeps them")
        // Refilling in between counts as use: nothing goes back.
        let again = try pool.allocate(count: 100_000, target: CTargets.weighted3)
        try pool.release(again)
        pool.reclaim()
        #expect(pool.statistics().chunks == mapped)
        // Still empty and unused at the next reclaim, but too soon: kept.
        pool.reclaim()
        #expect(pool.statistics().chunks == mapped, "a chunk idle for less than the delay stays mapped")
        // Still empty and unused a delay later: returned, one spare kept.
        Thread.sleep(forTimeInterval: Double(delay.components.attoseconds) / 1e18 + 0.05)
        pool.reclaim()
        let statistics = pool.statistics()
        #expect(statistics.chunks == PoolShared.spareChunks)
        #expect(statistics.returnedChunks == mapped - PoolShared.spareChunks)
        #expect(statistics.returnedBytes == statistics.returnedChunks * pool.layout.geometry.chunkSize)
        #expect(throws: StubPoolError.self) { try StubPool(.init(idleChunkDelay: .seconds(-1))) }
        // Returned chunks' indices are reused; everything still works.
        let more = try pool.allocate(count: 50_000, target: CTargets.weighted3)
        #expect(ct_call3(more[49_999].entry, 1, 0, 0) == 1)
        try pool.release(more)
        pool.reclaim()
        #expect(pool.trim() > 0)
        #expect(pool.statistics().chunks == PoolShared.spareChunks)
    }

    @Test func staleHandleOfAReturnedChunkIsRejectedByRelease() throws {
        let pool = try StubPool(.init(shards: 1))
        let stubs = try pool.allocate(count: 40_000, target: CTargets.weighted3)
        let last = stubs[39_999]
        try pool.release(stubs)
        pool.reclaim()
        pool.trim()
        #expect(throws: StubPoolError.foreignStub(last)) { try pool.release(last) }
        #expect(throws: StubPoolError.foreignAddress(last.address)) { try pool.release(address: last.address) }
    }

    @Test func twoThreadsAllocatingAndReleasingKeepCountsExact() async throws {
        let pool = try StubPool()
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var held: [Stub] = []
                    for round in 0..<50 {
                        for _ in 0..<(100 + worker) { held.append(try! pool.allocate(target: CTargets.weighted3, context: UInt(round))) }
                        for stub in held.prefix(held.count / 2) { try! pool.release(stub) }
                        held.removeFirst(held.count / 2)
                    }
                    for stub in held { try! pool.release(stub) }
                }
            }
        }
        let statistics = pool.statistics()
        #expect(statistics.liveStubs == 0)
        #expect(pool.reclaim() == statistics.quarantinedStubs)
        #expect(pool.statistics().quarantinedStubs == 0)
    }
}
