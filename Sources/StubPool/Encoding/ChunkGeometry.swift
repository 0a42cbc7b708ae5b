/// The shape of one chunk: a code region of `codeSize` bytes followed by a data region with one
/// 16-byte data slot (context, then target) per code slot.
///
/// Code slot `i` starts at `i * slotSize`; its data slot at `codeSize + i * 16`. The last code slot
/// is the chunk's anchor: never handed out, its data slot holds the released-stub trap's address.
///
/// Both regions are multiples of 64 KiB, the largest page size of either architecture (AArch64
/// kernels run with 4, 16 or 64 KiB pages), so a template built on any host maps unchanged on
/// every kernel. `pageSize` only shapes placements.
public struct ChunkGeometry: Sendable, Hashable {
    /// Bytes of one data slot: context (8) and target (8).
    public static let dataSlotSize = 16
    /// Offset of the context word inside a data slot.
    public static let contextOffset = 0
    /// Offset of the target word inside a data slot.
    public static let targetOffset = 8
    /// Default code-region size: 256 KiB, a multiple of 4, 16 and 64 KiB pages. With 16-byte
    /// slots that is 16,383 stubs per chunk (two mappings), so one million stubs take 124 mappings.
    public static let defaultCodeSize = 256 * 1024
    /// Granularity of the code and data regions: a multiple of every supported page size.
    public static let regionGranularity = 64 * 1024
    /// Page sizes a geometry is valid for.
    public static let supportedPageSizes = [4 * 1024, 16 * 1024, 64 * 1024]
    /// Largest code region: keeps every data word within AArch64's ±1 MiB literal reach of every
    /// instruction that loads it (the anchor lies up to twice the code size away).
    public static let maximumCodeSize = 512 * 1024

    /// The page size placements are laid out for.
    public let pageSize: Int
    /// Bytes of one code slot (a power of two).
    public let slotSize: Int
    /// Bytes of the code region.
    public let codeSize: Int
    /// Bytes of the data region: a data slot per code slot, rounded up to the region granularity.
    public let dataSize: Int

    /// The chunk shape for code slots of `slotSize` bytes in a `codeSize`-byte code region, which
    /// ``problem(pageSize:slotSize:codeSize:)`` found valid (the throwing initializer, in the pool
    /// layer, checks and reports).
    init(valid pageSize: Int, slotSize: Int, codeSize: Int) {
        precondition(Self.problem(pageSize: pageSize, slotSize: slotSize, codeSize: codeSize) == nil)
        self.pageSize = pageSize
        self.slotSize = slotSize
        self.codeSize = codeSize
        let rawData = codeSize / slotSize * Self.dataSlotSize
        let granule = Self.regionGranularity
        self.dataSize = (rawData + granule - 1) / granule * granule
    }

    /// Why no chunk has this shape, or `nil` if one can: the one check of geometries (pools,
    /// templates, arenas and the C API all reach it through ``init(pageSize:slotSize:codeSize:)``).
    static func problem(pageSize: Int, slotSize: Int, codeSize: Int) -> String? {
        guard (16...4096).contains(slotSize), slotSize & (slotSize - 1) == 0 else {
            return "slot size must be a power of two in 16...4096, not \(slotSize)"
        }
        return problem(pageSize: pageSize) ?? problem(codeSize: codeSize, slotSize: slotSize)
    }

    /// Why a geometry cannot be laid out for `pageSize`-byte pages, or `nil` if it can.
    static func problem(pageSize: Int) -> String? {
        supportedPageSizes.contains(pageSize) ? nil : "page size \(pageSize) is not one of \(supportedPageSizes)"
    }

    /// Why `codeSize` cannot hold slots of `slotSize`, or `nil` if it can.
    static func problem(codeSize: Int, slotSize: Int) -> String? {
        guard codeSize > 0, codeSize % regionGranularity == 0, codeSize <= maximumCodeSize else {
            return "code size \(codeSize) must be a positive multiple of \(regionGranularity) bytes (64 KiB), at most \(maximumCodeSize)"
        }
        guard codeSize / slotSize >= 2 else { return "code size \(codeSize) holds fewer than two \(slotSize)-byte slots" }
        return nil
    }

    /// An upper bound of the distance from any stub instruction to any data word it loads: the
    /// offset of the anchor slot's last word, seen from the chunk's first byte.
    var farthestDataReference: Int { dataOffset(ofSlot: anchorSlot) + Self.targetOffset }

    /// Code slots in the code region, the anchor included.
    public var physicalSlots: Int { codeSize / slotSize }
    /// The slot reserved as the chunk's anchor.
    public var anchorSlot: Int { physicalSlots - 1 }
    /// Bytes of address space one chunk spans.
    public var chunkSize: Int { codeSize + dataSize }
    /// Code slots per page.
    public var slotsPerPage: Int { pageSize / slotSize }
    /// Pages of the code region.
    public var codePages: Int { codeSize / pageSize }

    /// Chunk-relative offset of data slot `slot`.
    public func dataOffset(ofSlot slot: Int) -> Int { codeSize + slot * Self.dataSlotSize }

    /// Where the data slots lie: in the data region (the default) or inside the stubs' payloads.
    var dataPlacement: DataPlacement { DataPlacement(start: codeSize, stride: Self.dataSlotSize) }

    /// The data slot of slot `i` at `offset` bytes into its `payloadSize`-byte payload (payloads
    /// follow the data region: ``chunkSize`` + i · payloadSize).
    func dataInPayloads(payloadSize: Int, offset: Int) -> DataPlacement {
        DataPlacement(start: chunkSize + offset, stride: payloadSize)
    }

    /// The farthest data word a stub of any slot loads with `data`, from the chunk's first byte.
    func farthestDataReference(_ data: DataPlacement) -> Int {
        max(farthestDataReference, data.start + (anchorSlot - 1) * data.stride + Self.targetOffset)
    }

    func layout(ofSlot slot: Int, data placement: DataPlacement? = nil) -> SlotLayout {
        let data = (placement ?? dataPlacement).offset(ofSlot: slot)
        return SlotLayout(
            slot: slot * slotSize,
            context: data + Self.contextOffset,
            target: data + Self.targetOffset,
            anchor: dataOffset(ofSlot: anchorSlot) + Self.contextOffset)
    }
}

/// Where each slot's 16-byte data slot (context, then target) lies, chunk-relative: slot `i`'s at
/// `start + i · stride`. The anchor's stays in the data region whatever the placement.
struct DataPlacement: Sendable, Hashable {
    let start: Int
    let stride: Int

    func offset(ofSlot slot: Int) -> Int { start + slot * stride }
}
