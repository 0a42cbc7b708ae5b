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
    /// How a thread that finds the lock taken waits for it.
    enum Waiting {
        /// Spins, then yields the CPU between tries: for critical sections of a few bitmap
        /// operations, where it measured ≈2.5 ns uncontended against ≈40 ns for `Mutex`.
        case spin
        /// Spins briefly, then sleeps on a futex until the holder wakes it: for work that makes
        /// system calls or copies memory under the lock (an arena's commits and its copy after
        /// fork, the template cache, the profiling recorder), where a spinning waiter would only
        /// take the CPU from the holder.
        case block
    }

    /// 0: free; 1: taken; 2: taken, and a `block` waiter may sleep on it (unlock wakes one).
    /// Its own allocation, so that the futex has an address.
    private let word: UnsafeMutablePointer<Atomic<UInt32>>
    let rank: LockRank
    let waiting: Waiting
    // Links of the rank's registry list, guarded by the registry mutex.
    fileprivate unowned(unsafe) var next: ForkAwareLock?
    fileprivate unowned(unsafe) var previous: ForkAwareLock?

    init(rank: LockRank, waiting: Waiting) {
        word = .allocate(capacity: 1)
        word.initialize(to: Atomic(0))
        self.rank = rank
        self.waiting = waiting
        ForkLocks.add(self)
    }

    deinit {
        ForkLocks.remove(self)
        word.deinitialize(count: 1)
        word.deallocate()
    }

    @inline(__always)
    final func tryLock() -> Bool {
        word.pointee.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged
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
            if word.pointee.load(ordering: .relaxed) == 0, tryLock() { return }
            spins += 1
            guard spins > 64 else { continue }
            switch waiting {
            case .spin:
                stubpool_yield()
            case .block:
                // Mark the lock contended and sleep while it stays so; whoever takes it this way
                // leaves it marked, so its unlock wakes the next sleeper.
                while word.pointee.exchange(2, ordering: .acquiring) != 0 {
                    _ = stubpool_futex_wait(UnsafeRawPointer(word), 2)
                }
                return
            }
        }
    }

    @inline(__always)
    final func unlock() {
        // A spin lock has no sleepers: a plain release store (an exchange is a locked
        // instruction, paid on every unlock of the allocation path).
        guard waiting == .block else { return word.pointee.store(0, ordering: .releasing) }
        if word.pointee.exchange(0, ordering: .releasing) == 2 { stubpool_futex_wake(UnsafeRawPointer(word), 1) }
    }

    /// Takes the lock unless it stays busy for `attempts` tries (each after a yield).
    fileprivate final func lock(attempts: Int) -> Bool {
        var attempt = 0
        while attempt < attempts {
            if word.pointee.load(ordering: .relaxed) == 0, tryLock() { return true }
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
