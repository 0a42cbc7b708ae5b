import CStubPoolShim

/// Everything fixed about a pool's stubs: variant, geometry, placement, and what a released
/// stub's data slot holds. Also the constants every handle operation checks (token, slot bound,
/// data-slot arithmetic, released target): those are usable from the inlined retarget.
@usableFromInline
struct PoolLayout: Sendable {
    @usableFromInline let token: UInt32
    let variant: StubVariant
    let geometry: ChunkGeometry
    let placement: SlotPlacement
    /// Address the anchor word holds: the trap entry reached through a return address.
    let anchorTrap: UInt
    /// Offset of a lazy-capable context stub's lazy entry inside its slot.
    let lazyEntryOffset: Int?
    /// What the anchor's second word holds: the lazy resolver for lazy-capable pools.
    let anchorLazy: UInt

    /// The largest payload a stub may have.
    static let maximumPayloadSize = 4_096

    /// Bytes of payload per slot, and of one chunk's payload region (after its data region,
    /// 64 KiB-granular like the others; 0 without payloads).
    let payloadSize: UInt
    let payloadRegionSize: Int
    /// `payloadSize` as 2^payloadShift · odd, and the inverse of that odd factor modulo 2^64: a
    /// payload's slot is found by a shift and a multiplication, exact division, with no divide
    /// (a division measured ≈25 cycles of a ≈40 ns closure free). See ``slot(ofPayloadOffset:)``.
    let payloadShift: UInt
    let payloadOddInverse: UInt

    init(token: UInt32, variant: StubVariant, geometry: ChunkGeometry, placement: Placement, payloadSize: Int = 0,
         data: DataPlacement? = nil, encoder: any StubEncoder) {
        let dataPlacement = data ?? geometry.dataPlacement
        self.dataInPayloads = data != nil
        self.dataStart = UInt(dataPlacement.start)
        self.dataStride = UInt(dataPlacement.stride)
        self.payloadSize = UInt(payloadSize)
        let shift = payloadSize > 0 ? UInt(payloadSize.trailingZeroBitCount) : 0
        self.payloadShift = shift
        self.payloadOddInverse = Self.inverse(ofOdd: payloadSize > 0 ? UInt(payloadSize) >> shift : 1)
        let granule = ChunkGeometry.regionGranularity
        self.payloadRegionSize = (geometry.physicalSlots * payloadSize + granule - 1) / granule * granule
        self.token = token
        self.variant = variant
        self.geometry = geometry
        self.placement = SlotPlacement(placement: placement, geometry: geometry)
        self.capacity = self.placement.capacity
        self.slotShift = UInt(geometry.slotSize.trailingZeroBitCount)
        self.anchorSlotIndex = UInt32(geometry.anchorSlot)
        switch placement {
        case .packed, .random: self.denseSlots = true
        case .pageStart, .staggered: self.denseSlots = false
        }
        let releasedEntryOffset = encoder.releasedEntryOffset(for: variant)
        let releasedTrap = Self.trapEntry(variant.kind.releasedTrapSource)
        self.releasedEntryMask = releasedEntryOffset != nil ? .max : 0
        self.releasedTargetValue = releasedEntryOffset.map { UInt($0) } ?? releasedTrap
        self.anchorTrap = Self.trapEntry(.returnAddress)
        self.lazyEntryOffset = encoder.lazyEntryOffset(for: variant)
        self.anchorLazy = variant.lazyEntry ? Self.lazyResolverEntry(variant.kind) : anchorTrap
    }

    /// The target of a pending lazy stub: its own lazy entry.
    func lazyEntry(of entry: UInt) -> UInt? { lazyEntryOffset.map { entry + UInt($0) } }

    /// The shim's lazy resolver for stubs of `kind` (0 on a host without one): each continues the
    /// call with the context in the register the kind carries it in.
    static func lazyResolverEntry(_ kind: StubKind) -> UInt {
        UInt(stubpool_lazy_resolver_entry(stubpool_lazy_context_t(rawValue: kind.releasedTrapSource.rawValue)))
    }

    /// The shim's released-stub trap entry for stubs whose context is carried as `source` says.
    static func trapEntry(_ source: ReleasedTrapSource) -> UInt {
        UInt(stubpool_released_trap_entry(stubpool_trap_source_t(rawValue: source.rawValue)))
    }

    /// Logical slots per chunk.
    let capacity: Int
    /// log2 of the slot size: the handle arithmetic's constant.
    @usableFromInline let slotShift: UInt
    /// Physical slots below this index are stub slots (the anchor sits at it).
    @usableFromInline let anchorSlotIndex: UInt32
    /// Every physical slot but the anchor is a logical slot (packed and random placements).
    let denseSlots: Bool
    /// A released stub's target: `(entry & releasedEntryMask) + releasedTargetValue` — the entry
    /// plus an offset (forward stubs: mask all ones) or the value itself (mask 0), precomputed
    /// for the checks on every operation (a mask rather than a flag: no branch or select on the
    /// inlined retarget path).
    @usableFromInline let releasedEntryMask: UInt
    @usableFromInline let releasedTargetValue: UInt
    /// Where physical slot `i`'s data slot lies: `dataStart + i · dataStride` from the chunk's
    /// base (the data region, 16 bytes apart; or inside the payloads).
    @usableFromInline let dataStart: UInt
    @usableFromInline let dataStride: UInt
    /// Whether the data slots live in the payloads (see ``StubPool/Configuration/payloadDataOffset``).
    let dataInPayloads: Bool

    /// The handle of logical slot `logical` in the chunk at `base`.
    @inline(__always)
    func stub(base: UInt, logical: Int) -> Stub {
        let physical = placement.physical(logical)
        return Stub(address: base + UInt(physical * geometry.slotSize), poolToken: token, slot: UInt32(physical))
    }

    /// Whether `stub` is a handle of this pool (token and slot bound); says nothing of liveness.
    @inlinable @inline(__always)
    func owns(_ stub: Stub) -> Bool { stub.poolToken == token && stub.slot < anchorSlotIndex }

    /// The data slot of `stub` (whose ownership was checked), by arithmetic alone.
    @inlinable @inline(__always)
    func dataSlot(of stub: Stub) -> UInt {
        let physical = UInt(stub.slot)
        return dataSlot(physical: physical, chunkBase: stub.address &- (physical &<< slotShift))
    }

    /// The data slot of physical slot `physical` of the chunk at `chunkBase`: the one rule.
    @inlinable @inline(__always)
    func dataSlot(physical: UInt, chunkBase: UInt) -> UInt {
        chunkBase &+ dataStart &+ physical &* dataStride
    }

    /// The physical slot whose payload starts `offset` bytes into a chunk's payload region, or nil
    /// if no payload starts there. Exact division: for `offset` = 2^shift · x, x · inverse(odd)
    /// mod 2^64 is x / odd when odd divides x, and larger than 2^64 / odd otherwise, so one bound
    /// check rejects both a misaligned offset and one past the last slot.
    @inline(__always)
    func slot(ofPayloadOffset offset: UInt) -> UInt? {
        guard payloadSize > 0, offset & ((1 &<< payloadShift) &- 1) == 0 else { return nil }
        let physical = (offset &>> payloadShift) &* payloadOddInverse
        return physical < UInt(anchorSlotIndex) ? physical : nil  // the anchor has no stub
    }

    /// Logical slot and data slot of physical slot `physical` (below the anchor) of the chunk at
    /// `chunkBase`, if this placement hands it out.
    @inline(__always)
    func handedOut(physical: UInt, chunkBase: UInt) -> (logical: Int, dataSlot: UInt)? {
        let data = dataSlot(physical: physical, chunkBase: chunkBase)
        if denseSlots { return (Int(truncatingIfNeeded: physical), data) }
        guard let logical = placement.logical(Int(physical)) else { return nil }
        return (logical, data)
    }

    /// The slot of the chunk at `chunkBase`, whose payloads span `payloadRange`, whose payload
    /// begins exactly at `address` (its entry, physical and logical slot and data slot), if this
    /// placement hands that slot out; computed from the address alone. A loop over many payloads
    /// calls it on its own copy of the layout, whose fields then stay in registers.
    @inline(__always)
    func slot(ofPayload address: UInt, chunkBase: UInt, payloadRange: Range<UInt>) -> (entry: UInt, physical: UInt, logical: Int, dataSlot: UInt)? {
        // The payload offset's check rejects the anchor's payload and anything past the last.
        guard payloadRange.contains(address),
              let physical = slot(ofPayloadOffset: address &- payloadRange.lowerBound),
              let slot = handedOut(physical: physical, chunkBase: chunkBase) else { return nil }
        return (chunkBase &+ (physical &<< slotShift), physical, slot.logical, slot.dataSlot)
    }

    /// The inverse of odd `value` modulo 2^64 (Newton's iteration: each step doubles the
    /// correct low bits, from 3 bits for `value` itself).
    static func inverse(ofOdd value: UInt) -> UInt {
        var inverse = value
        for _ in 0..<5 { inverse = inverse &* (2 &- value &* inverse) }
        return inverse
    }

    /// The payload of `stub` (whose ownership was checked), by arithmetic alone.
    @inline(__always)
    func payload(of stub: Stub) -> UInt {
        let physical = UInt(stub.slot)
        return stub.address &- (physical &<< slotShift) &+ UInt(geometry.chunkSize) &+ physical &* payloadSize
    }

    /// Runs `body` on every stub of `stubs` (its index in the range, its entry and its data
    /// slot), in order, by arithmetic: a run is one chunk's, so its data slots are evenly spaced.
    @inline(__always)
    func forEachDataSlot(of stubs: StubRange, _ body: (_ index: Int, _ entry: UInt, _ data: DataSlot) -> Void) {
        let dataStride = UInt(stubs.slotStride) &* self.dataStride
        for run in stubs.runs {
            var data = dataSlot(of: stubs.stub(0, of: run))
            var entry = run.first
            for position in 0..<run.count {
                body(run.offset &+ position, entry, DataSlot(address: data))
                data &+= dataStride
                entry &+= stubs.stride
            }
        }
    }

    /// The (target, context) a released or never-allocated stub at `entry` holds: the stub then
    /// reaches the trap, which can tell which stub it was.
    /// (From the precomputed constants: the trap of a stub found through its return address is
    /// the slot's own released entry; the others get the trap and their entry as context.)
    @inline(__always)
    func releasedState(entry: UInt) -> (target: UInt, context: UInt) {
        ((entry & releasedEntryMask) &+ releasedTargetValue, entry & ~releasedEntryMask)
    }

    /// Whether a stub whose data slot holds `target` is released or was never handed out: the
    /// released value, or 0 — what a data slot inside a payload reads before its first use (never
    /// a target: ``accepts(target:entry:lowestTarget:)`` wants one at or above the page size).
    @inlinable @inline(__always)
    func isReleased(target: UInt, entry: UInt) -> Bool {
        holdsReleasedValue(target: target, entry: entry) || target == 0
    }

    /// Whether `target` is the value a release writes into the stub at `entry`: ``isReleased(target:entry:)``
    /// for data slots in the data region, which hold it from the chunk's mapping on (never 0).
    /// The inlined retarget's test (two instructions where the test for 0 made it six, ≈10% of a
    /// retarget).
    @inlinable @inline(__always)
    func holdsReleasedValue(target: UInt, entry: UInt) -> Bool {
        target == (entry & releasedEntryMask) &+ releasedTargetValue
    }

    /// Whether `target` may be published into the stub at `entry`: code (at or above
    /// `lowestTarget`, the page size, so never 0) and not the value that marks the stub released.
    @inlinable @inline(__always)
    func accepts(target: UInt, entry: UInt, lowestTarget: UInt) -> Bool {
        target >= lowestTarget && !holdsReleasedValue(target: target, entry: entry)
    }

    /// Writes the data region of a fresh chunk at `base`: released state for every slot this
    /// placement can hand out, the trap address in the anchor.
    func initializeData(_ data: UnsafeMutableRawPointer, chunkBase base: UInt) {
        if dataInPayloads {
            // Fresh payload memory reads as never handed out (target 0): touching it would make
            // every payload page of the chunk resident. A release writes the released state.
        } else if denseSlots {
            // Physical = logical: two stores per slot at running addresses, no per-slot placement
            // switch (bulk allocation of 1M: this loop fell from 17% to ≈5% of the time).
            let slotSize = UInt(geometry.slotSize)
            var entry = base
            for physical in 0..<capacity {
                let state = releasedState(entry: entry)
                DataSlot.initialize(at: data + physical &* ChunkGeometry.dataSlotSize, target: state.target, context: state.context)
                entry &+= slotSize
            }
        } else {
            initializeSparseData(data, chunkBase: base)
        }
        DataSlot.initialize(
            at: data + geometry.anchorSlot * ChunkGeometry.dataSlotSize, target: anchorLazy, context: anchorTrap)
    }

    private func initializeSparseData(_ data: UnsafeMutableRawPointer, chunkBase base: UInt) {
        for logical in 0..<capacity {
            let physical = placement.physical(logical)
            let state = releasedState(entry: base + UInt(physical * geometry.slotSize))
            DataSlot.initialize(
                at: data + physical * ChunkGeometry.dataSlotSize, target: state.target, context: state.context)
        }
    }
}
