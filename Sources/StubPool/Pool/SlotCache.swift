import Synchronization

/// One thread's cache of one pool's slots: the lock-free fast path of allocate and release.
///
/// - Free slots: a stack of entry addresses reserved from a shard in batches (refilled when
///   empty, returned when the thread exits). Only the owning thread touches it.
/// - Released slots: a single-producer ring. The owner pushes; the ring is drained into the pool's
///   quarantine by the owner when full and by `reclaim` — both under the pool's quarantine lock,
///   so there is one consumer at a time. On x86-64 every fast-path access is a plain load or store.
/// - Counters of stubs handed out and released through this cache, written only by the owner
///   (relaxed load + store, no read-modify-write), read by statistics.
@usableFromInline
final class SlotCache: @unchecked Sendable {
    /// Free slots one cache holds at most, and how many a refill takes from a shard.
    static let capacity = 512
    static let refillCount = 256
    /// Released entries the ring holds before the owner drains it (a power of two).
    static let ringCapacity = 256

    let token: UInt32
    /// The pool's shared side (shards, quarantine, directory); kept alive by the cache so that a
    /// thread exiting after its pool can still tell that the pool is gone.
    let shared: PoolShared
    @usableFromInline let slots: UnsafeMutablePointer<Stub>
    // Owner-only; exclusivity is guaranteed by construction (one owning thread, or the
    // directory lock after that thread is gone), so no dynamic checks on the fast path.
    @exclusivity(unchecked) @usableFromInline private(set) var freeCount = 0
    @usableFromInline let allocated = Atomic<Int>(0)
    private let released = Atomic<Int>(0)
    private let ring: UnsafeMutablePointer<UInt>
    private let ringHead = Atomic<Int>(0)
    private let ringTail = Atomic<Int>(0)

    init(token: UInt32, shared: PoolShared) {
        self.token = token
        self.shared = shared
        slots = .allocate(capacity: Self.capacity)
        ring = .allocate(capacity: Self.ringCapacity)
    }

    deinit {
        slots.deallocate()
        ring.deallocate()
    }

    // MARK: Owner side

    /// Takes a cached free slot (inlined into callers of ``StubPool/allocate(target:context:)``).
    @inlinable @inline(__always)
    func pop() -> Stub? {
        let count = freeCount
        guard count > 0 else { return nil }
        freeCount = count &- 1
        allocated.store(allocated.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        return slots[count &- 1]
    }

    /// Lets `fill` append up to `limit` entries after the cached ones; it returns how many it wrote.
    func refill(_ fill: (UnsafeMutablePointer<Stub>, _ limit: Int) -> Int) {
        freeCount += fill(slots + freeCount, Self.capacity - freeCount)
    }

    /// Queues a released entry; false if the ring is full (drain it, then push again).
    @inline(__always)
    func pushReleased(_ entry: UInt) -> Bool {
        let tail = ringTail.load(ordering: .relaxed)
        guard tail &- ringHead.load(ordering: .acquiring) < Self.ringCapacity else { return false }
        ring[tail & (Self.ringCapacity - 1)] = entry
        ringTail.store(tail &+ 1, ordering: .releasing)
        released.store(released.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        return true
    }

    /// Hands every cached free slot to `body` and empties the stack (owner, or the directory
    /// after the owner exited).
    func takeFreeSlots(_ body: (UInt) -> Void) {
        for index in 0..<freeCount { body(slots[index].address) }
        freeCount = 0
    }

    // MARK: Any thread

    /// Moves every queued released entry into `quarantine` (at most two copies: the ring may
    /// wrap). Caller holds the pool's quarantine lock.
    func drainReleased(into quarantine: inout PoolShared.Quarantine) {
        let head = ringHead.load(ordering: .relaxed)
        let tail = ringTail.load(ordering: .acquiring)
        let mask = Self.ringCapacity - 1
        var index = head
        while index != tail {
            let run = min(tail &- index, Self.ringCapacity - (index & mask))
            quarantine.add(contentsOf: UnsafeBufferPointer(start: ring + (index & mask), count: run))
            index &+= run
        }
        ringHead.store(tail, ordering: .releasing)
    }

    /// Released entries queued and not yet drained.
    var queuedReleases: Int { ringTail.load(ordering: .acquiring) &- ringHead.load(ordering: .acquiring) }
    /// Stubs handed out through this cache.
    var allocatedCount: Int { allocated.load(ordering: .relaxed) }
    /// Stubs released through this cache.
    var releasedCount: Int { released.load(ordering: .relaxed) }
}
