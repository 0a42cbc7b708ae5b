import CStubPoolShim
import Synchronization

/// A value behind a small lock built on `Atomic`, known to the fork handlers
/// (``ForkAwareLock``).
///
/// Measured on the 2-vCPU development VM, an uncontended `Mutex.withLock` costs ≈40 ns (its
/// Linux implementation looks up the thread id on every acquisition) against ≈2.5 ns here, and
/// allocation sits on this path. By default a waiter spins briefly, then yields the CPU (critical
/// sections of a few bitmap operations); locks around system calls or long copies are made with
/// `waiting: .block`, whose waiters sleep on a futex instead.
final class Locked<Value>: ForkAwareLock, @unchecked Sendable {
    private let storage: UnsafeMutablePointer<Value>
    /// Run in a forked child with exclusive access (see ``ForkAwareLock/repairInChild()``).
    private let childRepair: ((inout Value) -> Void)?

    init(_ value: consuming Value, rank: LockRank = .leaf, waiting: Waiting = .spin,
         repairInChild: ((inout Value) -> Void)? = nil) {
        storage = .allocate(capacity: 1)
        storage.initialize(to: value)
        childRepair = repairInChild
        super.init(rank: rank, waiting: waiting)
    }

    deinit {
        // Out of the fork handlers' set before the value goes: a forked child never repairs it.
        unregister()
        storage.deinitialize(count: 1)
        storage.deallocate()
    }

    override func repairInChild() {
        guard let childRepair else { return }
        withLock { childRepair(&$0) }
    }

    /// Runs `body` with exclusive access to the value.
    @inline(__always)
    func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        lock()
        defer { unlock() }
        return try body(&storage.pointee)
    }
}
