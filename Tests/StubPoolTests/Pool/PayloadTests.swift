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
            #expect(!region.executable.contains(UInt(bitPattern: try pool.payload(of: stubs[0]))))
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

    /// Payload sizes that are not powers of two (a 56-byte `ffi_closure`): found by exact division
    /// (a shift and a multiplication), which must agree with plain division everywhere.
    @Test func payloadLookupByExactDivisionAgreesWithDivision() throws {
        var random = SplitMix64(seed: 56)
        for size in stride(from: 8, through: PoolLayout.maximumPayloadSize, by: 8) {
            let pool = try StubPool(.init(kind: .context, shards: 1, payloadSize: size))
            let layout = pool.layout
            let slots = UInt(layout.anchorSlotIndex)
            let region = UInt(layout.payloadRegionSize)
            var offsets: [UInt] = [0, UInt(size), UInt(size) - 8, UInt(size) + 8, (slots - 1) * UInt(size), slots * UInt(size), region - 8]
            for _ in 0..<200 { offsets.append(UInt(random.next() % UInt64(region)) & ~7) }
            for _ in 0..<50 { offsets.append(UInt(random.next() % UInt64(slots)) * UInt(size)) }
            for offset in offsets {
                let expected: UInt? = offset % UInt(size) == 0 && offset / UInt(size) < slots ? offset / UInt(size) : nil
                #expect(layout.slot(ofPayloadOffset: offset) == expected, "size \(size), offset \(offset)")
            }
        }
    }

    @Test func closureSizedPayloadsAreEightByteAlignedAndOwnedExactly() throws {
        let pool = try StubPool(.init(kind: .context, shards: 1, payloadSize: 56))
        let stubs = try pool.allocate(count: 20_000, target: CTargets.returnContextRegister)  // two chunks
        for stub in stubs {
            let payload = UInt(bitPattern: try pool.payload(of: stub))
            #expect(payload % 8 == 0)
            #expect(pool.stub(payload: payload) == stub)
            #expect(pool.stub(payload: payload + 8) == nil && pool.stub(payload: payload &- 8) == nil)
        }
        try pool.release(payload: UInt(bitPattern: try pool.payload(of: stubs[7])))
        #expect(throws: StubPoolError.released(id: stubs[7].id)) { try pool.release(stubs[7]) }
        #expect(throws: StubPoolError.foreignAddress(1)) { try pool.release(payload: 1) }
        let (closure, record) = try pool.allocateClosure(target: CTargets.returnContextRegister)
        #expect(ct_call0(closure.entry) == UInt64(UInt(bitPattern: record)), "a closure's context is its payload")
        #expect(try pool.payload(of: closure) == record)
    }

    @Test func closuresInABatchMatchSingleClosures() throws {
        // Payload data slots (the drop-in's first class) and data slots beside the code.
        for dataOffset in [nil, 40] as [Int?] {
            let pool = try StubPool(.init(kind: .context, shards: 1, payloadSize: 56, payloadDataOffset: dataOffset))
            let count = pool.layout.capacity + 100  // two chunks: two runs
            var stubs = [UnsafeMutableRawPointer?](repeating: nil, count: count), payloads = stubs
            try stubs.withUnsafeMutableBufferPointer { stubs in
                try payloads.withUnsafeMutableBufferPointer { payloads in
                    try pool.allocateClosures(target: CTargets.returnContextRegister, stubs: stubs, payloads: payloads)
                }
            }
            #expect(Set(stubs).count == count)
            for (stub, payload) in zip(stubs, payloads) {
                let found = try pool.stub(entry: UInt(bitPattern: stub))
                #expect(try pool.payload(of: found) == payload)
                #expect(ct_call0(found.entry) == UInt64(UInt(bitPattern: payload)), "a closure's context is its payload")
            }
            #expect(pool.statistics().liveStubs == count)
            // Mismatched or empty buffers: a typed error, nothing allocated.
            var one: [UnsafeMutableRawPointer?] = [nil], two: [UnsafeMutableRawPointer?] = [nil, nil]
            #expect(throws: StubPoolError.self) {
                try one.withUnsafeMutableBufferPointer { one in
                    try two.withUnsafeMutableBufferPointer { two in
                        try pool.allocateClosures(target: CTargets.returnContextRegister, stubs: one, payloads: two)
                    }
                }
            }
            #expect(throws: StubPoolError.invalidCount(0)) {
                try pool.allocateClosures(target: CTargets.returnContextRegister, stubs: .init(start: nil, count: 0),
                                          payloads: .init(start: nil, count: 0))
            }
            #expect(pool.statistics().liveStubs == count)
        }
    }

    @Test func releaseEachReleasesItsOwnPayloadsAndSaysWhatItDidWithTheRest() throws {
        let pool = try StubPool(.init(kind: .context, shards: 1, payloadSize: 56, payloadDataOffset: 40))
        let other = try StubPool(.init(kind: .context, shards: 1, payloadSize: 56))
        var closures: [UInt] = []
        for _ in 0..<6 { closures.append(UInt(bitPattern: try pool.allocateClosure(target: CTargets.returnContextRegister).payload)) }
        let foreign = UInt(bitPattern: try other.allocateClosure(target: CTargets.returnContextRegister).payload)
        try pool.release(payload: closures[5])
        // Own, foreign (another pool's payload, a misaligned one, 1), released: each said apart.
        let payloads = [closures[0], foreign, closures[1], closures[2] + 8, 1, closures[5], closures[3], closures[1]]
        var outcomes = [StubPool.PayloadReleaseOutcome](repeating: .foreign, count: payloads.count)
        try payloads.withUnsafeBufferPointer { payloads in
            try outcomes.withUnsafeMutableBufferPointer { try pool.releaseEach(payloads: payloads, outcomes: $0) }
        }
        #expect(outcomes == [.released, .foreign, .released, .foreign, .foreign, .alreadyReleased, .released, .alreadyReleased])
        for payload in [closures[0], closures[1], closures[3], closures[5]] {
            #expect(throws: StubPoolError.self) { try pool.release(payload: payload) }
        }
        try pool.release(payload: closures[2])  // untouched by its misaligned neighbour
        try pool.release(payload: closures[4])
        #expect(pool.statistics().liveStubs == 0)
        #expect(other.statistics().liveStubs == 1, "another pool's payload changes nothing")
        #expect(pool.reclaim() == 6, "each slot quarantined once")
        // Mismatched or empty buffers: a typed error, nothing released.
        var one: [StubPool.PayloadReleaseOutcome] = [.foreign]
        #expect(throws: StubPoolError.self) {
            try [foreign, foreign].withUnsafeBufferPointer { payloads in
                try one.withUnsafeMutableBufferPointer { try other.releaseEach(payloads: payloads, outcomes: $0) }
            }
        }
        #expect(throws: StubPoolError.invalidCount(0)) {
            try other.releaseEach(payloads: .init(start: nil, count: 0), outcomes: .init(start: nil, count: 0))
        }
        #expect(other.statistics().liveStubs == 1)
    }

    @Test func releaseEachFollowsPayloadsAcrossChunks() throws {
        let pool = try StubPool(.init(kind: .context, shards: 1, payloadSize: 56, payloadDataOffset: 16))
        let count = pool.layout.capacity + 10  // two chunks
        var stubs = [UnsafeMutableRawPointer?](repeating: nil, count: count), closures = stubs
        try stubs.withUnsafeMutableBufferPointer { stubs in
            try closures.withUnsafeMutableBufferPointer { try pool.allocateClosures(target: CTargets.returnContextRegister, stubs: stubs, payloads: $0) }
        }
        let first = closures.prefix(count - 10).map { UInt(bitPattern: $0) }, second = closures.suffix(10).map { UInt(bitPattern: $0) }
        // Alternating chunks, runs of one chunk, a neighbour's bytes, and everything twice.
        var batch: [UInt] = []
        for index in 0..<10 { batch += [first[index], second[index]] }
        batch += first[10...] + [first[11] + 56 / 2] + first + second
        var outcomes = [StubPool.PayloadReleaseOutcome](repeating: .foreign, count: batch.count)
        try batch.withUnsafeBufferPointer { batch in
            try outcomes.withUnsafeMutableBufferPointer { try pool.releaseEach(payloads: batch, outcomes: $0) }
        }
        let distinct = count + 1
        #expect(outcomes[..<count].allSatisfy { $0 == .released })
        #expect(outcomes[count] == .foreign)
        #expect(outcomes[distinct...].allSatisfy { $0 == .alreadyReleased })
        #expect(pool.statistics().liveStubs == 0)
        for stub in stubs.prefix(3) + stubs.suffix(3) {
            #expect(throws: StubPoolError.self) { try pool.release(address: UInt(bitPattern: stub)) }
        }
        #expect(pool.reclaim() == count)
    }

    @Test func badPayloadUseIsATypedError() throws {
        for size in [-16, 4, 12, 20, PoolLayout.maximumPayloadSize + 8] {
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
