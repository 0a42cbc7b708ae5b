import CTestHelpers
import Foundation
import Testing
@testable import StubPool

/// `inspect()` on pools and arenas: every slot and blob accounted for, agreeing with the
/// statistics and with the handles; JSON round trips; text names what it lists.
@Suite struct InspectionTests {
    @Test func poolInspectionAccountsForEverySlot() throws {
        let pool = try StubPool(.init(kind: .context, shards: 1, lazyBatches: true, name: "wasm-entry"))
        let target = CTargets.returnContextRegister
        let singles = try (0..<10).map { try pool.allocate(target: target, context: UInt($0)) }
        let bulk = try pool.allocate(count: 300, target: target, context: 7)
        try pool.setName("wasm-entry:math.add", for: singles[3])
        for stub in singles.suffix(5) { try pool.release(stub) }
        let targetAddress = UInt(bitPattern: target)
        let lazy = try pool.lazyStubs(of: Int.self) { batch in batch.map { _ in LazyResolution(targetAddress: targetAddress, context: 0) } }
        let pending = try lazy.request(Array(0..<20))

        let inspection = pool.inspect()
        let statistics = pool.statistics()
        #expect(inspection.name == "wasm-entry" && inspection.kind == .context && inspection.placement == "packed")
        #expect(inspection.live == statistics.liveStubs - 20, "live: handed out with a target, not counting pending lazy stubs")
        #expect(inspection.pending == 20)
        #expect(inspection.chunks.count == statistics.chunks)
        #expect(inspection.live + inspection.pending + inspection.reserved + inspection.free == statistics.chunks * inspection.slotsPerChunk)
        #expect(inspection.reserved == statistics.cachedSlots + statistics.quarantinedStubs)
        let stubs = Dictionary(uniqueKeysWithValues: inspection.chunks.flatMap(\.stubs).map { ($0.address.value, $0) })
        #expect(stubs.count == 5 + 300 + 20)
        for stub in singles.prefix(5) + Array(bulk) {
            let entry = try #require(stubs[stub.address])
            #expect(entry.id == stub.id && entry.state == .live && entry.target.value == UInt(bitPattern: target))
            #expect(entry.name == pool.name(of: stub))
        }
        #expect(stubs[singles[3].address]?.name == "wasm-entry:math.add" && stubs[singles[0].address]?.name == "wasm-entry#\(singles[0].id)")
        #expect(stubs[singles[2].address]?.context.value == 2 && stubs[bulk[0].address]?.context.value == 7)
        #expect(singles.suffix(5).allSatisfy { stubs[$0.address] == nil }, "released stubs are not listed")
        #expect(pending.allSatisfy { stubs[$0.address]?.state == .pending })

        let json = try JSONEncoder().encode(inspection)
        #expect(try JSONDecoder().decode(PoolInspection.self, from: json) == inspection)
        #expect(String(decoding: json, as: UTF8.self).contains("\"address\":\"0x\(String(bulk[0].address, radix: 16))\""))
        #expect(inspection.description.contains("wasm-entry:math.add") && inspection.description.contains("pending"))
        #expect(pool.debugDescription.contains("\(inspection.live) live, 20 pending") && !pool.debugDescription.contains("math.add"))
        let summary = pool.inspect(includeStubs: false)
        #expect(summary.chunks.allSatisfy { $0.stubs.isEmpty })

        _ = try lazy.materializeAll()
        #expect(pool.inspect().pending == 0 && pool.inspect().live == inspection.live + 20)
    }

    @Test func arenaInspectionListsLiveBlobsWithNames() throws {
        let arena = CodeArena()
        let sizes = [1, 16, 17, 100, 4096, 5000]
        let blobs = try arena.commit(sizes.map { [UInt8](repeating: 0xC3, count: $0) }, names: sizes.map { "body-\($0)" })
        let unnamed = try arena.commit([[0xC3, 0xC3]])
        try arena.free(blobs[2])

        let inspection = arena.inspect()
        let statistics = arena.statistics()
        #expect(inspection.liveBlobs == statistics.liveBlobs && inspection.liveBlobs == sizes.count)
        #expect(inspection.liveBytes == statistics.liveBytes && inspection.mappedBytes == statistics.mappedBytes)
        #expect(inspection.mappings.count * 2 == statistics.mappings)
        #expect(inspection.largeBlobs == 1, "5000 bytes: page-granular")
        let expected = (blobs.enumerated().filter { $0.offset != 2 }.map { ($0.element, "body-\(sizes[$0.offset])") } + [(unnamed[0], nil)])
            .map { ArenaInspection.BlobEntry(address: CodeAddress($0.0.address), size: $0.0.size, capacity: $0.0.capacity,
                                             sizeClass: $0.0.size > 4096 ? nil : $0.0.capacity, name: $0.1) }
        #expect(inspection.blobs == expected.sorted { $0.address < $1.address })
        #expect(inspection.classes.reduce(0) { $0 + $1.liveBlobs } == sizes.count - 1)
        #expect(inspection.classes.allSatisfy { $0.slots - $0.free == $0.liveBlobs }, "no slot reserved without a blob")

        let json = try JSONEncoder().encode(inspection)
        #expect(try JSONDecoder().decode(ArenaInspection.self, from: json) == inspection)
        #expect(inspection.description.contains("body-4096") && !inspection.description.contains("body-17"))
        #expect(arena.debugDescription.contains("\(sizes.count) live blobs"))
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(CodeAddress.self, from: Data("\"7f00\"".utf8)) }
    }
}
