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
            let base = pool.mappedRegions()[0].executable.lowerBound
            return stubs.map { Int($0.address - base) }
        }
        let first = try layout(seed: 42), second = try layout(seed: 42), other = try layout(seed: 43)
        #expect(first == second)
        #expect(first != other)
        // 64 uniform picks among the chunk's 64 code pages hit about 40 distinct pages.
        #expect(Set(first.map { $0 / 4096 }).count > 25, "64 random stubs spread over many pages")
        #expect(Set(first).count == 64)
    }

    /// The anchor (each chunk's last slot, whose data slot holds the released-stub trap and the
    /// lazy entry for the whole chunk) belongs to no stub, and no slot to two, whatever the page
    /// size, slot size, code size and placement. (With slots of 64 bytes or more the staggered
    /// placement once put the last page's stub on the anchor.)
    /// Also: logical order is address order (a chunk's gdb symbol file is written in logical
    /// order and needs its symbols sorted).
    @Test func noPlacementHandsOutTheAnchorOrASlotTwice() throws {
        var checked = 0, failures: [String] = []
        for pageSize in ChunkGeometry.supportedPageSizes {
            for slotSize in (4...12).map({ 1 << $0 }) {
                for codeSize in [64, 128, 256, 512].map({ $0 * 1024 }) {
                    guard let geometry = try? ChunkGeometry(pageSize: pageSize, slotSize: slotSize, codeSize: codeSize) else { continue }
                    for placement in [Placement.packed, .pageStart, .staggered, .random(seed: 1)] {
                        let slots = SlotPlacement(placement: placement, geometry: geometry)
                        var seen = Set<Int>(), previous = -1
                        for logical in 0..<slots.capacity {
                            let physical = slots.physical(logical)
                            defer { previous = physical }
                            let problem: String? = if !(0..<geometry.physicalSlots).contains(physical) { "outside the chunk" }
                                else if physical <= previous { "not past the previous slot" }
                                else if physical == geometry.anchorSlot { "the anchor" }
                                else if !seen.insert(physical).inserted { "taken twice" }
                                else if slots.logical(physical) != logical { "not mapped back" } else { nil }
                            if let problem {
                                failures.append("\(placement), page \(pageSize), slot \(slotSize), code \(codeSize): logical \(logical) → physical \(physical) is \(problem)")
                            }
                        }
                        checked += 1
                    }
                }
            }
        }
        #expect(checked > 300)
        #expect(failures.isEmpty, "\(failures.count) bad slots, first: \(failures.first ?? "")")
    }

    /// Every kind, landing pads or not, lazy-capable or not, under every placement: one chunk's
    /// every slot is allocated, called, released (its data slot then holds the released state,
    /// and the anchor's data slot is never touched), reclaimed and handed out again.
    @Test(arguments: StubKind.allCases)
    func everySlotOfAChunkLivesAndDiesWithTheAnchorIntact(kind: StubKind) throws {
        for landingPads in [false, true] {
            for lazyBatches in [false, true] {
                for placement in [Placement.packed, .pageStart, .staggered, .random(seed: 3)] {
                    let label = "\(kind), landing pads \(landingPads), lazy \(lazyBatches), \(placement)"
                    let pool = try StubPool(.init(kind: kind, placement: placement, landingPads: landingPads, shards: 1,
                                                  lazyBatches: lazyBatches))
                    let layout = pool.layout
                    let capacity = layout.capacity
                    // Bulk allocations take slots straight from the shard (no thread cache): one chunk.
                    let first = try pool.allocate(count: 1, target: CTargets.weighted3, context: 5)
                    let base = try #require(pool.mappedRegions().first).executable.lowerBound
                    let anchor = DataSlot(address: base + UInt(layout.geometry.dataOffset(ofSlot: layout.geometry.anchorSlot)))
                    let anchorBefore = (anchor.context, anchor.target)
                    let rest = try pool.allocate(count: capacity - 1, target: CTargets.weighted3, context: 5)
                    let stubs = Array(first) + Array(rest)
                    #expect(pool.statistics().chunks == 1, "\(label)")
                    #expect(Set(stubs.map(\.address)).count == capacity, "\(label)")
                    let expected = kind == .bindFirstArgument ? ct_weighted3(5, 1, 2) : ct_weighted3(1, 2, 3)
                    #expect(stubs.allSatisfy { ct_call3($0.entry, 1, 2, 3) == expected }, "\(label): every stub calls its target")
                    for stub in stubs { try pool.release(stub) }
                    #expect(stubs.allSatisfy { pool.stub(containing: $0.address) == nil }, "\(label): every stub released")
                    #expect(stubs.allSatisfy { layout.isReleased(target: DataSlot(address: layout.dataSlot(of: $0)).target, entry: $0.address) },
                            "\(label): every released stub's data slot leads to the trap")
                    #expect(anchor.context == anchorBefore.0 && anchor.target == anchorBefore.1, "\(label): the anchor is untouched")
                    #expect(pool.reclaim() == capacity, "\(label)")
                    let again = try pool.allocate(count: capacity, target: CTargets.weighted3, context: 5)
                    #expect(Set(again.map(\.address)) == Set(stubs.map(\.address)), "\(label): every slot handed out again")
                    #expect(pool.statistics().chunks == 1, "\(label)")
                }
            }
        }
    }
}
