import CTestHelpers
import Testing
@testable import StubPool

/// Data slots inside the stubs' payloads (``StubPool/Configuration/payloadDataOffset``).
@Suite struct PayloadDataSlotTests {
    /// Both kinds that carry a context, every placement, a whole chunk: every stub reaches its
    /// target with its context; its context and target words are at the offset inside its own
    /// payload; a release writes the released-stub trap there; reclaim hands every slot out again; and the data
    /// region is not touched beyond the anchor's page.
    @Test(arguments: [StubKind.context, .bindFirstArgument])
    func everySlotKeepsItsDataInItsOwnPayload(kind: StubKind) throws {
        for placement in [Placement.packed, .pageStart, .staggered, .random(seed: 5)] {
            let label = "\(kind), \(placement)"
            let pool = try StubPool(.init(kind: kind, placement: placement, shards: 1, payloadSize: 56, payloadDataOffset: 16))
            let capacity = pool.layout.capacity
            let stubs = Array(try pool.allocate(count: capacity, target: CTargets.weighted3, context: 5))
            #expect(pool.statistics().chunks == 1, "\(label)")
            let expected = kind == .bindFirstArgument ? ct_weighted3(5, 1, 2) : ct_weighted3(1, 2, 3)
            #expect(stubs.allSatisfy { ct_call3($0.entry, 1, 2, 3) == expected }, "\(label): every stub calls its target")
            let target = UInt(bitPattern: CTargets.weighted3)
            let words = try stubs.map { stub throws(StubPoolError) in
                let payload = try pool.payload(of: stub)
                return (payload.load(fromByteOffset: 16, as: UInt.self), payload.load(fromByteOffset: 24, as: UInt.self))
            }
            #expect(words.allSatisfy { $0 == (5, target) }, "\(label): context and target inside the payload")
            let writable = try #require(pool.mappedRegions().first).writable.lowerBound
            let dataResident = try Kernel.residentBytes(writable, size: pool.layout.geometry.dataSize)
            #expect(dataResident <= Kernel.pageSize, "\(label): \(dataResident) bytes of the data region resident (the anchor's page)")
            for stub in stubs { try pool.release(stub) }
            #expect(stubs.allSatisfy { pool.stub(containing: $0.address) == nil }, "\(label): every stub released")
            let released = pool.layout.releasedState(entry: stubs[0].address).target
            #expect(try stubs.allSatisfy { stub throws(StubPoolError) in try pool.payload(of: stub).load(fromByteOffset: 24, as: UInt.self) == released },
                    "\(label): a released stub's target word is the released-stub trap")
            #expect(pool.reclaim() == capacity, "\(label)")
            let again = try pool.allocate(count: capacity, target: CTargets.weighted3, context: 7)
            #expect(Set(again.map(\.address)) == Set(stubs.map(\.address)), "\(label): every slot handed out again")
            #expect(try pool.context(of: again[capacity / 2]) == 7)
            #expect(again.allSatisfy { ct_call3($0.entry, 1, 2, 3) == (kind == .bindFirstArgument ? ct_weighted3(7, 1, 2) : expected) })
        }
    }

    /// A single allocation, a retarget, a context change and a closure allocation go through the
    /// payload's words too.
    @Test func everyOperationUsesThePayloadsWords() throws {
        let pool = try StubPool(.init(kind: .bindFirstArgument, payloadSize: 64, payloadDataOffset: 48))
        let stub = try pool.allocate(target: CTargets.weighted3, context: 2)
        let payload = try pool.payload(of: stub)
        #expect(ct_call3(stub.entry, 1, 2, 3) == ct_weighted3(2, 1, 2))
        try pool.setContext(9, for: stub)
        #expect(payload.load(fromByteOffset: 48, as: UInt.self) == 9 && ct_call3(stub.entry, 1, 2, 3) == ct_weighted3(9, 1, 2))
        try pool.retarget(stub, to: CTargets.weighted3, context: 4)
        #expect(ct_call3(stub.entry, 1, 2, 3) == ct_weighted3(4, 1, 2))
        let (closure, record) = try pool.allocateClosure(target: CTargets.weighted3)
        #expect(record.load(fromByteOffset: 48, as: UInt.self) == UInt(bitPattern: record), "a closure's context is its payload")
        #expect(ct_call3(closure.entry, 1, 2, 3) == ct_weighted3(Int64(Int(bitPattern: UInt(bitPattern: record))), 1, 2))
        let inspected = try #require(pool.inspect().chunks.flatMap(\.stubs).first { $0.address == CodeAddress(stub.address) })
        #expect(inspected.target == CodeAddress(UInt(bitPattern: CTargets.weighted3)) && inspected.context == CodeAddress(4),
                "inspection reads the payload's words")
        try pool.release(stub)
        #expect(!pool.inspect().chunks.flatMap(\.stubs).contains { $0.address == CodeAddress(stub.address) }, "a released stub is not live")
        #expect(throws: StubPoolError.released(id: stub.id)) { try pool.release(stub) }
        #expect(payload.load(fromByteOffset: 56, as: UInt.self) == pool.layout.releasedState(entry: stub.address).target)
    }

    /// A slot never handed out reads target 0 in its payload and counts as released: releasing or
    /// retargeting it (both forms: the context one is inlined for other pools) is refused and
    /// writes nothing.
    @Test func aSlotNeverHandedOutIsNotLive() throws {
        let pool = try StubPool(.init(kind: .context, payloadSize: 32, payloadDataOffset: 0))
        let stub = try pool.allocate(target: CTargets.weighted3, context: 1)
        let base = stub.address &- UInt(stub.slot) &* UInt(pool.layout.geometry.slotSize)
        let other = try #require((0..<2).map { pool.layout.stub(base: base, logical: $0) }.first { $0 != stub })
        let targetWord = try #require(UnsafeRawPointer(bitPattern: pool.layout.payload(of: other) + 8))
        #expect(targetWord.load(as: UInt.self) == 0)
        #expect(throws: StubPoolError.released(id: other.id)) { try pool.release(address: other.address) }
        #expect(throws: StubPoolError.released(id: other.id)) { try pool.retarget(other, to: CTargets.weighted3, context: 2) }
        #expect(throws: StubPoolError.released(id: other.id)) { try pool.retarget(other, to: CTargets.weighted3) }
        #expect(targetWord.load(as: UInt.self) == 0, "nothing written")
    }

    /// What cannot keep its data in its payload is refused, naming why; images refuse such pools.
    @Test func whatCannotIsRefused() throws {
        let refused: [StubPool.Configuration] = [
            .init(kind: .forward, payloadSize: 64, payloadDataOffset: 0),
            .init(kind: .context, lazyBatches: true, payloadSize: 64, payloadDataOffset: 0),
            .init(kind: .context, payloadSize: 64, payloadDataOffset: 4),
            .init(kind: .context, payloadSize: 64, payloadDataOffset: 56),
            .init(kind: .context, payloadSize: 64, payloadDataOffset: -8),
            .init(kind: .context, payloadSize: 0, payloadDataOffset: 0),
        ]
        for configuration in refused {
            #expect(throws: StubPoolError.self, "\(configuration)") { _ = try StubPool(configuration) }
        }
        let pool = try StubPool(.init(kind: .context, payloadSize: 16, payloadDataOffset: 0))
        _ = try pool.allocate(target: CTargets.weighted3, context: 1)
        #expect(throws: StubImageError.payloadDataSlots(pool: 0)) { _ = try StubImage.snapshot(pools: [.init(pool)]) }
    }
}
