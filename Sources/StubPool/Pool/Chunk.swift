/// One mapped chunk of a pool: its mapping, its place in the pool, and address arithmetic.
final class Chunk: Sendable {
    let mapping: Mapping
    let layout: PoolLayout
    /// Pool-wide serial number; stub ids are `serial * capacity + logical slot`.
    let serial: Int
    let shard: Int
    /// Index of the chunk within its shard's allocator.
    let index: Int

    init(mapping: consuming Mapping, layout: PoolLayout, serial: Int, shard: Int, index: Int) {
        self.mapping = mapping
        self.layout = layout
        self.serial = serial
        self.shard = shard
        self.index = index
    }

    var base: UInt { mapping.base }
    var codeRange: Range<UInt> { base..<(base + UInt(layout.geometry.codeSize)) }
    var dataRange: Range<UInt> { codeRange.upperBound..<(base + UInt(layout.geometry.chunkSize)) }

    /// The handle of logical slot `logical`.
    func stub(ofLogical logical: Int) -> Stub {
        layout.stub(base: base, serial: serial, logical: logical, shard: shard, chunk: index)
    }

    /// The logical slot whose code contains `address`, if this placement uses that slot.
    func logicalSlot(containing address: UInt) -> Int? {
        guard codeRange.contains(address) else { return nil }
        return layout.placement.logical(Int(address - base) / layout.geometry.slotSize)
    }
}

/// Process-wide index from code addresses to chunks, for O(1) lookups and the released-stub trap.
/// Keyed by 64 KiB granule; a chunk is entered under every granule its code touches.
enum ChunkRegistry {
    private static let granuleShift: UInt = 16
    private static let table = Locked<[UInt: [Chunk]]>([:])

    private static func granules(of chunk: Chunk) -> ClosedRange<UInt> {
        (chunk.codeRange.lowerBound >> granuleShift)...((chunk.codeRange.upperBound - 1) >> granuleShift)
    }

    static func register(_ chunk: Chunk) {
        table.withLock { table in
            for granule in granules(of: chunk) { table[granule, default: []].append(chunk) }
        }
    }

    static func unregister(_ chunk: Chunk) {
        table.withLock { table in
            for granule in granules(of: chunk) {
                table[granule]?.removeAll { $0 === chunk }
                if table[granule]?.isEmpty == true { table[granule] = nil }
            }
        }
    }

    /// Every live chunk's whole range (code and data), for audits; linear in the chunk count.
    static func liveChunkRanges() -> [Range<UInt>] {
        table.withLock { table in
            var seen = Set<ObjectIdentifier>()
            return table.values.joined().compactMap { chunk in
                seen.insert(ObjectIdentifier(chunk)).inserted ? chunk.codeRange.lowerBound..<chunk.dataRange.upperBound : nil
            }
        }
    }

    /// The chunk whose code region contains `address`.
    static func chunk(containing address: UInt) -> Chunk? {
        table.withLock { table in
            table[address >> granuleShift]?.first { $0.codeRange.contains(address) }
        }
    }
}

