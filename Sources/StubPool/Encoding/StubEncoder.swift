/// Chunk-relative byte offsets one stub's code refers to.
struct SlotLayout: Sendable, Hashable {
    /// Offset of the stub's first instruction.
    var slot: Int
    /// Offset of the stub's context word in the data region.
    var context: Int
    /// Offset of the stub's target word in the data region.
    var target: Int
    /// Offset of the chunk's anchor word: the address of the released-stub trap.
    var anchor: Int
    /// Offset of the chunk's lazy-resolver word (the anchor slot's second word).
    var lazyAnchor: Int { anchor + ChunkGeometry.targetOffset }

    /// Every offset 0: for measuring code, whose length does not depend on the layout.
    static let origin = SlotLayout(slot: 0, context: 0, target: 0, anchor: 0)
}

/// Produces the machine code of stubs for one architecture.
///
/// Encoders are plain Swift and host-independent: any host can produce any architecture's code.
protocol StubEncoder: Sendable {
    var architecture: Architecture { get }
    /// Bytes that trap when executed, repeated to fill unused space (length divides every slot).
    var trapFill: [UInt8] { get }
    /// Largest distance, in bytes, from an instruction to a data word it can reference.
    var dataReach: Int { get }
    /// The code of one stub of `variant` whose slot and data words lie at `layout`, unpadded.
    func code(_ variant: StubVariant, layout: SlotLayout) -> [UInt8]
    /// Offset inside the slot of the released entry (which calls the trap through the anchor), for
    /// kinds that trap through the return address; `nil` for the others.
    func releasedEntryOffset(for variant: StubVariant) -> Int?
}

extension StubEncoder {
    /// Size of one code slot of `variant`: the stub's code rounded up to a power of two, at
    /// least 16 bytes (the code length does not depend on the layout).
    func slotSize(for variant: StubVariant) -> Int {
        let length = code(variant, layout: .origin).count
        var size = 16
        while size < length { size *= 2 }
        return size
    }

    /// Offset inside the slot of the lazy entry (which passes the slot's address to the lazy
    /// resolver), for variants that have one: it follows the stub's own code (and the released
    /// entry of kinds that have one) for every kind.
    func lazyEntryOffset(for variant: StubVariant) -> Int? {
        guard variant.lazyEntry else { return nil }
        return code(StubVariant(kind: variant.kind, landingPad: variant.landingPad), layout: .origin).count
    }

    /// Exactly `slotSize(for: variant)` bytes: the stub, then trap fill.
    func encodeSlot(_ variant: StubVariant, layout: SlotLayout) -> [UInt8] {
        padded(code(variant, layout: layout), to: slotSize(for: variant))
    }

    /// Fills `count` bytes with the trap pattern.
    func trapBytes(_ count: Int) -> [UInt8] {
        (0..<count).map { trapFill[$0 % trapFill.count] }
    }

    /// Pads `bytes` with trap fill up to `size`, checking that the code fits.
    func padded(_ bytes: [UInt8], to size: Int) -> [UInt8] {
        precondition(bytes.count <= size, "stub code (\(bytes.count) B) exceeds its slot (\(size) B)")
        return bytes + trapBytes(size - bytes.count)
    }
}
