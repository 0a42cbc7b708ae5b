import CTestHelpers
import Testing
@testable import StubPool

@Suite struct PlacementTests {
    func offsets(_ stubs: some Collection<Stub>, pageSize: Int) -> [Int] { stubs.map { Int($0.address) % pageSize } }

    @Test func packedFillsLowestAddressesFirst() throws {
        let pool = try StubPool(.init(placement: .packed, shards: 1))
        let stubs = try (0..<300).map { _ in try pool.allocate(target: CTargets.weighted3) }
        let slot = UInt(pool.layout.geometry.slotSize)
        for (previous, next) in zip(stubs, stubs.dropFirst()) { #expect(next.address == previous.address + slot) }
    }

    @Test func pageStartPutsEachStubAtOffsetZeroOfItsOwnPage() throws {
        let pool = try StubPool(.init(placement: .pageStart))
        let pageSize = pool.layout.geometry.pageSize
        let stubs = try pool.allocate(count: 200, target: CTargets.weighted3)
        #expect(offsets(stubs, pageSize: pageSize).allSatisfy { $0 == 0 })
        #expect(Set(stubs.map { $0.address / UInt(pageSize) }).count == 200)
        for stub in stubs.prefix(70) { #expect(ct_call3(stub.entry, 1, 0, 0) == 1) }
    }

    @Test func staggeredAdvancesOneCacheLinePerStub() throws {
        let pool = try StubPool(.init(placement: .staggered))
        let pageSize = pool.layout.geometry.pageSize
        let stubs = try (0..<100).map { _ in try pool.allocate(target: CTargets.weighted3) }
        #expect(Set(stubs.map { $0.address / UInt(pageSize) }).count == 100)
        let lines = offsets(stubs, pageSize: pageSize).map { $0 / 64 }
        for (index, line) in lines.enumerated() { #expect(line == index % (pageSize / 64)) }
        for stub in stubs { #expect(ct_call3(stub.entry, 0, 1, 0) == 3) }
    }

    @Test func randomIsReproducibleAndSpread() throws {
        func layout(seed: UInt64) throws -> [Int] {
            let pool = try StubPool(.init(placement: .random(seed: seed)))
            let stubs = try (0..<64).map { _ in try pool.allocate(target: CTargets.weighted3) }
            for stub in stubs { #expect(ct_call3(stub.entry, 0, 0, 1) == 7) }
            let base = pool.mappedRegions()[0].code.lowerBound
            return stubs.map { Int($0.address - base) }
        }
        let first = try layout(seed: 42), second = try layout(seed: 42), other = try layout(seed: 43)
        #expect(first == second)
        #expect(first != other)
        // 64 uniform picks among the chunk's 64 code pages hit about 40 distinct pages.
        #expect(Set(first.map { $0 / 4096 }).count > 25, "64 random stubs spread over many pages")
        #expect(Set(first).count == 64)
    }
}
