import Testing
@testable import StubPool

/// The bitmaps against a plain set model under seeded random operations.
@Suite struct SlotAllocatorTests {
    @Test(arguments: [1, 63, 64, 65, 4095, 16_383])
    func bitmapMatchesModel(capacity: Int) {
        var random = SplitMix64(seed: UInt64(capacity))
        var bitmap = SlotBitmap(capacity: capacity)
        var used = Set<Int>()
        for _ in 0..<2_000 {
            switch random.next() % 4 {
            case 0:
                let slot = bitmap.takeLowest()
                let expected = (0..<capacity).first { !used.contains($0) }
                #expect(slot == expected)
                if let slot { used.insert(slot) }
            case 1:
                let start = Int(random.next() % UInt64(capacity))
                if let slot = bitmap.take(from: start) {
                    #expect(!used.contains(slot))
                    let expected = (start..<capacity).first { !used.contains($0) } ?? (0..<start).first { !used.contains($0) }
                    #expect(slot == expected)
                    used.insert(slot)
                } else {
                    #expect(used.count == capacity)
                }
            case 2:
                let want = Int(random.next() % 130)
                var got: [Int] = []
                var runs: [(first: Int, length: Int)] = []
                let taken = bitmap.takeLowest(count: want) { (first: Int, length: Int) in
                    runs.append((first, length))
                    got.append(contentsOf: first..<(first + length))
                }
                let expected = Array((0..<capacity).filter { !used.contains($0) }.prefix(want))
                #expect(taken == expected.count && got == expected)
                // Runs are maximal within a word: two runs touch only across a word boundary.
                for (previous, next) in zip(runs, runs.dropFirst()) where previous.first + previous.length == next.first {
                    #expect(next.first % 64 == 0)
                }
                used.formUnion(got)
            default:
                if let slot = used.randomElement(using: &random) {
                    bitmap.put(slot)
                    used.remove(slot)
                }
            }
            #expect(bitmap.freeCount == capacity - used.count)
        }
        for slot in 0..<capacity { #expect(bitmap.isFree(slot) == !used.contains(slot)) }
    }

    @Test func allocatorFillsLowestChunkFirstAndTracksRoom() {
        var allocator = SlotAllocator()
        for _ in 0..<3 { _ = allocator.addChunk(capacity: 100) }
        #expect(allocator.freeSlots == 300)
        var taken: [SlotAddress] = []
        #expect(allocator.allocateLowest(count: 250) { taken.append($0) })
        #expect(taken.first == SlotAddress(chunk: 0, slot: 0) && taken.last == SlotAddress(chunk: 2, slot: 49))
        #expect(!allocator.allocateLowest(count: 51) { _ in Issue.record("all-or-nothing") })
        #expect(allocator.freeSlots == 50)
        allocator.free(SlotAddress(chunk: 1, slot: 7))
        #expect(allocator.allocateLowest() == SlotAddress(chunk: 1, slot: 7))
        #expect(allocator.allocateLowest() == SlotAddress(chunk: 2, slot: 50))
        #expect(allocator.allocate(near: 0) == SlotAddress(chunk: 2, slot: 51), "full chunks are skipped")
        var rest = 0
        _ = allocator.allocateLowest(count: allocator.freeSlots) { _ in rest += 1 }
        #expect(rest == 48 && allocator.allocateLowest() == nil && allocator.allocate(near: 5) == nil)
    }

    /// A range freed a word at a time leaves the bitmap exactly as freeing its slots one by one:
    /// ranges inside a word, across words, ending at a capacity that is not a multiple of 64,
    /// over slots already free (counted once).
    @Test func aRangeFreesWhatItsSlotsOneByOneWould() {
        var generator = SystemRandomNumberGenerator()
        for capacity in [1, 64, 100, 4_095] {
            for _ in 0..<200 {
                var byRange = SlotBitmap(capacity: capacity), bySlot = SlotBitmap(capacity: capacity)
                _ = byRange.takeLowest(count: capacity) { _, _ in }
                _ = bySlot.takeLowest(count: capacity) { _, _ in }
                for _ in 0..<3 {
                    let start = Int.random(in: 0..<capacity, using: &generator)
                    let end = Int.random(in: start...min(capacity, start + 150), using: &generator)
                    var expected = 0
                    for slot in start..<end where !bySlot.isFree(slot) {
                        bySlot.put(slot)
                        expected += 1
                    }
                    #expect(byRange.putRange(start..<end) == expected)
                }
                #expect(byRange.freeCount == bySlot.freeCount)
                for slot in 0..<capacity { #expect(byRange.isFree(slot) == bySlot.isFree(slot)) }
                // The summary agrees too: both hand out the same slots, lowest first.
                var fromRange: [Int] = [], fromSlot: [Int] = []
                _ = byRange.takeLowest(count: capacity) { first, length in fromRange += first..<(first + length) }
                _ = bySlot.takeLowest(count: capacity) { first, length in fromSlot += first..<(first + length) }
                #expect(fromRange == fromSlot)
            }
        }
    }

    /// Reclaim's batch forms: packed addresses (the bits above the packed 56 ignored, chunks
    /// interleaved, groups longer than the stack buffer, a slot listed twice or already free
    /// counted once) and a range of one chunk; the allocator ends with exactly the freed slots.
    @Test func batchFreesCountEachSlotOnce() {
        var allocator = SlotAllocator()
        for _ in 0..<3 { _ = allocator.addChunk(capacity: 3_000) }
        var taken: [SlotAddress] = []
        #expect(allocator.allocateLowest(count: 9_000) { taken.append($0) })
        // 2,500 slots of chunk 1 in a row (beyond the 1,024-slot group), then chunks alternating,
        // a repeat, and a tag in the high byte as the pool's shard would be.
        var words = (0..<2_500).map { SlotAddress(chunk: 1, slot: $0).packed | (3 << 56) }
        for slot in 0..<100 { words += [SlotAddress(chunk: 0, slot: slot).packed, SlotAddress(chunk: 2, slot: slot).packed] }
        words.append(SlotAddress(chunk: 1, slot: 5).packed)
        let freed = words.withUnsafeBufferPointer { allocator.free(packed: $0) }
        #expect(freed == 2_700 && allocator.freeSlots == 2_700)
        #expect(allocator.free(chunk: 2, slots: 50..<2_950) == 2_850, "50 of them were free already")
        #expect(allocator.freeSlots == 5_550)
        var again: [SlotAddress] = []
        _ = allocator.allocateLowest(count: allocator.freeSlots) { again.append($0) }
        let expected = Set((0..<100).map { SlotAddress(chunk: 0, slot: $0) } + (0..<2_500).map { SlotAddress(chunk: 1, slot: $0) }
                           + (0..<2_950).map { SlotAddress(chunk: 2, slot: $0) })
        #expect(Set(again) == expected && again.count == expected.count)
    }
}
