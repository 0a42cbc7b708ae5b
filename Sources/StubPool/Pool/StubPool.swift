import CStubPoolShim
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A pool of small executable trampolines packed many per code page.
///
/// Each stub's code reads its target (and, for ``StubKind/context`` and
/// ``StubKind/bindFirstArgument``, its context) from a data slot at a fixed PC-relative distance.
/// Code pages come from a template and are never writable; retargeting a stub only writes data.
///
/// All operations may be called from any thread. Allocating one stub of a packed pool takes a slot
/// from the calling thread's cache (no lock, no atomic read-modify-write), refilled in batches
/// from a shard; releasing one queues it in that cache. Shards (one per CPU) each have their own
/// lock, chunks and occupancy bitmaps; bulk allocation and the other placements use them directly.
/// A thread that exits returns its cached slots.
///
/// ## Release and reclaim
/// ``release(_:)-(Stub)`` points the stub at a trap that reports
/// `call through released stub #<id> at 0x<addr>` and aborts. The slot stays quarantined until
/// ``reclaim()``, which also returns chunks that became entirely free to the system (keeping one
/// spare per shard). Call `reclaim()` only when no thread can still be executing inside a released
/// stub (between entering it and its final jump), and no code will call a released stub's address
/// again: typically after every thread has passed a safepoint since the releases.
public final class StubPool: Sendable {
    /// How to build a pool.
    public struct Configuration: Sendable, Hashable {
        /// What every stub of the pool does when called (see <doc:ChoosingAStubKind>).
        public var kind: StubKind
        /// Where stubs go in code memory.
        public var placement: Placement
        /// Begin every stub with an indirect-branch landing pad (`endbr64` / `bti c`).
        public var landingPads: Bool
        /// How code pages are made: one sealed template shared by every chunk (the default), or
        /// private copies for systems without memfd.
        public var strategy: CodeStrategy
        /// Allocation shards; `nil` means one per CPU (up to 16) for packed pools and one otherwise,
        /// so that the other placements lay stubs out deterministically.
        public var shards: Int?
        /// Bytes of code per chunk: a multiple of 64 KiB, at most 512 KiB.
        public var codeSize: Int
        /// Whether the pool hands out lazy stubs (``StubPool/lazyStubs(of:batchLimit:generator:onFailure:)``).
        /// Any kind; each slot then also holds a lazy entry (which can make the slot larger).
        public var lazyBatches: Bool
        /// Bytes of writable memory beside each stub (0, or a multiple of 8 up to 4,096): the
        /// stub's payload (``StubPool/payload(of:)``), for state that lives as long as the stub,
        /// such as a closure's record. Payloads are 16-byte aligned when the size is a multiple
        /// of 16, 8-byte aligned otherwise (a 56-byte `ffi_closure` then costs 56 bytes, not 64).
        /// Never executable; mapped with the chunk, resident only once written; not cleared when
        /// a slot is reused.
        public var payloadSize: Int
        /// Where each stub's data slot (its context word, then its target word) lives: `nil` in
        /// the chunk's data region; a byte offset to keep it inside the stub's own payload, at
        /// `offset..<offset + 16` (a multiple of 8; `context` and `bindFirstArgument` pools with a
        /// payload and no lazy batches). The data region is then never touched: a stub costs its
        /// payload alone. A slot never handed out holds target 0 there (fresh payload memory:
        /// nothing is written per chunk), so a call through it faults at address 0; a released
        /// stub reports itself as in any pool. Images cannot save such a pool. What the libffi
        /// drop-in uses: the context word and the entry word of a closure's trampoline.
        public var payloadDataOffset: Int?
        /// How long a chunk must stay entirely free, untouched, before ``StubPool/reclaim()``
        /// returns it to the system (``StubPool/trim()`` does not wait). Reclaims may come often;
        /// this keeps a pool that is emptied and refilled from mapping and faulting chunks each time.
        public var idleChunkDelay: Duration
        /// The pool's name in profiles: its stubs' default names are `<name>#<id>` (without a
        /// name, `stubpool:<kind>#<id>`). See ``Profiling``.
        public var name: String?

        /// A configuration; every parameter sets the property of the same name. Nothing is checked
        /// until ``StubPool/init(_:)``.
        public init(
            kind: StubKind = .forward,
            placement: Placement = .packed,
            landingPads: Bool = false,
            strategy: CodeStrategy = .sharedTemplate,
            shards: Int? = nil,
            codeSize: Int = ChunkGeometry.defaultCodeSize,
            lazyBatches: Bool = false,
            payloadSize: Int = 0,
            payloadDataOffset: Int? = nil,
            idleChunkDelay: Duration = .milliseconds(500),
            name: String? = nil
        ) {
            self.payloadDataOffset = payloadDataOffset
            self.name = name
            self.idleChunkDelay = idleChunkDelay
            self.lazyBatches = lazyBatches
            self.payloadSize = payloadSize
            self.kind = kind
            self.placement = placement
            self.landingPads = landingPads
            self.strategy = strategy
            self.shards = shards
            self.codeSize = codeSize
        }
    }

    /// The largest count one bulk allocation accepts.
    public static let maximumBulkCount = 1 << 24

    /// The one check of every bulk count (stubs, lazy requests, arena blobs and patches), for the
    /// Swift API and the C API alike: `1...maximumBulkCount`. A C `size_t` beyond `Int.max`
    /// arrives negative and fails it too.
    package static func checkBulkCount(_ count: Int) throws(StubPoolError) {
        guard count > 0 && count <= maximumBulkCount else { throw .invalidCount(count) }
    }

    /// The configuration the pool was created with.
    public let configuration: Configuration
    @usableFromInline let layout: PoolLayout
    let shared: PoolShared
    /// The lazy side, once ``lazyStubs(of:batchLimit:generator:onFailure:)`` attached one.
    let lazyController = LazyControllerSlot()
    private let template: CodeTemplate
    private let nextSerial = Atomic<Int>(0)
    /// Single allocations go through thread caches (packed pools: the other placements keep
    /// their exact layouts by allocating under the shard lock).
    @usableFromInline let usesCaches: Bool
    /// Bytes (and physical slots) between the entries of consecutive logical slots: the stride of
    /// bulk runs.
    private let runStride: UInt
    private let slotStride: UInt32
    /// The page size: targets below it are rejected (a stored copy: no lazy global on the hot path).
    @usableFromInline let lowestTarget: UInt
    /// The token the inlined retarget accepts: the pool's own, widened, or a value no 32-bit
    /// token can equal for lazy pools (whose retargets must take the out-of-line path to drop
    /// pending requests) and pools with data slots in their payloads (where a slot never handed
    /// out reads 0, which the inlined path, testing only the released value, does not check).
    /// One compare serves every test.
    @usableFromInline let inlineRetargetToken: UInt64

    private static let nextToken = Atomic<UInt32>(1)
    /// Names given with ``setName(_:for:)``, by entry address; `hasNames` tells release paths
    /// whether to look (one relaxed load for pools that never name a stub).
    let names = Locked<[UInt: String]>([:], rank: .poolNames)
    let hasNames = Atomic<Bool>(false)
    /// `<pool name>#` or `stubpool:<kind>#`: the default names' prefix.
    let defaultNamePrefix: String

    /// Creates a pool. Builds (once per process) the code template of its stub variant; chunks are
    /// mapped as stubs are allocated. Starts profiling if `STUBPOOL_PERF` asks for it.
    ///
    /// - Throws: ``StubPoolError/invalidConfiguration(_:)`` for a configuration no pool can have
    ///   (a code size, payload size or shard count out of range), ``StubPoolError/unsupported(_:)``
    ///   for one this process cannot run (``CodeStrategy/privateCopy`` under `PR_SET_MDWE`), and
    ///   ``StubPoolError/system(_:during:)`` when building the template fails.
    public init(_ configuration: Configuration = Configuration()) throws(StubPoolError) {
        let encoder = Architecture.host.encoder
        guard !configuration.lazyBatches || PoolLayout.lazyResolverEntry(configuration.kind) != 0 else {
            throw .invalidConfiguration("no lazy resolver for this host")
        }
        let variant = StubVariant(kind: configuration.kind, landingPad: configuration.landingPads,
                                  lazyEntry: configuration.lazyBatches)
        let slotSize = encoder.slotSize(for: variant)
        let pageSize = Kernel.pageSize
        if configuration.strategy == .privateCopy && Kernel.refusesExecutableGain {
            throw .unsupported("the privateCopy strategy makes pages executable with mprotect, which PR_SET_MDWE (memory-deny-write-execute) forbids in this process; use sharedTemplate")
        }
        guard configuration.idleChunkDelay >= .zero else {
            throw .invalidConfiguration("idle chunk delay must not be negative, not \(configuration.idleChunkDelay)")
        }
        guard (0...PoolLayout.maximumPayloadSize).contains(configuration.payloadSize), configuration.payloadSize % 8 == 0 else {
            throw .invalidConfiguration("payload size must be a multiple of 8 in 0...\(PoolLayout.maximumPayloadSize), not \(configuration.payloadSize)")
        }
        let shardCount: Int
        switch (configuration.shards, configuration.placement) {
        case (let count?, _):
            guard (1...64).contains(count) else { throw .invalidConfiguration("shards must be 1...64, not \(count)") }
            shardCount = count
        case (nil, .packed):
            shardCount = min(16, max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
        case (nil, _):
            shardCount = 1
        }
        let geometry = try ChunkGeometry(pageSize: pageSize, slotSize: slotSize, codeSize: configuration.codeSize)
        let dataPlacement = try Self.dataPlacement(configuration, geometry: geometry)
        guard geometry.farthestDataReference(dataPlacement ?? geometry.dataPlacement) <= encoder.dataReach else {
            throw .invalidConfiguration("code size \(configuration.codeSize) puts data beyond the \(encoder.dataReach)-byte reach of \(encoder.architecture.rawValue) stubs")
        }
        _ = ReleasedStubReporter.installed
        Profiling.startFromEnvironment()
        do throws(SystemError) {
            template = try CodeTemplate.template(
                for: .init(architecture: .host, variant: variant, geometry: geometry, strategy: configuration.strategy,
                           data: dataPlacement),
                encoder: encoder)
        } catch {
            throw .system(error, during: .createPool)
        }
        self.configuration = configuration
        defaultNamePrefix = (configuration.name ?? "stubpool:\(configuration.kind)") + "#"
        let token = Self.nextToken.wrappingAdd(1, ordering: .relaxed).oldValue
        layout = PoolLayout(token: token, variant: variant, geometry: geometry, placement: configuration.placement,
                            payloadSize: configuration.payloadSize, data: dataPlacement, encoder: encoder)
        var seed: UInt64 = 0
        if case .random(let value) = configuration.placement { seed = value }
        shared = PoolShared(layout: layout, shards: (0..<shardCount).map { PoolShard(index: $0, seed: seed) },
                            idleDelay: configuration.idleChunkDelay)
        usesCaches = configuration.placement == .packed
        lowestTarget = UInt(pageSize)
        inlineRetargetToken = configuration.lazyBatches || layout.dataInPayloads ? .max : UInt64(token)
        slotStride = UInt32(layout.placement.physical(1) - layout.placement.physical(0))
        runStride = UInt(slotStride) * UInt(slotSize)
    }

    /// Where `configuration` puts the data slots: nil for the data region, or inside the
    /// payloads after checking that they can hold them there.
    private static func dataPlacement(_ configuration: Configuration, geometry: ChunkGeometry) throws(StubPoolError) -> DataPlacement? {
        guard let offset = configuration.payloadDataOffset else { return nil }
        guard configuration.kind == .context || configuration.kind == .bindFirstArgument else {
            throw .invalidConfiguration("data slots in payloads need a context or bindFirstArgument pool, not \(configuration.kind)")
        }
        guard !configuration.lazyBatches else { throw .invalidConfiguration("data slots in payloads do not go with lazy batches") }
        guard offset >= 0, offset % 8 == 0, offset + ChunkGeometry.dataSlotSize <= configuration.payloadSize else {
            throw .invalidConfiguration("payload data offset \(offset) must be a multiple of 8 with 16 bytes after it inside the \(configuration.payloadSize)-byte payload")
        }
        return geometry.dataInPayloads(payloadSize: configuration.payloadSize, offset: offset)
    }

    deinit {
        lazyController.controller?.poolDidEnd()
        shared.shutDown()
    }

    // MARK: Chunks

    private var currentShard: PoolShard {
        let shards = shared.shards
        guard shards.count > 1 else { return shards[0] }
        let cpu = Int(stubpool_current_cpu())
        return shards[cpu >= 0 ? cpu % shards.count : 0]
    }

    /// Maps one more chunk into `state` (called with the shard locked); returns its index.
    @discardableResult
    private func addChunk(to state: inout PoolShard.State, shard: Int) throws(SystemError) -> Int {
        let serial = nextSerial.wrappingAdd(1, ordering: .relaxed).oldValue
        let layout = self.layout
        var chunkBase: UInt = 0
        let mapping = try ChunkMapper.map(
            template: template, geometry: layout.geometry, payloadBytes: layout.payloadRegionSize,
            strategy: configuration.strategy, guarded: configuration.landingPads, populateData: !layout.dataInPayloads
        ) { data in
            chunkBase = UInt(bitPattern: data) - UInt(layout.geometry.codeSize)
            layout.initializeData(data, chunkBase: chunkBase)
        }
        let index = state.allocator.nextChunkIndex
        let chunk = Chunk(mapping: mapping, layout: layout, serial: serial, shard: shard, index: index)
        // The registry grows by zeroed leaves of 512 KiB; failing that, the chunk is unmapped.
        guard ChunkRegistry.register(chunk) else { throw SystemError(operation: .mmap, errno: ENOMEM) }
        if Profiling.isActive { describeForDebugger(chunk) }
        _ = state.allocator.addChunk(capacity: layout.capacity)
        if index == state.chunks.count {
            state.chunks.append(chunk)
            state.bases.append(chunk.base)
        } else {
            state.chunks[index] = chunk
            state.bases[index] = chunk.base
        }
        return index
    }

    /// Makes sure `state` has `count` free slots, mapping chunks as needed: all or none.
    private func reserve(_ count: Int, in state: inout PoolShard.State, shard: Int) throws(SystemError) {
        let missing = count - state.allocator.freeSlots
        guard missing > 0 else { return }
        var added: [Int] = []
        for _ in 0..<((missing + layout.capacity - 1) / layout.capacity) {
            do throws(SystemError) {
                added.append(try addChunk(to: &state, shard: shard))
            } catch {
                for index in added.reversed() { state.removeChunk(index) }
                throw error
            }
        }
    }

    private func takeSlot(_ state: inout PoolShard.State) -> SlotAddress? {
        switch configuration.placement {
        case .random:
            let span = state.allocator.chunks.count * layout.capacity
            guard span > 0 else { return nil }
            return state.allocator.allocate(near: Int(state.random.next() % UInt64(span)))
        case .packed, .pageStart, .staggered:
            return state.allocator.allocateLowest()
        }
    }

    // MARK: Allocation

    /// Allocates one stub that jumps to `target` with `context`. A target in the first page
    /// throws ``StubPoolError/invalidTarget(_:)``.
    // @inlinable: the fast path (thread-local table, cached slot, two stores) is inlined into
    // callers in other modules, where as a cross-module call it measured ≈9.5 ns. Everything else
    // (a bad target, an empty cache, other placements) takes the out-of-line path.
    @inlinable
    public func allocate(target: UnsafeRawPointer, context: UInt = 0) throws(StubPoolError) -> Stub {
        let address = UInt(bitPattern: target)
        if usesCaches, address >= lowestTarget, let stub = ThreadSlotCaches.withCache(token: layout.token, { $0.pop() }) ?? nil {
            DataSlot(address: layout.dataSlot(of: stub)).publish(target: address, context: context)
            return stub
        }
        return try allocateSlowly(target: target, context: context)
    }

    @usableFromInline @inline(never)
    func allocateSlowly(target: UnsafeRawPointer, context: UInt) throws(StubPoolError) -> Stub {
        try checkTarget(target)
        let shard = currentShard
        let stub: Stub
        if usesCaches {
            let cache = shared.withCache { $0 }
            if let cached = cache.pop() {
                stub = cached
            } else {
                try refill(cache, from: shard)
                stub = cache.pop()!
            }
        } else {
            stub = try shard.state.withLock { (state) throws(StubPoolError) -> Stub in
                var address = takeSlot(&state)
                if address == nil {
                    do throws(SystemError) { try addChunk(to: &state, shard: shard.index) } catch { throw .system(error, during: .allocate) }
                    address = takeSlot(&state)
                }
                state.handedOut += 1
                return layout.stub(base: state.bases[address!.chunk], logical: address!.slot)
            }
            if Profiling.isActive { recordHandedOut(stub, count: 1) }
        }
        DataSlot(address: layout.dataSlot(of: stub)).publish(target: UInt(bitPattern: target), context: context)
        return stub
    }

    /// Moves a batch of free slots from `shard` into `cache`, mapping a chunk if the shard is full.
    private func refill(_ cache: SlotCache, from shard: PoolShard) throws(StubPoolError) {
        // Runs handed to the cache, kept only while profiling (recorded after the lock).
        var handedOut: [(head: Stub, length: Int)] = []
        let profiling = Profiling.isActive
        defer { for run in handedOut { recordHandedOut(run.head, count: run.length) } }
        try shard.state.withLock { (state) throws(StubPoolError) in
            if state.allocator.freeSlots == 0 {
                do throws(SystemError) { try addChunk(to: &state, shard: shard.index) } catch { throw .system(error, during: .allocate) }
            }
            let count = min(SlotCache.refillCount, state.allocator.freeSlots)
            let layout = self.layout
            let slotSize = UInt(layout.geometry.slotSize)
            cache.refill { slots, limit in
                // All or none, so exactly `taken` slots arrive, as runs (cached pools are packed:
                // logical slots are physical ones). Written from the top down: popped from the
                // top, the cache hands its slots out lowest first.
                let taken = min(count, limit)
                var next = taken
                let bases = state.bases
                _ = state.allocator.allocateLowest(count: taken) { (first: SlotAddress, length: Int) in
                    let head = layout.stub(base: bases[first.chunk], logical: first.slot)
                    if profiling { handedOut.append((head, length)) }
                    for position in 0..<length {
                        next -= 1
                        slots[next] = Stub(address: head.address &+ UInt(position) &* slotSize, poolToken: head.poolToken,
                                           slot: head.slot &+ UInt32(truncatingIfNeeded: position))
                    }
                }
                return taken
            }
        }
    }

    /// Allocates `count` stubs that all jump to `target` with `context`: all of them or none.
    /// They come from one shard, lowest addresses first, as a few contiguous runs.
    public func allocate(count: Int, target: UnsafeRawPointer, context: UInt = 0) throws(StubPoolError) -> StubRange {
        try Self.checkBulkCount(count)
        try checkTarget(target)
        let stubs = try reserveRange(count: count)
        publish(stubs, target: UInt(bitPattern: target), context: context)
        return stubs
    }

    /// Takes `count` slots (1...maximumBulkCount) for the caller to publish: their data slots
    /// still hold the released state.
    func reserveRange(count: Int) throws(StubPoolError) -> StubRange {
        let shard = currentShard
        let stubs = try shard.state.withLock { (state) throws(StubPoolError) -> StubRange in
            do throws(SystemError) { try reserve(count, in: &state, shard: shard.index) } catch {
                throw .system(error, during: .allocateBulk)
            }
            var builder = StubRange.Builder(stride: runStride, slotStride: slotStride, poolToken: layout.token)
            let bases = state.bases
            let layout = self.layout
            switch configuration.placement {
            case .random:
                for _ in 0..<count {
                    let address = takeSlot(&state)!
                    builder.append(layout.stub(base: bases[address.chunk], logical: address.slot))
                }
            case .packed:
                // Logical slots are physical ones: a run of free bits is a run of stubs.
                _ = state.allocator.allocateLowest(count: count) { (first: SlotAddress, length: Int) in
                    builder.append(layout.stub(base: bases[first.chunk], logical: first.slot), count: length)
                }
            case .pageStart, .staggered:
                _ = state.allocator.allocateLowest(count: count) { address in
                    builder.append(layout.stub(base: bases[address.chunk], logical: address.slot))
                }
            }
            state.handedOut += count
            return builder.finish()
        }
        if Profiling.isActive { recordHandedOut(stubs) }
        return stubs
    }

    /// Writes target and context into every data slot of `stubs` (a run is one chunk's: its data
    /// slots are evenly spaced too).
    func publish(_ stubs: StubRange, target: UInt, context: UInt) {
        layout.forEachDataSlot(of: stubs) { _, _, data in data.publish(target: target, context: context) }
    }

    /// Targets in the first page (null plus a small offset: a missing function pointer, an
    /// integer passed by mistake) can never be code.
    @inline(__always)
    func checkTarget(_ target: UnsafeRawPointer) throws(StubPoolError) {
        guard UInt(bitPattern: target) >= lowestTarget else { throw .invalidTarget(UInt(bitPattern: target)) }
    }
}
