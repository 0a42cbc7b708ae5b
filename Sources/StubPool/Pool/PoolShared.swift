import Synchronization

/// One allocation shard of a pool: its own lock, chunks and occupancy bitmaps.
final class PoolShard: Sendable {
    struct State: Sendable {
        var allocator = SlotAllocator()
        /// Chunks by allocator index; nil where a chunk was returned to the system.
        var chunks: [Chunk?] = []
        /// Base address of each chunk (0 where returned), parallel to `chunks`: the allocation
        /// path reads these instead of touching the chunk objects.
        var bases: [UInt] = []
        /// Stubs handed out by the locked paths (bulk, and single stubs of unpacked placements).
        var handedOut = 0
        /// Chunks unmapped because they were entirely free.
        var returnedChunks = 0
        /// Chunks found empty by a reclaim, with their take counts then and when they were first
        /// seen so: still empty and untouched at a reclaim `idleDelay` later, they are returned.
        var idle: [Int: (takes: UInt32, since: ContinuousClock.Instant)] = [:]
        var random: SplitMix64

        /// Unmaps chunk `index`, which must be entirely free: out of the chunk index and the
        /// allocator (the newest chunk is popped; any other leaves an index the next chunk reuses).
        mutating func removeChunk(_ index: Int) {
            guard let chunk = chunks[index] else { return }
            ChunkRegistry.unregister(chunk)
            if index == chunks.count - 1 {
                allocator.removeLastChunk()
                chunks.removeLast()
                bases.removeLast()
            } else {
                allocator.retireChunk(index)
                chunks[index] = nil
                bases[index] = 0
            }
        }
    }

    let index: Int
    let state: Locked<State>

    init(index: Int, seed: UInt64) {
        self.index = index
        self.state = Locked(State(random: SplitMix64(seed: seed &+ UInt64(index))), rank: .poolShard)
    }
}

/// The part of a pool that its threads' slot caches share with it: the shards, the quarantine
/// and the directory of caches. A cache keeps it alive, so a thread that exits after its pool was
/// destroyed finds it marked dead rather than freed.
///
/// Lock order: directory, then quarantine, then a shard.
final class PoolShared: Sendable {
    /// A slot's place in its pool in one word: shard (8 bits), chunk index in the shard (24),
    /// logical slot (32). What releases queue, so reclaim frees without looking chunks up.
    struct SlotKey: Sendable {
        let raw: UInt

        /// Fields within their bounds (a shard below 256, a chunk below 2^24, a logical slot below
        /// 2^32): taken as bit patterns, no checks. The shard above the packed ``SlotAddress``.
        init(shard: Int, chunk: Int, logical: Int) {
            raw = UInt(bitPattern: shard) &<< SlotAddress.packedBits | SlotAddress(chunk: chunk, slot: logical).packed
        }

        init(raw: UInt) { self.raw = raw }

        var shard: Int { Int(raw >> SlotAddress.packedBits) }
        var address: SlotAddress { SlotAddress(packed: raw) }
    }

    /// Released slots awaiting reclaim: `count` consecutive logical slots from `first`.
    struct QuarantineRun: Sendable {
        var first: SlotKey
        var count: Int
    }

    struct Quarantine: Sendable {
        /// Single released slots of every shard, in the order they were queued: one flat array,
        /// so that a thread cache's ring drains into it with one copy (a per-shard array of
        /// arrays cost two uniqueness checks per key, ≈15% of a release).
        private(set) var keys: [UInt] = []
        /// `keys` grouped by shard during a reclaim (a counting sort), kept for its capacity.
        private var byShard: [UInt] = []
        /// Runs released in bulk.
        var runs: [QuarantineRun] = []
        var count = 0
        /// Stubs released in bulk straight into the quarantine, ever (single releases are counted
        /// by the caches that queue them).
        var releasedInBulk = 0
        /// Releases that reclaim found already free (racing releases of one stub), ever.
        var duplicates = 0
        let shards: Int

        init(shards: Int) { self.shards = shards }

        mutating func add(_ key: UInt) {
            keys.append(key)
            count += 1
        }

        /// Appends `queued` keys at once.
        mutating func add(contentsOf queued: UnsafeBufferPointer<UInt>) {
            keys.append(contentsOf: queued)
            count += queued.count
        }

        mutating func add(_ run: QuarantineRun) {
            runs.append(run)
            count += run.count
        }

        /// The single keys of each shard, in queue order within the shard: `keys` itself with
        /// one shard, else a counting sort by shard into `byShard` (two passes, no per-key
        /// allocation). Valid until the quarantine changes.
        mutating func keysByShard() -> [Range<Int>] {
            guard shards > 1 else { return [0..<keys.count] }
            // All from one shard (one thread's releases, usually): already grouped, found with a
            // compare per key before any counting.
            if let first = keys.first {
                let only = SlotKey(raw: first).shard
                if keys.withUnsafeBufferPointer({ $0.allSatisfy { $0 >> SlotAddress.packedBits == UInt(only) } }) {
                    return (0..<shards).map { $0 == only ? 0..<keys.count : 0..<0 }
                }
            }
            var starts = [Int](repeating: 0, count: shards + 1)
            for key in keys { starts[SlotKey(raw: key).shard + 1] += 1 }
            for shard in 0..<shards { starts[shard + 1] += starts[shard] }
            var next = starts
            byShard.removeAll(keepingCapacity: true)
            byShard.append(contentsOf: repeatElement(0, count: keys.count))
            byShard.withUnsafeMutableBufferPointer { sorted in
                for key in keys {
                    let shard = SlotKey(raw: key).shard
                    sorted[next[shard]] = key
                    next[shard] += 1
                }
            }
            swap(&keys, &byShard)
            return (0..<shards).map { starts[$0]..<starts[$0 + 1] }
        }

        /// Empties the single keys, keeping buffers of an ordinary size for the next round.
        mutating func clearKeys(keepingCapacityUpTo limit: Int) {
            let keep = keys.count <= limit
            keys.removeAll(keepingCapacity: keep)
            byShard.removeAll(keepingCapacity: keep)
        }
    }

    struct Directory: Sendable {
        var caches: [ObjectIdentifier: SlotCache] = [:]
        /// Counters of the caches of threads that exited.
        var retiredAllocated = 0
        var retiredReleased = 0
    }

    /// Empty chunks a shard keeps mapped however long they stay empty, so that allocating and
    /// releasing across a chunk boundary does not map and unmap each time.
    static let spareChunks = 1

    /// How long a chunk stays empty and untouched before a reclaim returns it
    /// (``StubPool/Configuration/idleChunkDelay``). Reclaims can come every few microseconds (the
    /// libffi drop-in reclaims every 1,024 frees): counting reclaims alone returned chunks that a
    /// program refilled right after, mapping and faulting them again.
    let idleDelay: Duration
    let layout: PoolLayout
    let shards: [PoolShard]
    let quarantine: Locked<Quarantine>
    let directory = Locked(Directory(), rank: .poolDirectory)
    private let alive = Atomic<Bool>(true)

    init(layout: PoolLayout, shards: [PoolShard], idleDelay: Duration) {
        self.idleDelay = idleDelay
        self.layout = layout
        self.shards = shards
        quarantine = Locked(Quarantine(shards: shards.count), rank: .poolQuarantine)
    }

    var isAlive: Bool { alive.load(ordering: .acquiring) }

    // MARK: This thread's cache

    /// Runs `body` on the calling thread's cache of this pool, creating it on first use.
    @inline(__always)
    func withCache<Result>(_ body: (SlotCache) -> Result) -> Result {
        if let result = ThreadSlotCaches.withCache(token: layout.token, body) { return result }
        return body(makeCache())
    }

    @inline(never)
    private func makeCache() -> SlotCache {
        let cache = SlotCache(token: layout.token, shared: self)
        directory.withLock { $0.caches[ObjectIdentifier(cache)] = cache }
        ThreadSlotCaches.install(cache)
        return cache
    }

    /// Queues the released slot `key` for reclaim, through the calling thread's cache.
    @inline(__always)
    func quarantine(_ key: SlotKey) {
        withCache { cache in
            if !cache.pushReleased(key.raw) { drainThenPush(key.raw, cache) }
        }
    }

    @inline(never)
    private func drainThenPush(_ key: UInt, _ cache: SlotCache) {
        quarantine.withLock { cache.drainReleased(into: &$0) }
        _ = cache.pushReleased(key)
    }

    /// The calling thread exited: its cache's free slots go back to their shards and its queued
    /// releases to the quarantine.
    func retire(_ cache: SlotCache) {
        directory.withLock { directory in
            guard directory.caches.removeValue(forKey: ObjectIdentifier(cache)) != nil, isAlive else { return }
            quarantine.withLock { cache.drainReleased(into: &$0) }
            directory.retiredAllocated += cache.allocatedCount
            directory.retiredReleased += cache.releasedCount
            var byShard = [[SlotAddress]](repeating: [], count: shards.count)
            cache.takeFreeSlots { entry in
                ChunkRegistry.withChunk(containing: entry) { chunk -> Void? in
                    guard chunk.layout.token == layout.token, let slot = chunk.slot(ofEntry: entry) else { return nil }
                    byShard[chunk.shard].append(SlotAddress(chunk: chunk.index, slot: slot.logical))
                    return ()
                }
            }
            for (shard, addresses) in zip(shards, byShard) where !addresses.isEmpty {
                shard.state.withLock { state in for address in addresses { state.allocator.free(address) } }
            }
        }
    }

    // MARK: Reclaim

    /// Frees every quarantined slot (those still queued in thread caches included), taking each
    /// shard's lock once, then returns idle chunks (see ``StubPool/reclaim()``). Returns how many
    /// slots.
    func reclaim() -> Int {
        directory.withLock { directory in
            quarantine.withLock { quarantine in
                for cache in directory.caches.values { cache.drainReleased(into: &quarantine) }
                var freed = 0
                let runs = quarantine.runs
                let ranges = quarantine.keysByShard()
                // Slots go back chunk by chunk, in groups of consecutive keys of one chunk (release
                // order usually keeps a chunk's slots together). A slot released twice by racing
                // threads is queued twice: freed once.
                quarantine.keys.withUnsafeBufferPointer { keys in
                    for shard in shards {
                        shard.state.withLock { state in
                            // A key is its shard above its packed slot address, which is all
                            // the allocator reads.
                            freed += state.allocator.free(packed: UnsafeBufferPointer(rebasing: keys[ranges[shard.index]]))
                            for run in runs where run.first.shard == shard.index {
                                let first = run.first.address
                                freed += state.allocator.free(chunk: first.chunk, slots: first.slot..<(first.slot + run.count))
                            }
                            giveBack(&state, onlyIdle: true)
                        }
                    }
                }
                // Keep the buffers for the next round unless a burst made them large.
                quarantine.clearKeys(keepingCapacityUpTo: Self.keptQuarantineCapacity * shards.count)
                quarantine.runs.removeAll()
                quarantine.duplicates += quarantine.count - freed
                quarantine.count = 0
                return freed
            }
        }
    }

    /// Quarantine entries per shard whose buffers survive a reclaim (64 KiB each).
    static let keptQuarantineCapacity = 8_192

    /// Returns every entirely free chunk beyond the spare ones now; returns how many.
    func trim() -> Int {
        shards.reduce(0) { total, shard in total + shard.state.withLock { giveBack(&$0, onlyIdle: false) } }
    }

    /// Unmaps the shard's entirely free chunks beyond the spare ones (shard locked). With
    /// `onlyIdle`, only chunks that a look at least `idleDelay` ago found empty and that were not
    /// used since (so a program that repeatedly fills and empties a pool keeps its chunks mapped).
    @discardableResult
    private func giveBack(_ state: inout PoolShard.State, onlyIdle: Bool) -> Int {
        let empty = state.allocator.emptyChunks
        let now = ContinuousClock.now
        var returned = 0
        for index in empty.dropFirst(Self.spareChunks) {
            if onlyIdle {
                guard let seen = state.idle[index], seen.takes == state.allocator.takes[index],
                      seen.since.duration(to: now) >= idleDelay else { continue }
            }
            state.removeChunk(index)
            state.returnedChunks += 1
            returned += 1
        }
        var idle: [Int: (takes: UInt32, since: ContinuousClock.Instant)] = [:]
        for index in state.allocator.emptyChunks {
            let takes = state.allocator.takes[index]
            if let seen = state.idle[index], seen.takes == takes { idle[index] = seen } else { idle[index] = (takes, now) }
        }
        state.idle = idle
        return returned
    }

    // MARK: Teardown

    /// The pool is being destroyed: caches are forgotten (their threads find the pool dead) and
    /// every chunk is unmapped.
    func shutDown() {
        directory.withLock { directory in
            alive.store(false, ordering: .releasing)
            directory.caches.removeAll()
        }
        for shard in shards {
            shard.state.withLock { state in
                for case let chunk? in state.chunks { ChunkRegistry.unregister(chunk) }
                state.chunks.removeAll()  // unmaps each chunk
            }
        }
    }
}
