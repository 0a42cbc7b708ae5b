import Synchronization

/// A stub's data slot: context word then target word, read by the stub's code.
///
/// Publishing writes the context first, then the target with a release store, so a thread that
/// runs the stub sees either the old target or the new one, never a torn value.
@usableFromInline
struct DataSlot {
    @usableFromInline let address: UInt

    @inlinable init(address: UInt) { self.address = address }

    @inlinable var contextWord: UnsafeMutablePointer<Atomic<UInt>> {
        // ChunkGeometry.contextOffset (0), as a literal for inlining; never null (a slot address),
        // so unchecked: the null test was two of the inlined retarget's ≈30 instructions.
        UnsafeMutablePointer(bitPattern: address).unsafelyUnwrapped
    }
    @inlinable var targetWord: UnsafeMutablePointer<Atomic<UInt>> {
        UnsafeMutablePointer(bitPattern: address &+ 8).unsafelyUnwrapped  // ChunkGeometry.targetOffset
    }

    @inlinable @inline(__always) func publish(target: UInt, context: UInt) {
        contextWord.pointee.store(context, ordering: .relaxed)
        targetWord.pointee.store(target, ordering: .releasing)
    }

    @inlinable func publish(target: UInt) {
        targetWord.pointee.store(target, ordering: .releasing)
    }

    @inlinable func publish(context: UInt) {
        contextWord.pointee.store(context, ordering: .releasing)
    }

    @inlinable var target: UInt { targetWord.pointee.load(ordering: .acquiring) }
    @inlinable var context: UInt { contextWord.pointee.load(ordering: .acquiring) }

    /// Plain stores for a data region no code can run through yet.
    static func initialize(at address: UnsafeMutableRawPointer, target: UInt, context: UInt) {
        address.storeBytes(of: context, toByteOffset: ChunkGeometry.contextOffset, as: UInt.self)
        address.storeBytes(of: target, toByteOffset: ChunkGeometry.targetOffset, as: UInt.self)
    }
}
