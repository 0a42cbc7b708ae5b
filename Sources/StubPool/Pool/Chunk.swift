import CStubPoolShim
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One mapped chunk of a pool: its mapping, its place in the pool, and address arithmetic.
final class Chunk: Sendable {
    let mapping: Mapping
    let layout: PoolLayout
    /// Pool-wide serial number; stub ids are `serial * capacity + logical slot`.
    let serial: Int
    let shard: Int
    /// Index of the chunk within its shard's allocator (reused after the chunk is returned).
    let index: Int
    /// First byte of the code region, and of the data region (= end of the code region).
    let base: UInt
    let dataStart: UInt
    /// Entry of the anchor slot, never handed out.
    let anchorEntry: UInt
    /// The stubs' payloads (empty without payloads); stored, as every payload lookup checks it.
    let payloadRange: Range<UInt>
    /// The code region's call-frame information, registered with the process's unwinder while
    /// the chunk is in the registry (nil unless ``ProfilingOutputs/unwind`` was on when the chunk
    /// was mapped, or where there is no unwinder to register with).
    let unwind: UnwindRegistration?

    init(mapping: consuming Mapping, layout: PoolLayout, serial: Int, shard: Int, index: Int) {
        let base = mapping.base
        self.mapping = mapping
        self.layout = layout
        self.serial = serial
        self.shard = shard
        self.index = index
        self.base = base
        self.dataStart = base + UInt(layout.geometry.codeSize)
        self.anchorEntry = base + UInt(layout.geometry.anchorSlot * layout.geometry.slotSize)
        let payloadStart = base + UInt(layout.geometry.chunkSize)
        self.payloadRange = payloadStart..<(payloadStart + UInt(layout.payloadRegionSize))
        self.unwind = Profiling.unwindsChunks.load(ordering: .acquiring) ? UnwindRegistration(frameless: base..<dataStart) : nil
    }

    var codeRange: Range<UInt> { base..<dataStart }
    var dataRange: Range<UInt> { codeRange.upperBound..<(base + UInt(layout.geometry.chunkSize)) }

    /// The handle of logical slot `logical`.
    func stub(ofLogical logical: Int) -> Stub {
        layout.stub(base: base, logical: logical)
    }

    /// The logical slot and data slot of the slot whose entry is exactly `entry`, or nil if
    /// `entry` is not the entry of a slot this placement hands out.
    @inline(__always)
    func slot(ofEntry entry: UInt) -> (logical: Int, dataSlot: UInt)? {
        let offset = entry &- base
        let slotShift = layout.slotShift
        guard entry < dataStart, entry >= base, offset & ((1 << slotShift) - 1) == 0, entry != anchorEntry else { return nil }
        return layout.handedOut(physical: offset >> slotShift, chunkBase: base).map { ($0.logical, $0.dataSlot) }
    }

    /// The slot whose payload begins exactly at `address` (its entry, physical and logical slot
    /// and data slot), if this placement hands that slot out; computed from the address alone.
    @inline(__always)
    func slot(ofPayload address: UInt) -> (entry: UInt, physical: UInt, logical: Int, dataSlot: UInt)? {
        layout.slot(ofPayload: address, chunkBase: base, payloadRange: payloadRange)
    }

    /// The logical slot whose code contains `address`, if this placement uses that slot.
    func logicalSlot(containing address: UInt) -> Int? {
        guard codeRange.contains(address) else { return nil }
        return layout.placement.logical(Int(address - base) / layout.geometry.slotSize)
    }
}

/// Process-wide index from code addresses (and payload addresses) to chunks, for O(1) lookups (by
/// address, in the released-stub trap, in the lazy resolver, by the libffi drop-in deciding
/// whether a closure is its own) that take no lock, touch no reference count and read nothing at
/// the address looked up.
///
/// Two two-level radix tables over 64 KiB granules of the address space, one for code regions and
/// one for payload regions: 2^16 leaf pointers each (static storage in the shim), each leaf 2^16
/// chunk pointers (512 KiB of zeroed memory, allocated on first use, never freed; only the pages
/// holding entries become resident). A chunk is entered under every granule its code (and its
/// payload region) touches. No two chunks' code shares a granule: every chunk's code is followed
/// by its data region, at least 64 KiB long; likewise payload regions are preceded by a code and a
/// data region. Addresses at or above 2^48 (AArch64 52-bit address spaces) fall back to a scan of
/// the registered chunks.
///
/// A lookup racing the unregistration of the chunk it finds (its pool being destroyed) is a
/// caller's error, as any use of a pool during its destruction.
enum ChunkRegistry {
    private static let granuleShift: UInt = 16
    private static let levelBits: UInt = 16
    private static let indexedLimit: UInt = 1 << (granuleShift + 2 * levelBits)

    /// Which region of a chunk an index covers.
    enum Region {
        case code, payload

        /// Leaf addresses (0: none yet), in the shim's static storage. Every access is atomic.
        @inline(__always)
        fileprivate var top: UnsafeMutablePointer<Atomic<UInt>> {
            let raw = switch self {
            case .code: stubpool_chunk_index()
            case .payload: stubpool_payload_index()
            }
            return UnsafeMutableRawPointer(raw!).assumingMemoryBound(to: Atomic<UInt>.self)
        }

        fileprivate func range(of chunk: Chunk) -> Range<UInt> {
            switch self {
            case .code: chunk.codeRange
            case .payload: chunk.payloadRange
            }
        }
    }

    /// Every registered chunk, holding it alive while registered; for audits and the fallback.
    private static let registered = Locked<[ObjectIdentifier: Chunk]>([:], rank: .chunkRegistry)

    private static func granules(of range: Range<UInt>) -> ClosedRange<UInt>? {
        guard !range.isEmpty, range.upperBound <= indexedLimit else { return nil }
        return (range.lowerBound >> granuleShift)...((range.upperBound - 1) >> granuleShift)
    }

    /// The table entry of `granule`, creating its leaf if `create`; nil if there is no leaf (or
    /// one could not be allocated).
    @inline(__always)
    private static func entry(ofGranule granule: UInt, in region: Region, create: Bool) -> UnsafeMutablePointer<Atomic<UInt>>? {
        let top = region.top
        let topIndex = Int(granule >> levelBits)
        var leaf = top[topIndex].load(ordering: .acquiring)
        if leaf == 0 {
            guard create, let fresh = calloc(1 << levelBits, MemoryLayout<UInt>.stride) else { return nil }
            let (exchanged, original) = top[topIndex].compareExchange(
                expected: 0, desired: UInt(bitPattern: fresh), ordering: .acquiringAndReleasing)
            if exchanged {
                leaf = UInt(bitPattern: fresh)
            } else {
                free(fresh)
                leaf = original
            }
        }
        return UnsafeMutablePointer<Atomic<UInt>>(bitPattern: leaf)! + Int(granule & ((1 << levelBits) - 1))
    }

    /// Enters `chunk`; false (nothing entered) if the table could not grow.
    static func register(_ chunk: Chunk) -> Bool {
        var entries: [UnsafeMutablePointer<Atomic<UInt>>] = []
        for region in [Region.code, .payload] {
            guard let granules = granules(of: region.range(of: chunk)) else { continue }
            for granule in granules {
                guard let entry = entry(ofGranule: granule, in: region, create: true) else { return false }
                entries.append(entry)
            }
        }
        let raw = UInt(bitPattern: Unmanaged.passUnretained(chunk).toOpaque())
        for entry in entries { entry.pointee.store(raw, ordering: .releasing) }
        registered.withLock { $0[ObjectIdentifier(chunk)] = chunk }
        return true
    }

    static func unregister(_ chunk: Chunk) {
        chunk.unwind?.deregister()
        for region in [Region.code, .payload] {
            guard let granules = granules(of: region.range(of: chunk)) else { continue }
            for granule in granules {
                entry(ofGranule: granule, in: region, create: false)?.pointee.store(0, ordering: .releasing)
            }
        }
        _ = registered.withLock { $0.removeValue(forKey: ObjectIdentifier(chunk)) }
        if Profiling.isActive { Profiling.forget(owner: .chunk(chunk.base)) }
    }

    /// Every live chunk's whole range (code and data), for audits; linear in the chunk count.
    static func liveChunkRanges() -> [Range<UInt>] {
        registered.withLock { table in table.values.map { $0.codeRange.lowerBound..<$0.payloadRange.upperBound } }
    }

    /// Runs `body` on the chunk whose `region` contains `address`, without retaining it.
    @inline(__always)
    static func withChunk<Result>(containing address: UInt, in region: Region = .code, _ body: (Chunk) -> Result?) -> Result? {
        guard address < indexedLimit else {
            return registered.withLock { table in table.values.first { region.range(of: $0).contains(address) } }.flatMap(body)
        }
        guard let entry = entry(ofGranule: address >> granuleShift, in: region, create: false) else { return nil }
        let raw = entry.pointee.load(ordering: .acquiring)
        guard raw != 0 else { return nil }
        return Unmanaged<Chunk>.fromOpaque(UnsafeRawPointer(bitPattern: raw)!)._withUnsafeGuaranteedRef { chunk in
            region.range(of: chunk).contains(address) ? body(chunk) : nil
        }
    }

    /// The chunk whose code region contains `address`.
    static func chunk(containing address: UInt) -> Chunk? {
        withChunk(containing: address) { $0 }
    }
}
