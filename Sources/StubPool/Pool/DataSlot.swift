import Synchronization

/// A stub's data slot: context word then target word, read by the stub's code.
///
/// Publishing writes the context first, then the target with a release store, so a thread that
/// runs the stub sees either the old target or the new one, never a torn value.
struct DataSlot {
    let address: UInt

    private var contextWord: UnsafeMutablePointer<Atomic<UInt>> {
        UnsafeMutablePointer(bitPattern: address + UInt(ChunkGeometry.contextOffset))!
    }
    private var targetWord: UnsafeMutablePointer<Atomic<UInt>> {
        UnsafeMutablePointer(bitPattern: address + UInt(ChunkGeometry.targetOffset))!
    }

    func publish(target: UInt, context: UInt) {
        contextWord.pointee.store(context, ordering: .relaxed)
        targetWord.pointee.store(target, ordering: .releasing)
    }

    func publish(target: UInt) {
        targetWord.pointee.store(target, ordering: .releasing)
    }

    func publish(context: UInt) {
        contextWord.pointee.store(context, ordering: .releasing)
    }

    /// Replaces the target `expected` by `desired` unless another thread changed it first.
    func replace(target expected: UInt, with desired: UInt) -> Bool {
        targetWord.pointee.compareExchange(expected: expected, desired: desired, ordering: .acquiringAndReleasing).exchanged
    }

    var target: UInt { targetWord.pointee.load(ordering: .acquiring) }
    var context: UInt { contextWord.pointee.load(ordering: .acquiring) }

    /// Plain stores for a data region no code can run through yet.
    static func initialize(at address: UnsafeMutableRawPointer, target: UInt, context: UInt) {
        address.storeBytes(of: context, toByteOffset: ChunkGeometry.contextOffset, as: UInt.self)
        address.storeBytes(of: target, toByteOffset: ChunkGeometry.targetOffset, as: UInt.self)
    }
}
