import StubPoolTestSupport
import CTestHelpers
import Testing
@testable import StubPool

@Suite struct CodeArenaTests {
    typealias OneArgument = @convention(c) (Int64) -> Int64

    @Test func sizeClassesAreAtMostAQuarterApart() {
        let sizes = SizeClasses.sizes
        #expect(sizes.first == 16 && sizes.last == 4_096)
        for (small, large) in zip(sizes, sizes.dropFirst()) {
            #expect(large > small && large * 4 <= small * 5, "\(small) → \(large)")
            #expect(large % 4 == 0)
        }
        for size in 1...4_096 {
            let index = SizeClasses.index(for: size)
            #expect(sizes[index] >= size && (index == 0 || sizes[index - 1] < size))
        }
    }

    func bytes(at address: UInt, count: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: address), count: count))
    }

    @Test(arguments: [CodeArena.BlobPlacement.packed, .spread])
    func randomAllocateWriteFreeKeepsInvariants(placement: CodeArena.BlobPlacement) throws {
        let seed = testSeed("arena sequence")
        var random = SplitMix64(seed: seed)
        let arena = CodeArena(placement: placement)
        let trap = Architecture.host.encoder.trapFill
        var live: [CodeBlob: [UInt8]] = [:]
        for step in 0..<1_200 {
            if live.isEmpty || random.next() % 3 != 0 {
                let count = 1 + Int(random.next() % 6)
                let blobs = (0..<count).map { _ -> [UInt8] in
                    let size = random.next() % 10 == 0 ? 4_097 + Int(random.next() % 9_000) : 1 + Int(random.next() % 600)
                    return (0..<size).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                }
                for (blob, content) in zip(try arena.commit(blobs), blobs) { live[blob] = content }
            } else {
                let victim = live.keys.sorted { $0.address < $1.address }[Int(random.next() % UInt64(live.count))]
                try arena.free(victim)
                live.removeValue(forKey: victim)
                // Small and page-granular blobs alike: the space stays mapped (one file, large
                // pieces) and is refilled with trap bytes until it is reused.
                #expect(bytes(at: victim.address, count: victim.capacity).enumerated().allSatisfy { $0.element == trap[$0.offset % trap.count] },
                        "step \(step): freed blob refilled with trap bytes")
            }
            if step % 200 == 0 || step == 1_199 {
                let ranges = live.keys.map { $0.address..<$0.address + UInt($0.capacity) }.sorted { $0.lowerBound < $1.lowerBound }
                #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound <= $1.lowerBound }, "no overlap")
                for (blob, content) in live {
                    #expect(bytes(at: blob.address, count: blob.size) == content)
                    #expect(bytes(at: blob.address + UInt(blob.size), count: blob.capacity - blob.size)
                        .enumerated().allSatisfy { $0.element == trap[($0.offset + blob.size) % trap.count] })
                    #expect(arena.blob(at: blob.address) == blob)
                    #expect(arena.blob(at: blob.address + 1) == nil, "an interior address names no blob")
                }
                let statistics = arena.statistics()
                #expect(statistics.liveBlobs == live.count)
                #expect(statistics.liveBytes == live.keys.reduce(0) { $0 + $1.size })
                #expect(statistics.wastedBytesByClass.values.reduce(0, +) == live.keys.reduce(0) { $0 + $1.capacity - $1.size })
                #expect(statistics.fragmentation >= 0 && statistics.fragmentation < 1)
            }
        }
    }

    @Test func emittedBodiesRunNatively() throws {
        let arena = CodeArena()
        let weighted3 = UInt(bitPattern: CTargets.weighted3)
        let bodies = try [
            CodeEmitter.returnConstant(0x1234_5678_9ABC_DEF0, architecture: .host),
            CodeEmitter.returnConstant(7, architecture: .host),
            CodeEmitter.bindConstants([2, 3], afterArguments: 1, target: weighted3, architecture: .host),
            CodeEmitter.bindConstants([5], afterArguments: 2, target: weighted3, architecture: .host),
        ]
        let blobs = try arena.commit(bodies)
        #expect(ct_call_constant(blobs[0].entry) == 0x1234_5678_9ABC_DEF0)
        #expect(ct_call_constant(blobs[1].entry) == 7)
        #expect(blobs[2].function(as: OneArgument.self)(10) == 10 + 2 * 3 + 3 * 7)
        #expect(ct_call3(blobs[3].entry, 1, 4, 999) == 1 + 4 * 3 + 5 * 7, "the third argument is the constant")
        #expect(arena.statistics().cacheMaintenancePasses == 1)
        try arena.write(CodeEmitter.returnConstant(8, architecture: .host), into: blobs[1], at: 0)
        #expect(ct_call_constant(blobs[1].entry) == 8, "patched through the writable view")
        #expect(throws: CodeEmitter.EmitError.self) {
            try CodeEmitter.bindConstants([1, 2, 3], afterArguments: 4, target: weighted3, architecture: .x86_64)
        }
    }

    /// Large batches take their slots as runs across regions, class by class: batch order must
    /// survive the grouping, holes left by frees must be reused, and every blob must run.
    @Test(arguments: [CodeArena.BlobPlacement.packed, .spread])
    func largeMixedBatchesKeepOrderAndReuseHoles(placement: CodeArena.BlobPlacement) throws {
        let arena = CodeArena(placement: placement)
        let trap = Architecture.host.encoder.trapFill
        // Bodies padded to 3 sizes (3 classes), every 1,000th one page-granular.
        func body(_ value: Int) -> [UInt8] {
            let code = CodeEmitter.returnConstant(UInt64(value), architecture: .host)
            let size = value % 1_000 == 999 ? 5_000 : [code.count, 24, 44][value % 3]
            return code + [UInt8](repeating: trap[0], count: max(0, size - code.count))
        }
        let first = try arena.commit((0..<9_000).map(body))
        #expect(first.enumerated().allSatisfy { ct_call_constant($0.element.entry) == Int64($0.offset) })
        #expect(first.enumerated().allSatisfy { $0.element.size == body($0.offset).count })
        #expect(Set(first.map(\.address)).count == first.count)
        for blob in first.enumerated() where blob.offset % 2 == 0 { try arena.free(blob.element) }
        let before = arena.statistics()
        let second = try arena.commit((0..<4_500).map { body(100_000 + $0) })
        #expect(second.enumerated().allSatisfy { ct_call_constant($0.element.entry) == Int64(100_000 + $0.offset) })
        let after = arena.statistics()
        let secondLarge = second.filter { $0.size > 4_096 }.count
        #expect(secondLarge == 4)
        #expect(after.regions == before.regions + secondLarge, "the freed holes take the small blobs: no new size-class region")
        #expect(after.liveBlobs == 9_000 && after.liveBytes == before.liveBytes + second.reduce(0) { $0 + $1.size })
        for blob in first.enumerated() where blob.offset % 2 == 1 {
            #expect(arena.blob(at: blob.element.address) == blob.element)
            #expect(ct_call_constant(blob.element.entry) == Int64(blob.offset))
        }
        for blob in second {
            let tail = bytes(at: blob.address + UInt(blob.size), count: blob.capacity - blob.size)
            #expect(tail.enumerated().allSatisfy { $0.element == trap[($0.offset + blob.size) % trap.count] })
        }
    }

    @Test func oneCacheMaintenancePassPerCommit() throws {
        let arena = CodeArena()
        let bodies = (0..<1_000).map { CodeEmitter.returnConstant(UInt64($0), architecture: .host) }
        let blobs = try arena.commit(bodies)
        #expect(arena.statistics().cacheMaintenancePasses == 1 && arena.statistics().commits == 1)
        #expect(blobs.enumerated().allSatisfy { ct_call_constant($0.element.entry) == Int64($0.offset) })
        let statistics = arena.statistics()
        #expect(statistics.regions == 1, "1,000 blobs of one class share one 64 KiB region")
        #expect(statistics.mappings == 2)
    }

    @Test func batchWriteIsAllOrNothingWithOnePass() throws {
        let arena = CodeArena()
        let blobs = try arena.commit((0..<100).map { CodeEmitter.returnConstant(UInt64($0), architecture: .host) })
        let patches = blobs.enumerated().map {
            CodePatch(blob: $0.element, offset: 0, bytes: CodeEmitter.returnConstant(UInt64(1_000 + $0.offset), architecture: .host))
        }
        // One bad patch at the end: nothing is written.
        let tooFar = CodePatch(blob: blobs[0], offset: blobs[0].size, bytes: [0x90])
        #expect(throws: CodeArenaError.outOfBounds(offset: blobs[0].size, count: 1, size: blobs[0].size)) {
            try arena.write(patches + [tooFar])
        }
        #expect(blobs.enumerated().allSatisfy { ct_call_constant($0.element.entry) == Int64($0.offset) })
        let passes = arena.statistics().cacheMaintenancePasses
        try arena.write(patches)
        #expect(arena.statistics().cacheMaintenancePasses == passes + 1)
        #expect(blobs.enumerated().allSatisfy { ct_call_constant($0.element.entry) == Int64(1_000 + $0.offset) })
    }

    @Test func neverWritableAndExecutable() throws {
        let arena = CodeArena()
        _ = try arena.commit([CodeEmitter.returnConstant(1, architecture: .host), [UInt8](repeating: 0xC3, count: 20_000)])
        let blobs = try arena.commit([[UInt8](repeating: 0xC3, count: 5_000)])
        let regions = arena.mappedRegions()
        let maps = ProcessMaps.read()
        for region in regions {
            for entry in ProcessMaps.entries(overlapping: [region.executable], in: maps) {
                #expect(entry.permissions == "r-xs", "executable view mapped \(entry.permissions)")
            }
            for entry in ProcessMaps.entries(overlapping: [region.writable], in: maps) {
                #expect(entry.permissions == "rw-s", "writable view mapped \(entry.permissions)")
            }
        }
        #expect(regions.count == 1, "one 64 MiB piece holds both classes' regions and the large blobs")
        #expect(blobs.allSatisfy { regions[0].executable.contains($0.address) })
        let statistics = arena.statistics()
        #expect(statistics.regions == 3 && statistics.mappings == 2 && statistics.fileDescriptors == 1)
    }

    @Test func badInputIsATypedErrorAndChangesNothing() throws {
        let arena = CodeArena()
        let blob = try arena.commit([CodeEmitter.returnConstant(3, architecture: .host)])[0]
        let before = arena.statistics()
        #expect(throws: CodeArenaError.emptyBatch) { try arena.commit([[UInt8]]()) }
        #expect(throws: CodeArenaError.emptyBlob(index: 1)) { try arena.commit([[0xC3], []]) }
        #expect(throws: CodeArenaError.blobTooLarge(index: 0, size: CodeArena.maximumBlobSize + 1)) {
            try arena.commit([[UInt8](repeating: 0xCC, count: CodeArena.maximumBlobSize + 1)])
        }
        #expect(throws: CodeArenaError.notLive(blob.address + 1)) { try arena.free(address: blob.address + 1) }
        #expect(throws: CodeArenaError.outOfBounds(offset: blob.size - 1, count: 2, size: blob.size)) {
            try arena.write([0x90, 0x90], into: blob, at: blob.size - 1)
        }
        let other = CodeArena()
        #expect(throws: CodeArenaError.self) { try other.free(blob) }
        #expect(arena.statistics() == before)
        #expect(ct_call_constant(blob.entry) == 3)
        try arena.free(blob)
        #expect(throws: CodeArenaError.notLive(blob.address)) { try arena.free(blob) }
    }

    @Test func staggeredPlacementSpreadsFirstBlobsOverPagesAndLines() throws {
        let arena = CodeArena(placement: .spread)
        let blobs = try arena.commit((0..<8).map { CodeEmitter.returnConstant(UInt64($0), architecture: .host) })
        let page = UInt(Kernel.pageSize)
        let base = blobs[0].address / page * page
        for (index, blob) in blobs.enumerated() {
            #expect((blob.address - base) / page == UInt(index), "blob \(index) on its own page")
            #expect(blob.address % page == UInt(index * 64 % Kernel.pageSize), "line offset advances one line per page")
        }
        #expect(blobs.enumerated().allSatisfy { ct_call_constant($0.element.entry) == Int64($0.offset) })
    }

    @Test func lazyBatchEmitsItsBodiesInOneCommit() throws {
        let arena = CodeArena()
        let pool = try StubPool(.init(kind: .context, lazyBatches: true))
        let lazy = try pool.lazyStubs(of: UInt64.self) { requests in
            // Every body of the batch in one commit: one cache-maintenance pass.
            let blobs = try arena.commit(requests.map { CodeEmitter.returnConstant($0.spec * 3, architecture: .host) })
            return blobs.map { LazyResolution(targetAddress: $0.address, context: 0) }
        }
        let stubs = try lazy.request((0..<10_000).map { UInt64($0) })
        #expect(arena.statistics().commits == 0)
        #expect(ct_call_constant(stubs[9_999].entry) == 29_997)
        #expect(arena.statistics().commits == 1 && arena.statistics().cacheMaintenancePasses == 1)
        #expect(arena.statistics().liveBlobs == 10_000)
        #expect(stubs.enumerated().allSatisfy { ct_call_constant($0.element.entry) == Int64($0.offset) * 3 })
        #expect(lazy.statistics().batches == 1)
    }
}

/// Freeing many blobs in one call (``CodeArena/free(_:)-([CodeBlob])``).
@Suite struct CodeArenaBatchFreeTests {
    @Test func aBatchFreeIsAllOrNothing() throws {
        let arena = CodeArena()
        let sizes = [16, 16, 48, 16, 5_000, 32, 16]  // small classes and one page-granular blob
        let blobs = try arena.commit(sizes.map { [UInt8](repeating: 0x90, count: $0) })
        let stranger = try CodeArena().commit([[0xC3]])[0]
        #expect(throws: CodeArenaError.notLive(stranger.address)) { try arena.free(blobs + [stranger]) }
        #expect(throws: CodeArenaError.notLive(blobs[2].address)) { try arena.free(blobs + [blobs[2]]) }
        #expect(arena.statistics().liveBlobs == sizes.count, "a refused batch frees nothing")
        #expect(blobs.allSatisfy { arena.blob(at: $0.address) == $0 })
        try arena.free(blobs.reversed())
        #expect(arena.statistics().liveBlobs == 0)
        #expect(arena.statistics().liveBytes == 0)
        for blob in blobs {
            let bytes = UnsafeRawBufferPointer(start: blob.entry, count: blob.capacity)
            #expect(Array(bytes) == Architecture.host.trapBytes(blob.capacity), "trap fill over \(blob)")
        }
        // Every slot is reusable: the same shapes land at the same addresses.
        let again = try arena.commit(sizes.map { [UInt8](repeating: 0x90, count: $0) })
        #expect(Set(again.filter { $0.size != 5_000 }.map(\.address)) == Set(blobs.filter { $0.size != 5_000 }.map(\.address)))
        try arena.free([])
    }
}
