import CTestHelpers
import Testing
@testable import StubPool

/// Payloads: writable bytes beside each stub, found by arithmetic, kept with the slot, mapped
/// read+write with the chunk (the W^X audit covers a payload pool too).
@Suite struct PayloadTests {
    @Test func everyStubHasItsOwnAlignedWritablePayload() throws {
        let pool = try StubPool(.init(kind: .context, shards: 1, payloadSize: 80))
        let stubs = try pool.allocate(count: 20_000, target: CTargets.returnContextRegister)  // two chunks
        var seen = Set<UInt>()
        for (index, stub) in stubs.enumerated() {
            let payload = try pool.payload(of: stub)
            #expect(UInt(bitPattern: payload) % 16 == 0)
            payload.storeBytes(of: UInt64(index), toByteOffset: 72, as: UInt64.self)
            seen.insert(UInt(bitPattern: payload))
        }
        #expect(seen.count == stubs.count, "payloads overlap")
        for (index, stub) in stubs.enumerated() where index % 97 == 0 {
            #expect(try pool.payload(of: stub).load(fromByteOffset: 72, as: UInt64.self) == UInt64(index))
        }
        // Payloads of one chunk are spaced by the payload size, outside the code and data slots.
        #expect(UInt(bitPattern: try pool.payload(of: stubs[1])) - UInt(bitPattern: try pool.payload(of: stubs[0])) == 80)
        for region in pool.mappedRegions() {
            #expect(!region.code.contains(UInt(bitPattern: try pool.payload(of: stubs[0]))))
        }
        let statistics = pool.statistics()
        #expect(statistics.payloadBytesMapped >= statistics.chunks * (pool.layout.geometry.physicalSlots * 80))
        #expect(statistics.mappings == statistics.chunks * 2, "payloads share the data mapping")
    }

    @Test func allocateWithPayloadAndReuseAfterReclaim() throws {
        let pool = try StubPool(.init(kind: .context, shards: 1, payloadSize: 16))
        let (stub, payload) = try pool.allocateWithPayload(target: CTargets.returnContextRegister, context: 3)
        #expect(ct_call0(stub.entry) == 3)
        #expect(try pool.payload(of: stub) == payload)
        payload.storeBytes(of: 0xfeed, as: UInt.self)
        try pool.release(stub)
        #expect(try pool.payload(of: stub) == payload, "the payload stays mapped while the slot is quarantined")
        pool.reclaim()
        var again: [Stub] = []
        // Past what the thread cache still holds from its first refill.
        for _ in 0..<(SlotCache.capacity + 1) { again.append(try pool.allocate(target: CTargets.returnContextRegister)) }
        let reused = try #require(again.first { $0.address == stub.address }, "the slot is handed out again")
        #expect(try pool.payload(of: reused) == payload)
        #expect(payload.load(as: UInt.self) == 0xfeed, "payloads are not cleared on reuse (documented)")
    }

    @Test func badPayloadUseIsATypedError() throws {
        for size in [-16, 8, 24, PoolLayout.maximumPayloadSize + 16] {
            #expect(throws: StubPoolError.self) { try StubPool(.init(payloadSize: size)) }
        }
        let plain = try StubPool(.init(kind: .context))
        let stub = try plain.allocate(target: CTargets.returnContextRegister)
        #expect(throws: StubPoolError.self) { try plain.payload(of: stub) }
        #expect(throws: StubPoolError.self) { try plain.allocateWithPayload(target: CTargets.returnContextRegister) }
        #expect(plain.statistics().liveStubs == 1, "a refused allocateWithPayload allocates nothing")
        let other = try StubPool(.init(kind: .context, payloadSize: 32))
        #expect(throws: StubPoolError.foreignStub(stub)) { try other.payload(of: stub) }
    }
}
