/// The constants an operation on a ``Stub`` handle checks, gathered in one value so that
/// ``StubPool/retarget(_:to:context:)`` can be inlined into the caller: ownership (the pool token
/// and the slot bound), where the data slot is (arithmetic on the handle), whether the stub is
/// released, and whether a new target is acceptable.
@usableFromInline
struct HandleCheck: Sendable {
    @usableFromInline let token: UInt32
    /// Physical slot indices below this are stub slots (the anchor sits at it).
    @usableFromInline let slotLimit: UInt32
    @usableFromInline let slotShift: UInt
    @usableFromInline let codeSize: UInt
    /// A released stub's target is `entry + releasedValue` (forward stubs) or `releasedValue`.
    @usableFromInline let releasedIsRelative: Bool
    @usableFromInline let releasedValue: UInt
    /// Targets below this (the first page) are rejected.
    @usableFromInline let lowestTarget: UInt
    /// The pool has lazy stubs: retargeting must also drop a pending request (slow path).
    @usableFromInline let lazy: Bool

    init(layout: PoolLayout, lowestTarget: UInt, lazy: Bool) {
        token = layout.token
        slotLimit = layout.anchorSlotIndex
        slotShift = layout.slotShift
        codeSize = layout.codeSizeBytes
        releasedIsRelative = layout.releasedTargetIsRelative
        releasedValue = layout.releasedTargetValue
        self.lowestTarget = lowestTarget
        self.lazy = lazy
    }

    /// The data slot of a handle of this pool, or nil for another pool's.
    @inlinable @inline(__always)
    func dataSlot(of stub: Stub) -> DataSlot? {
        guard stub.poolToken == token, stub.slot < slotLimit else { return nil }
        let physical = UInt(stub.slot)
        return DataSlot(address: stub.address &- (physical &<< slotShift) &+ codeSize &+ (physical &<< 4))
    }

    @inlinable @inline(__always)
    func releasedTarget(entry: UInt) -> UInt { releasedIsRelative ? entry &+ releasedValue : releasedValue }

    /// The data slot of a live handle of this pool, or nil.
    @inlinable @inline(__always)
    func liveDataSlot(of stub: Stub) -> DataSlot? {
        guard let slot = dataSlot(of: stub), slot.target != releasedTarget(entry: stub.address) else { return nil }
        return slot
    }

    /// Whether `target` may be published into the stub at `entry`: code (not the first page) and
    /// not the value that marks the stub released.
    @inlinable @inline(__always)
    func accepts(target: UInt, entry: UInt) -> Bool {
        target >= lowestTarget && target != releasedTarget(entry: entry)
    }
}
