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
/// ``LockRank`` order), and both parent and child release them afterwards: the child inherits
/// every pool, arena and lazy queue in a consistent state. Then each lock may repair, in the
/// child, what a thread that no longer exists left running there (a lazy batch whose generator
/// ran on another thread goes back to pending, for the child to generate).
///
/// The handlers are installed when the first lock is created: a process that never uses the
/// library pays nothing. Creating and destroying a lock takes no lock (see ``ForkLocks``);
/// taking and releasing it does not touch the registry.
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

    /// The lock's registration with the fork handlers. Never freed (reused by a later lock).
    private let registration: UnsafeMutablePointer<ForkLocks.Registration>
    /// The registration's lock word: 0 free; 1 taken; 2 taken, and a `block` waiter may sleep on
    /// it (unlock wakes one).
    private let word: UnsafeMutablePointer<Atomic<UInt32>>
    let rank: LockRank
    let waiting: Waiting
    /// Whether ``unregister()`` ran (written by the thread that drops the lock, before its
    /// registration may serve another lock).
    private var unregistered = false

    init(rank: LockRank, waiting: Waiting) {
        self.rank = rank
        self.waiting = waiting
        registration = ForkLocks.register(rank: rank)
        word = registration.pointee.word
        ForkLocks.publish(registration, owner: self)
    }

    deinit { unregister() }

    /// Leaves the fork handlers' set (once; a subclass calls it before it frees what the lock
    /// guards, so that a forked child never repairs freed state).
    final func unregister() {
        guard !unregistered else { return }
        unregistered = true
        ForkLocks.unregister(registration)
    }

    /// Whether the fork handlers know this lock: its registration is live and its own.
    var isRegisteredForFork: Bool {
        registration.pointee.state.load(ordering: .acquiring) == 2 && registration.pointee.owner?.toOpaque() == Unmanaged.passUnretained(self).toOpaque()
    }

    @inline(__always)
    final func tryLock() -> Bool { ForkLocks.tryLock(word) }

    @inline(__always)
    final func lock() {
        if tryLock() { return }
        lockSlowly()
    }

    @inline(never)
    private final func lockSlowly() {
        ForkLocks.lockSlowly(word, blocks: waiting == .block)
    }

    @inline(__always)
    final func unlock() {
        ForkLocks.unlock(word, blocks: waiting == .block)
    }

    /// Called in a forked child, lock free again and the child single-threaded: repairs what a
    /// thread that does not exist in the child left in progress.
    func repairInChild() {}
}

/// The registry of every ``ForkAwareLock`` and the `pthread_atfork` handlers that take them all.
///
/// Registrations live in blocks that are never freed, one chain of blocks per rank, each from an
/// atomic head: the handlers walk them while other threads create and destroy locks, with no
/// lock between them. (A registry mutex taken on every lock's creation and destruction, as here
/// before, left every thread that made a lock waiting on it for good in one CI run under
/// ThreadSanitizer; with no lock there, there is nothing to wait on.) A lock
/// takes a free registration (or a new block) with a compare-and-swap and gives it back when it
/// is destroyed, its word free. Creating a lock never waits, except while a fork is in progress:
/// a registration published then may have been missed by the prepare handler, so its creator
/// waits for the fork to end before it uses the lock (the creator publishes, then reads the
/// fork flag; the prepare handler sets the flag, then reads the registrations; both sequentially
/// consistent, so one of them sees the other).
enum ForkLocks {
    /// One lock's word and what the handlers need to know of it.
    struct Registration: ~Copyable {
        /// The lock word (see ``ForkAwareLock``), in its block's array of words.
        let word: UnsafeMutablePointer<Atomic<UInt32>>
        /// 0: free; 1: being claimed; 2: live (its owner set).
        let state = Atomic<UInt32>(0)
        /// Set by the prepare handler for the words it took, cleared when they are released
        /// (read and written by the forking thread alone).
        var heldForFork = false
        /// The live lock (for its child repair); unretained: it unregisters before it goes.
        var owner: Unmanaged<ForkAwareLock>?
    }

    /// A block of registrations, chained newest first.
    struct Block {
        var next: UnsafeMutablePointer<Block>?
        var registrations: UnsafeMutablePointer<Registration>
    }

    private static let blockSize = 64
    private static let rankCount = LockRank.allCases.count
    /// One chain of blocks per rank: a registration keeps its rank for good.
    nonisolated(unsafe) private static let chains: UnsafeMutablePointer<Atomic<UInt>> = {
        let chains = UnsafeMutablePointer<Atomic<UInt>>.allocate(capacity: rankCount)
        for rank in 0..<rankCount { (chains + rank).initialize(to: Atomic(0)) }
        return chains
    }()
    /// Set from the prepare handler until parent or child releases the locks.
    private static let forking = Atomic<Bool>(false)
    /// Tries per lock before the prepare handler backs off (releases everything and starts over):
    /// long enough for any critical section that is merely busy, short enough to break a cycle.
    private static let patience = 20_000

    /// Serializes forks from several threads (held from prepare to parent/child; taken by the
    /// handlers alone).
    nonisolated(unsafe) private static let forkMutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        return mutex
    }()

    private static let handlersInstalled: Bool = {
        _ = forkMutex
        _ = chains
        return pthread_atfork({ ForkLocks.prepare() }, { ForkLocks.parent() }, { ForkLocks.child() }) == 0
    }()

    /// A free registration of `rank`, claimed (not yet visible to the handlers).
    static func register(rank: LockRank) -> UnsafeMutablePointer<Registration> {
        _ = handlersInstalled
        let chain = chains + rank.rawValue
        return claimFree(in: chain) ?? claimInNewBlock(of: chain)
    }

    /// Makes `registration` live for the handlers; waits out a fork in progress (see above).
    static func publish(_ registration: UnsafeMutablePointer<Registration>, owner: ForkAwareLock) {
        registration.pointee.owner = Unmanaged.passUnretained(owner)
        registration.pointee.state.store(2, ordering: .sequentiallyConsistent)
        while forking.load(ordering: .sequentiallyConsistent) { stubpool_yield() }
    }

    /// Gives `registration` back (once per lock: by then another lock may hold it).
    static func unregister(_ registration: UnsafeMutablePointer<Registration>) {
        registration.pointee.owner = nil
        registration.pointee.state.store(0, ordering: .releasing)
    }

    private static func claimFree(in chain: UnsafeMutablePointer<Atomic<UInt>>) -> UnsafeMutablePointer<Registration>? {
        var claimed: UnsafeMutablePointer<Registration>?
        forEachRegistration(in: chain) { candidate in
            guard candidate.pointee.state.load(ordering: .relaxed) == 0,
                  candidate.pointee.state.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged else { return true }
            claimed = candidate
            return false
        }
        return claimed
    }

    private static func claimInNewBlock(of chain: UnsafeMutablePointer<Atomic<UInt>>) -> UnsafeMutablePointer<Registration> {
        let words = UnsafeMutablePointer<Atomic<UInt32>>.allocate(capacity: blockSize)
        let registrations = UnsafeMutablePointer<Registration>.allocate(capacity: blockSize)
        for index in 0..<blockSize {
            (words + index).initialize(to: Atomic(0))
            (registrations + index).initialize(to: Registration(word: words + index))
        }
        registrations.pointee.state.store(1, ordering: .relaxed)
        let block = UnsafeMutablePointer<Block>.allocate(capacity: 1)
        var head = chain.pointee.load(ordering: .relaxed)
        while true {
            block.initialize(to: Block(next: UnsafeMutablePointer(bitPattern: head), registrations: registrations))
            let (exchanged, original) = chain.pointee.compareExchange(
                expected: head, desired: UInt(bitPattern: block), ordering: .acquiringAndReleasing)
            if exchanged { return registrations }
            head = original
        }
    }

    /// Every registration in fork order (rank, then newest block first), stopping early when
    /// `body` returns false. Raw storage walked with plain loops: the handlers run nothing that
    /// could need the Swift runtime's own locks (generic metadata instantiation), which another
    /// thread may have held at the fork.
    private static func forEachRegistration(_ body: (UnsafeMutablePointer<Registration>) -> Bool) {
        var rank = 0
        while rank < rankCount, forEachRegistration(in: chains + rank, body) { rank += 1 }
    }

    /// Every registration of one rank's chain (newest block first), stopping early when `body`
    /// returns false; false if it stopped.
    @discardableResult
    private static func forEachRegistration(in chain: UnsafeMutablePointer<Atomic<UInt>>,
                                            _ body: (UnsafeMutablePointer<Registration>) -> Bool) -> Bool {
        var block = UnsafeMutablePointer<Block>(bitPattern: chain.pointee.load(ordering: .acquiring))
        while let current = block {
            var index = 0
            while index < blockSize {
                guard body(current.pointee.registrations + index) else { return false }
                index += 1
            }
            block = current.pointee.next
        }
        return true
    }

    /// How many registrations `rank` has, and how many of them are live (for tests).
    static func registrations(of rank: LockRank) -> (total: Int, live: Int) {
        var total = 0, live = 0
        forEachRegistration(in: chains + rank.rawValue) { registration in
            total += 1
            if registration.pointee.state.load(ordering: .acquiring) == 2 { live += 1 }
            return true
        }
        return (total, live)
    }

    /// Every live registration in fork order, stopping early when `body` returns false.
    private static func forEachLive(_ body: (UnsafeMutablePointer<Registration>) -> Bool) {
        forEachRegistration { registration in
            registration.pointee.state.load(ordering: .sequentiallyConsistent) != 2 || body(registration)
        }
    }

    /// Every registration the prepare handler holds.
    private static func forEachHeld(_ body: (UnsafeMutablePointer<Registration>) -> Void) {
        forEachRegistration { registration in
            if registration.pointee.heldForFork { body(registration) }
            return true
        }
    }

    /// One try at taking a free lock word.
    @inline(__always)
    static func tryLock(_ word: UnsafeMutablePointer<Atomic<UInt32>>) -> Bool {
        word.pointee.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged
    }

    /// Takes `word` unless it stays busy for `attempts` tries (each after a yield).
    private static func lock(_ word: UnsafeMutablePointer<Atomic<UInt32>>, attempts: Int) -> Bool {
        var attempt = 0
        while attempt < attempts {
            if word.pointee.load(ordering: .relaxed) == 0, tryLock(word) { return true }
            if attempt > 64 { stubpool_yield() }
            attempt += 1
        }
        return false
    }

    static func lockSlowly(_ word: UnsafeMutablePointer<Atomic<UInt32>>, blocks: Bool) {
        var spins = 0
        while true {
            if word.pointee.load(ordering: .relaxed) == 0, tryLock(word) { return }
            spins += 1
            guard spins > 64 else { continue }
            guard blocks else {
                stubpool_yield()
                continue
            }
            // Mark the lock contended and sleep while it stays so; whoever takes it this way
            // leaves it marked, so its unlock wakes the next sleeper.
            while word.pointee.exchange(2, ordering: .acquiring) != 0 {
                _ = stubpool_futex_wait(UnsafeRawPointer(word), 2)
            }
            return
        }
    }

    @inline(__always)
    static func unlock(_ word: UnsafeMutablePointer<Atomic<UInt32>>, blocks: Bool) {
        // A spin lock has no sleepers: a plain release store (an exchange is a locked
        // instruction, paid on every unlock of the allocation path).
        guard blocks else { return word.pointee.store(0, ordering: .releasing) }
        if word.pointee.exchange(0, ordering: .releasing) == 2 { stubpool_futex_wake(UnsafeRawPointer(word), 1) }
    }

    /// Releases a word the prepare handler took, waking a sleeper if there is one (a spin lock's
    /// word is never 2; the lock that holds the registration now may not be the one it took).
    private static func release(_ registration: UnsafeMutablePointer<Registration>) {
        registration.pointee.heldForFork = false
        unlock(registration.pointee.word, blocks: true)
    }

    /// Before fork(): every live lock in order; if one stays busy (its holder may be waiting for
    /// one already held here), everything is released and taken again from the start.
    static func prepare() {
        pthread_mutex_lock(forkMutex)
        forking.store(true, ordering: .sequentiallyConsistent)
        while true {
            var complete = true
            forEachLive { registration in
                guard lock(registration.pointee.word, attempts: patience) else {
                    complete = false
                    return false
                }
                registration.pointee.heldForFork = true
                return true
            }
            if complete { return }
            forEachHeld(release)
            stubpool_yield()
        }
    }

    static func parent() {
        forEachHeld(release)
        forking.store(false, ordering: .sequentiallyConsistent)
        pthread_mutex_unlock(forkMutex)
    }

    static func child() {
        forEachHeld(release)
        // Repairs run with the lock free (each takes its own lock); the child has one thread.
        forEachLive { registration in
            registration.pointee.owner?._withUnsafeGuaranteedRef { $0.repairInChild() }
            return true
        }
        forking.store(false, ordering: .sequentiallyConsistent)
        // A default mutex has no owner check: the child's one thread releases it.
        pthread_mutex_unlock(forkMutex)
    }
}
