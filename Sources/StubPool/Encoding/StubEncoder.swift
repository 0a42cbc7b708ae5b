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
/// What a stub of each kind is made of is said once, in ``code(_:layout:)``; an encoder supplies
/// its architecture's instruction sequences (``StubAssembling``).
protocol StubEncoder: Sendable {
    associatedtype Assembler: StubAssembling
    var architecture: Architecture { get }
    /// Bytes that trap when executed, repeated to fill unused space (length divides every slot).
    var trapFill: [UInt8] { get }
    /// Largest distance, in bytes, from an instruction to a data word it can reference.
    var dataReach: Int { get }
    /// An empty assembler whose first instruction lies at chunk offset `origin`.
    func assembler(origin: Int) -> Assembler
}

/// The instruction sequences stubs are made of, in one architecture's encoding. Offsets are
/// chunk-relative, as in ``SlotLayout``.
protocol StubAssembling {
    var bytes: [UInt8] { get }
    /// The indirect-branch landing pad (`endbr64`, `bti c`).
    mutating func landingPad()
    /// Jumps through the word at `offset`, writing no register but the branch scratch.
    mutating func jump(through offset: Int)
    /// Calls through the word at `offset` (a released entry: the trap finds the stub through the
    /// return address).
    mutating func call(through offset: Int)
    /// Moves each integer argument register up by one, dropping the last.
    mutating func shiftArgumentsUp()
    /// Loads the target word (in order before the context), the context word into the context
    /// register or the first argument register, and jumps to the target.
    mutating func jump(throughTarget target: Int, context: Int, intoFirstArgument: Bool)
    /// Hands the slot's address to the lazy resolver and jumps through the word at `lazyAnchor`.
    mutating func lazyEntry(slot: Int, lazyAnchor: Int)
}

extension StubEncoder {
    /// The code of one stub of `variant` whose slot and data words lie at `layout`, unpadded:
    /// a landing pad if asked for, the kind's body, and a lazy entry if asked for.
    func code(_ variant: StubVariant, layout: SlotLayout) -> [UInt8] {
        var assembler = assembler(origin: layout.slot)
        if variant.landingPad { assembler.landingPad() }
        switch variant.kind {
        case .forward:
            assembler.jump(through: layout.target)
            // Released entry, itself a branch target: the trap finds the stub through the return
            // address.
            if variant.landingPad { assembler.landingPad() }
            assembler.call(through: layout.anchor)
        case .context:
            assembler.jump(throughTarget: layout.target, context: layout.context, intoFirstArgument: false)
        case .bindFirstArgument:
            assembler.shiftArgumentsUp()
            assembler.jump(throughTarget: layout.target, context: layout.context, intoFirstArgument: true)
        }
        if variant.lazyEntry {
            if variant.landingPad { assembler.landingPad() }
            assembler.lazyEntry(slot: layout.slot, lazyAnchor: layout.lazyAnchor)
        }
        return assembler.bytes
    }

    /// Offset inside the slot of the released entry (which calls the trap through the anchor), for
    /// kinds that trap through the return address; `nil` for the others. It follows the landing
    /// pad and the forwarding jump.
    func releasedEntryOffset(for variant: StubVariant) -> Int? {
        guard variant.kind.releasedTrapSource == .returnAddress else { return nil }
        var assembler = assembler(origin: 0)
        if variant.landingPad { assembler.landingPad() }
        assembler.jump(through: 0)
        return assembler.bytes.count
    }

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
