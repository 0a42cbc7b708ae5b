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
        var random: SplitMix64
    }

    let index: Int
    let state: Locked<State>

    init(index: Int, seed: UInt64) {
        self.index = index
        self.state = Locked(State(random: SplitMix64(seed: seed &+ UInt64(index))))
    }
}

/// The part of a pool that its threads' slot caches share with it: the shards, the quarantine
/// and the directory of caches. A cache keeps it alive, so a thread that exits after its pool was
/// destroyed finds it marked dead rather than freed.
///
/// Lock order: directory, then quarantine, then a shard.
final class PoolShared: Sendable {
    /// Released slots awaiting reclaim: `count` entries from `first`, `stride` bytes apart.
    struct QuarantineRun: Sendable {
        var first: UInt
        var count: Int
        var stride: UInt
    }

    struct Quarantine: Sendable {
        var runs: [QuarantineRun] = []
        var count = 0
        /// Stubs released in bulk straight into the quarantine, ever (single releases are counted
        /// by the caches that queue them).
        var releasedInBulk = 0

        mutating func add(_ run: QuarantineRun) {
            runs.append(run)
            count += run.count
        }
    }

    struct Directory: Sendable {
        var caches: [ObjectIdentifier: SlotCache] = [:]
        /// Counters of the caches of threads that exited.
        var retiredAllocated = 0
        var retiredReleased = 0
    }

    /// Empty chunks a shard keeps mapped after reclaim, so that allocating and releasing across a
    /// chunk boundary does not map and unmap each time.
    static let spareChunks = 1

    let layout: PoolLayout
    let shards: [PoolShard]
    let quarantine = Locked(Quarantine())
    let directory = Locked(Directory())
    private let alive = Atomic<Bool>(true)

    init(layout: PoolLayout, shards: [PoolShard]) {
        self.layout = layout
        self.shards = shards
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

    /// Queues the released slot at `entry` for reclaim, through the calling thread's cache.
    @inline(__always)
    func quarantine(entry: UInt) {
        withCache { cache in
            if !cache.pushReleased(entry) { drainThenPush(entry, cache) }
        }
    }

    @inline(never)
    private func drainThenPush(_ entry: UInt, _ cache: SlotCache) {
        let stride = UInt(layout.geometry.slotSize)
        quarantine.withLock { quarantine in
            cache.drainReleased { quarantine.add(QuarantineRun(first: $0, count: 1, stride: stride)) }
        }
        _ = cache.pushReleased(entry)
    }

    /// The calling thread exited: its cache's free slots go back to their shards and its queued
    /// releases to the quarantine.
    func retire(_ cache: SlotCache) {
        directory.withLock { directory in
            guard directory.caches.removeValue(forKey: ObjectIdentifier(cache)) != nil, isAlive else { return }
            let stride = UInt(layout.geometry.slotSize)
            quarantine.withLock { quarantine in
                cache.drainReleased { quarantine.add(QuarantineRun(first: $0, count: 1, stride: stride)) }
            }
            directory.retiredAllocated += cache.allocatedCount
            directory.retiredReleased += cache.releasedCount
            var entries: [UInt] = []
            cache.takeFreeSlots { entries.append($0) }
            for entry in entries { free(QuarantineRun(first: entry, count: 1, stride: stride)) }
        }
    }

    // MARK: Reclaim

    /// Frees every quarantined slot (those still queued in thread caches included), then returns
    /// entirely free chunks beyond ``spareChunks`` per shard to the system. Returns how many slots.
    func reclaim() -> Int {
        let runs: [QuarantineRun] = directory.withLock { directory in
            quarantine.withLock { quarantine in
                let stride = UInt(layout.geometry.slotSize)
                for cache in directory.caches.values {
                    cache.drainReleased { quarantine.add(QuarantineRun(first: $0, count: 1, stride: stride)) }
                }
                defer {
                    quarantine.runs = []
                    quarantine.count = 0
                }
                return quarantine.runs
            }
        }
        var freed = 0
        var touched = Set<Int>()
        for run in runs {
            if let shard = free(run) {
                freed += run.count
                touched.insert(shard)
            }
        }
        for shard in touched.sorted() { shards[shard].state.withLock { giveBack(&$0) } }
        return freed
    }

    /// Returns the slots of `run` (one chunk's, validated when they were released or cached) to
    /// their shard's bitmap; returns the shard.
    @discardableResult
    private func free(_ run: QuarantineRun) -> Int? {
        ChunkRegistry.withChunk(containing: run.first) { chunk -> Int? in
            guard chunk.layout.token == layout.token else { return nil }
            shards[chunk.shard].state.withLock { state in
                for position in 0..<run.count {
                    guard let slot = chunk.slot(ofEntry: run.first + UInt(position) * run.stride) else { continue }
                    state.allocator.free(SlotAddress(chunk: chunk.index, slot: slot.logical))
                }
            }
            return chunk.shard
        }
    }

    /// Unmaps the shard's entirely free chunks beyond the spare ones (shard locked).
    private func giveBack(_ state: inout PoolShard.State) {
        for index in state.allocator.emptyChunks.dropFirst(Self.spareChunks) {
            guard let chunk = state.chunks[index] else { continue }
            ChunkRegistry.unregister(chunk)
            state.allocator.retireChunk(index)
            state.chunks[index] = nil  // unmaps it
            state.bases[index] = 0
            state.returnedChunks += 1
        }
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
