import StubPoolTestSupport
import CTestHelpers
import Testing
@testable import StubPool

@Suite struct PoolLifecycleTests {
    @Test(arguments: CodeStrategy.allCases)
    func destroyingPoolUnmapsEverything(strategy: CodeStrategy) throws {
        var pool: StubPool? = try StubPool(.init(kind: .context, strategy: strategy, shards: 1))
        _ = try pool!.allocate(count: 50_000, target: CTargets.returnContextRegister)
        let statistics = pool!.statistics()
        let regions = pool!.mappedRegions()
        let ranges = regions.flatMap { [$0.executable, $0.writable] }
        let chunks = (50_000 + pool!.layout.capacity - 1) / pool!.layout.capacity
        #expect(statistics.chunks == chunks)
        #expect(statistics.mappings == 2 * chunks)
        #expect(ProcessMaps.entries(overlapping: ranges).count == statistics.mappings,
                "each chunk is exactly two mappings")
        let token = pool!.layout.token
        pool = nil
        #expect(regions.allSatisfy { ChunkRegistry.chunk(containing: $0.executable.lowerBound)?.layout.token != token },
                "destroyed chunks are unregistered")
        #expect(ProcessMaps.leftovers(in: ranges).isEmpty)
    }

    @Test func statisticsCountMemory() throws {
        let pool = try StubPool(.init(kind: .forward, shards: 1))
        let stubs = try pool.allocate(count: 100_000, target: CTargets.weighted3)
        let statistics = pool.statistics()
        let geometry = pool.layout.geometry
        #expect(statistics.liveStubs == 100_000)
        #expect(statistics.chunks == (100_000 + pool.layout.capacity - 1) / pool.layout.capacity)
        #expect(statistics.codeBytesMapped == statistics.chunks * geometry.codeSize)
        #expect(statistics.dataBytesMapped == statistics.chunks * geometry.dataSize)
        // Data pages are written when a chunk is mapped; code is one shared template.
        #expect(statistics.residentDataBytes == statistics.dataBytesMapped)
        #expect(statistics.residentCodeBytes <= geometry.codeSize)
        #expect(statistics.metadataBytes < 100_000 / 8 * 2)
        // 16 B of data per slot plus bitmaps; the shared template amortizes to nothing at scale.
        let slots = statistics.chunks * pool.layout.capacity
        #expect(Double(statistics.residentDataBytes + statistics.metadataBytes) / Double(slots) < 16.5)
        #expect(ct_call3(stubs.last!.entry, 1, 1, 1) == 11)
    }

    @Test func sharedTemplateCodeIsIdenticalAcrossChunks() throws {
        let pool = try StubPool(.init(kind: .bindFirstArgument, landingPads: true, shards: 1))
        _ = try pool.allocate(count: pool.layout.capacity * 2 + 1, target: CTargets.weighted3)
        let regions = pool.mappedRegions()
        #expect(regions.count == 3)
        let images = regions.map { Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: $0.executable.lowerBound), count: $0.executable.count)) }
        #expect(images.allSatisfy { $0 == images[0] })
        // Unused bytes are traps: every slot ends in int3 padding, the anchor slot is all int3.
        let slot = pool.layout.geometry.slotSize
        #expect(images[0].suffix(slot).allSatisfy { $0 == 0xCC })
    }

    @Test func lookupIsExactAndConstantTime() throws {
        let pool = try StubPool(.init(shards: 1))
        let stubs = try pool.allocate(count: 40_000, target: CTargets.weighted3)
        for stub in stubs.shuffled().prefix(2_000) {
            #expect(pool.stub(containing: stub.address) == stub)
            #expect(pool.stub(containing: stub.address + UInt(pool.layout.geometry.slotSize - 1)) == stub)
        }
        let data = pool.mappedRegions()[0].writable.lowerBound
        #expect(pool.stub(containing: data) == nil, "data addresses are not stubs")
    }
}
