/// The shape of one chunk: a code region of `codeSize` bytes followed by a data region with one
/// 16-byte data slot (context, then target) per code slot.
///
/// Code slot `i` starts at `i * slotSize`; its data slot at `codeSize + i * 16`. The last code slot
/// is the chunk's anchor: never handed out, its data slot holds the released-stub trap's address.
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

    public let pageSize: Int
    public let slotSize: Int
    public let codeSize: Int
    public let dataSize: Int

    public init(pageSize: Int, slotSize: Int, codeSize: Int = ChunkGeometry.defaultCodeSize) {
        precondition(slotSize > 0 && slotSize & (slotSize - 1) == 0, "slot size must be a power of two")
        precondition(codeSize % pageSize == 0 && codeSize % slotSize == 0, "code size must fill whole pages")
        self.pageSize = pageSize
        self.slotSize = slotSize
        self.codeSize = codeSize
        let rawData = codeSize / slotSize * Self.dataSlotSize
        self.dataSize = (rawData + pageSize - 1) / pageSize * pageSize
    }

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

    func layout(ofSlot slot: Int) -> SlotLayout {
        let data = dataOffset(ofSlot: slot)
        return SlotLayout(
            slot: slot * slotSize,
            context: data + Self.contextOffset,
            target: data + Self.targetOffset,
            anchor: dataOffset(ofSlot: anchorSlot) + Self.contextOffset)
    }
}
