import CStubPoolShim
import Synchronization

/// A pool's lazy side as the pool sees it: the pool layer declares it, the lazy layer above
/// implements it (``LazyStubs``' batcher), and the pool holds the one it is given.
protocol LazyController: AnyObject, Sendable {
    /// Materializes the batch containing the stub at `entry`, whose data slot is at `dataSlot`
    /// (or waits for it), and returns where the call continues.
    func resolve(entry: UInt, dataSlot: UInt) -> stubpool_lazy_continuation_t
    /// Drops `stub` from the pending set: it was retargeted or released by its owner.
    func forget(_ stub: Stub)
    /// Drops every stub of `stubs` from the pending set, under one lock.
    func forget(_ stubs: StubRange)
    /// The pool is going away: no call reaches its stubs any more.
    func poolDidEnd()
}

/// Where a pool keeps its lazy controller: attached at most once, read with one acquiring load
/// (retarget and release in a lazy pool take no lock to find it).
final class LazyControllerSlot: Sendable {
    private final class Box {
        let controller: any LazyController
        init(_ controller: any LazyController) { self.controller = controller }
    }

    /// An `Unmanaged<Box>` (retained), or 0.
    private let box = Atomic<UInt>(0)

    init() {}

    deinit {
        let raw = box.load(ordering: .acquiring)
        if raw != 0 { Unmanaged<Box>.fromOpaque(UnsafeRawPointer(bitPattern: raw)!).release() }
    }

    /// Attaches `controller`; false (nothing changes) if one is attached already.
    func attach(_ controller: any LazyController) -> Bool {
        let raw = UInt(bitPattern: Unmanaged.passRetained(Box(controller)).toOpaque())
        guard box.compareExchange(expected: 0, desired: raw, ordering: .acquiringAndReleasing).exchanged else {
            Unmanaged<Box>.fromOpaque(UnsafeRawPointer(bitPattern: raw)!).release()
            return false
        }
        return true
    }

    /// The attached controller, if any.
    var controller: (any LazyController)? {
        let raw = box.load(ordering: .acquiring)
        guard raw != 0 else { return nil }
        return Unmanaged<Box>.fromOpaque(UnsafeRawPointer(bitPattern: raw)!).takeUnretainedValue().controller
    }
}
