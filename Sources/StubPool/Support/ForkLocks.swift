import CStubPoolShim
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where a lock sits in the order the fork handlers take every lock of the library: a lock that
/// may be held while another is taken comes first. The order, outermost first:
///
/// 1. `lazyBatcher` — a pool's lazy queue (its generator runs outside it);
/// 2. `lazyDispatch` — the lazy controllers by pool token;
/// 3. `poolDirectory` → 4. `poolQuarantine` → 5. `poolShard` — a pool's thread-cache directory,
///    quarantine and shards, nested in that order by reclaim and trim;
/// 6. `poolNames` — stub names;
/// 7. `arena` — a code arena's state;
/// 8. `codeTemplates` — the process-wide template cache;
/// 9. `chunkRegistry` — every mapped chunk;
/// 10. `profiling` — the profiling recorder and the debugger registry (taken inside the others);
/// 11. `leaf` — any other lock, held around no other lock.
///
/// Should a code path nest two locks against this order, the fork handlers still cannot deadlock:
/// they back off and start again (see ``ForkLocks``).
enum LockRank: Int, CaseIterable {
    case lazyBatcher, lazyDispatch, poolDirectory, poolQuarantine, poolShard, poolNames, arena, codeTemplates,
         chunkRegistry, profiling, leaf
}

/// The lock word of every ``Locked`` value, known to the fork handlers.
///
/// fork() copies only the calling thread; a lock another thread held at that instant would stay
/// held forever in the child, and the state it guarded half-updated. So, as glibc does for
/// malloc, the library's `pthread_atfork` handlers take every lock it owns before fork() (in
/// ``LockRank`` order, then creation order), and both parent and child release them afterwards:
/// the child inherits every pool, arena and lazy queue in a consistent state. Then each lock may
/// repair, in the child, what a thread that no longer exists left running there (a lazy batch
/// whose generator ran on another thread goes back to pending, for the child to generate).
///
/// The handlers are installed when the first lock is created: a process that never uses the
/// library pays nothing. Creating and destroying locks takes the registry's mutex; taking and
/// releasing them does not touch the registry.
class ForkAwareLock: @unchecked Sendable {
    let word = Atomic<UInt32>(0)
    let rank: LockRank
    // Links of the rank's registry list, guarded by the registry mutex.
    fileprivate unowned(unsafe) var next: ForkAwareLock?
    fileprivate unowned(unsafe) var previous: ForkAwareLock?

    init(rank: LockRank) {
        self.rank = rank
        ForkLocks.add(self)
    }

    deinit { ForkLocks.remove(self) }

    @inline(__always)
    final func tryLock() -> Bool {
        word.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged
    }

    @inline(__always)
    final func lock() {
        if tryLock() { return }
        lockSlowly()
    }

    @inline(never)
    private final func lockSlowly() {
        var spins = 0
        while true {
            if word.load(ordering: .relaxed) == 0, tryLock() { return }
            spins += 1
            if spins > 64 { stubpool_yield() }
        }
    }

    @inline(__always)
    final func unlock() {
        word.store(0, ordering: .releasing)
    }

    /// Takes the lock unless it stays busy for `attempts` tries (each after a yield).
    fileprivate final func lock(attempts: Int) -> Bool {
        var attempt = 0
        while attempt < attempts {
            if word.load(ordering: .relaxed) == 0, tryLock() { return true }
            if attempt > 64 { stubpool_yield() }
            attempt += 1
        }
        return false
    }

    /// Called in a forked child, lock free again and the child single-threaded: repairs what a
    /// thread that does not exist in the child left in progress.
    func repairInChild() {}
}

/// The registry of every ``ForkAwareLock`` and the `pthread_atfork` handlers that take them all.
enum ForkLocks {
    /// Tries per lock before the prepare handler backs off (releases everything and starts over):
    /// long enough for any critical section that is merely busy, short enough to break a cycle.
    private static let patience = 20_000

    /// Guards the lists and is held from prepare to parent/child.
    nonisolated(unsafe) private static let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        return mutex
    }()

    /// One list per rank (most recently created first); unretained: a lock leaves its list in its
    /// deinit. Raw storage walked with plain loops: the handlers run nothing that could need the
    /// Swift runtime's own locks (generic metadata instantiation), which another thread may have
    /// held at the fork.
    private static let rankCount = LockRank.allCases.count
    nonisolated(unsafe) private static let heads: UnsafeMutablePointer<Unmanaged<ForkAwareLock>?> = {
        let heads = UnsafeMutablePointer<Unmanaged<ForkAwareLock>?>.allocate(capacity: rankCount)
        heads.initialize(repeating: nil, count: rankCount)
        return heads
    }()
    nonisolated(unsafe) private static var handlersInstalled = false

    fileprivate static func add(_ lock: ForkAwareLock) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if !handlersInstalled {
            handlersInstalled = pthread_atfork({ ForkLocks.prepare() }, { ForkLocks.parent() }, { ForkLocks.child() }) == 0
        }
        let rank = lock.rank.rawValue
        let head = heads[rank]?.takeUnretainedValue()
        lock.next = head
        head?.previous = lock
        heads[rank] = Unmanaged.passUnretained(lock)
    }

    fileprivate static func remove(_ lock: ForkAwareLock) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if let previous = lock.previous {
            previous.next = lock.next
        } else {
            heads[lock.rank.rawValue] = lock.next.map { Unmanaged.passUnretained($0) }
        }
        lock.next?.previous = lock.previous
        lock.next = nil
        lock.previous = nil
    }

    /// Every registered lock in fork order, stopping early when `body` returns false.
    private static func forEachInOrder(_ body: (ForkAwareLock) -> Bool) {
        var rank = 0
        while rank < rankCount {
            var lock = heads[rank]?.takeUnretainedValue()
            while let current = lock {
                guard body(current) else { return }
                lock = current.next
            }
            rank += 1
        }
    }

    /// Before fork(): the registry, then every lock in order; if one stays busy (its holder may
    /// be waiting for one already held here, or for the registry), everything is released and
    /// taken again from the start.
    static func prepare() {
        while true {
            pthread_mutex_lock(mutex)
            var taken = 0
            var complete = true
            forEachInOrder { lock in
                guard lock.lock(attempts: patience) else {
                    complete = false
                    return false
                }
                taken += 1
                return true
            }
            if complete { return }
            var released = 0
            forEachInOrder { lock in
                guard released < taken else { return false }
                lock.unlock()
                released += 1
                return true
            }
            pthread_mutex_unlock(mutex)
            stubpool_yield()
        }
    }

    static func parent() {
        forEachInOrder { lock in lock.unlock(); return true }
        pthread_mutex_unlock(mutex)
    }

    static func child() {
        forEachInOrder { lock in lock.unlock(); return true }
        forEachInOrder { lock in lock.repairInChild(); return true }
        // A default mutex has no owner check: the child's one thread releases it.
        pthread_mutex_unlock(mutex)
    }
}
