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
/// All operations may be called from any thread. Allocation is sharded by CPU; each shard has
/// its own lock, chunks and occupancy bitmaps.
///
/// ## Release and reclaim
/// ``release(_:)`` points the stub at a trap that reports
/// `call through released stub #<id> at 0x<addr>` and aborts. The slot stays quarantined until
/// ``reclaim()``. Call `reclaim()` only when no thread can still be executing inside a released
/// stub (between entering it and its final jump), and no code will call a released stub's address
/// again: typically after every thread has passed a safepoint since the releases.
public final class StubPool: Sendable {
    /// How to build a pool.
    public struct Configuration: Sendable, Hashable {
        public var kind: StubKind
        public var placement: Placement
        /// Begin every stub with an indirect-branch landing pad (`endbr64` / `bti c`).
        public var landingPads: Bool
        public var strategy: CodeStrategy
        /// Allocation shards; `nil` means one per CPU (up to 16) for packed pools and one otherwise,
        /// so that the other placements lay stubs out deterministically.
        public var shards: Int?
        /// Bytes of code per chunk: a multiple of 64 KiB, at most 512 KiB.
        public var codeSize: Int
        /// Whether the pool hands out lazy stubs (``StubPool/lazyStubs(of:batchLimit:generator:onFailure:)``).
        /// Requires `kind: .context`; each slot then also holds a lazy entry.
        public var lazyBatches: Bool

        public init(
            kind: StubKind = .forward,
            placement: Placement = .packed,
            landingPads: Bool = false,
            strategy: CodeStrategy = .sharedTemplate,
            shards: Int? = nil,
            codeSize: Int = ChunkGeometry.defaultCodeSize,
            lazyBatches: Bool = false
        ) {
            self.lazyBatches = lazyBatches
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

    public let configuration: Configuration
    let layout: PoolLayout
    private let template: CodeTemplate
    private let shards: [Shard]
    private let nextSerial = Atomic<Int>(0)

    private static let nextToken = Atomic<UInt32>(1)

    struct ShardState: Sendable {
        var allocator = SlotAllocator()
        var chunks: [Chunk] = []
        /// Base address and serial of each chunk, parallel to `chunks`: the allocation path
        /// reads these instead of touching the chunk objects.
        var bases: [(base: UInt, serial: Int)] = []
        /// Released slots awaiting reclaim. Whether a slot is released is read from its data slot
        /// (only release writes the released-state target), so no per-slot state is needed.
        var quarantine: [SlotAddress] = []
        var live = 0
        var random: SplitMix64
    }

    final class Shard: Sendable {
        let index: Int
        let state: Locked<ShardState>
        init(index: Int, seed: UInt64) {
            self.index = index
            self.state = Locked(ShardState(random: SplitMix64(seed: seed &+ UInt64(index))))
        }
    }

    /// Creates a pool. Builds (once per process) the code template of its stub variant.
    public init(_ configuration: Configuration = Configuration()) throws(StubPoolError) {
        let encoder = Architecture.host.encoder
        guard !configuration.lazyBatches || configuration.kind == .context else {
            throw .invalidConfiguration("lazy batches need context stubs, not \(configuration.kind)")
        }
        guard !configuration.lazyBatches || stubpool_lazy_resolver_entry() != 0 else {
            throw .invalidConfiguration("no lazy resolver for this host")
        }
        let variant = StubVariant(kind: configuration.kind, landingPad: configuration.landingPads,
                                  lazyEntry: configuration.lazyBatches)
        let slotSize = encoder.slotSize(for: variant)
        let pageSize = Kernel.pageSize
        if let problem = ChunkGeometry.problem(codeSize: configuration.codeSize, slotSize: slotSize) {
            throw .invalidConfiguration(problem)
        }
        if configuration.strategy == .privateCopy && Kernel.refusesExecutableGain {
            throw .unsupported("the privateCopy strategy makes pages executable with mprotect, which PR_SET_MDWE (memory-deny-write-execute) forbids in this process; use sharedTemplate")
        }
        guard ChunkGeometry.regionGranularity % pageSize == 0 else {
            throw .invalidConfiguration("page size \(pageSize) is not one of \(ChunkGeometry.supportedPageSizes)")
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
        let geometry = ChunkGeometry(pageSize: pageSize, slotSize: slotSize, codeSize: configuration.codeSize)
        guard geometry.farthestDataReference <= encoder.dataReach else {
            throw .invalidConfiguration("code size \(configuration.codeSize) puts data beyond the \(encoder.dataReach)-byte reach of \(encoder.architecture.rawValue) stubs")
        }
        _ = ReleasedStubReporter.installed
        do throws(SystemError) {
            template = try CodeTemplate.template(
                for: .init(architecture: .host, variant: variant, geometry: geometry, strategy: configuration.strategy),
                encoder: encoder)
        } catch {
            throw .system(error, during: .createPool)
        }
        self.configuration = configuration
        let token = Self.nextToken.wrappingAdd(1, ordering: .relaxed).oldValue
        layout = PoolLayout(token: token, variant: variant, geometry: geometry, placement: configuration.placement, encoder: encoder)
        var seed: UInt64 = 0
        if case .random(let value) = configuration.placement { seed = value }
        shards = (0..<shardCount).map { Shard(index: $0, seed: seed) }
    }

    deinit {
        if configuration.lazyBatches { LazyDispatch.unregister(token: layout.token) }
        for shard in shards {
            shard.state.withLock { state in
                for chunk in state.chunks { ChunkRegistry.unregister(chunk) }
                state.chunks.removeAll()  // unmaps each chunk
            }
        }
    }

    // MARK: Allocation

    private var currentShard: Shard {
        guard shards.count > 1 else { return shards[0] }
        let cpu = Int(stubpool_current_cpu())
        return shards[cpu >= 0 ? cpu % shards.count : 0]
    }

    /// Maps one more chunk into `state` (called with the shard locked).
    private func addChunk(to state: inout ShardState, shard: Int) throws(SystemError) {
        let serial = nextSerial.wrappingAdd(1, ordering: .relaxed).oldValue
        let layout = self.layout
        var chunkBase: UInt = 0
        let mapping = try ChunkMapper.map(
            template: template, geometry: layout.geometry, strategy: configuration.strategy,
            guarded: configuration.landingPads
        ) { data in
            chunkBase = UInt(bitPattern: data) - UInt(layout.geometry.codeSize)
            layout.initializeData(data, chunkBase: chunkBase)
        }
        let chunk = Chunk(mapping: mapping, layout: layout, serial: serial, shard: shard, index: state.chunks.count)
        // The registry grows by zeroed leaves of 512 KiB; failing that, the chunk is unmapped.
        guard ChunkRegistry.register(chunk) else { throw SystemError(operation: .mmap, errno: ENOMEM) }
        _ = state.allocator.addChunk(capacity: layout.capacity)
        state.chunks.append(chunk)
        state.bases.append((chunk.base, serial))
    }

    /// Undoes `addChunk` for the newest chunk, which must be empty.
    private func removeNewestChunk(from state: inout ShardState) {
        let chunk = state.chunks.removeLast()
        state.bases.removeLast()
        state.allocator.removeLastChunk()
        ChunkRegistry.unregister(chunk)
    }

    private func takeSlot(_ state: inout ShardState) -> SlotAddress? {
        switch configuration.placement {
        case .random:
            let span = state.allocator.chunks.count * layout.capacity
            guard span > 0 else { return nil }
            return state.allocator.allocate(near: Int(state.random.next() % UInt64(span)))
        case .packed, .pageStart, .staggered:
            return state.allocator.allocateLowest()
        }
    }

    @inline(__always)
    private func makeStub(_ address: SlotAddress, shard: Int, in state: borrowing ShardState) -> Stub {
        let chunk = state.bases[address.chunk]
        return layout.stub(base: chunk.base, serial: chunk.serial, logical: address.slot, shard: shard, chunk: address.chunk)
    }

    /// Allocates one stub that jumps to `target` with `context`. A target in the first page
    /// throws ``StubPoolError/invalidTarget(_:)``.
    public func allocate(target: UnsafeRawPointer, context: UInt = 0) throws(StubPoolError) -> Stub {
        try checkTarget(target)
        let shard = currentShard
        let stub = try shard.state.withLock { (state) throws(StubPoolError) -> Stub in
            var slot = takeSlot(&state)
            if slot == nil {
                do throws(SystemError) { try addChunk(to: &state, shard: shard.index) } catch { throw .system(error, during: .allocate) }
                slot = takeSlot(&state)
            }
            state.live += 1
            return makeStub(slot!, shard: shard.index, in: state)
        }
        DataSlot(address: stub.dataSlot).publish(target: UInt(bitPattern: target), context: context)
        return stub
    }

    /// Allocates `count` stubs that all jump to `target` with `context`: all of them or none.
    public func allocate(count: Int, target: UnsafeRawPointer, context: UInt = 0) throws(StubPoolError) -> [Stub] {
        guard count > 0 && count <= Self.maximumBulkCount else { throw .invalidCount(count) }
        try checkTarget(target)
        let shard = currentShard
        let stubs = try shard.state.withLock { (state) throws(StubPoolError) -> [Stub] in
            let missing = count - state.allocator.freeSlots
            if missing > 0 {
                let newChunks = (missing + layout.capacity - 1) / layout.capacity
                for added in 0..<newChunks {
                    do throws(SystemError) {
                        try addChunk(to: &state, shard: shard.index)
                    } catch {
                        for _ in 0..<added { removeNewestChunk(from: &state) }
                        throw .system(error, during: .allocateBulk)
                    }
                }
            }
            var stubs: [Stub] = []
            stubs.reserveCapacity(count)
            switch configuration.placement {
            case .random:
                for _ in 0..<count { stubs.append(makeStub(takeSlot(&state)!, shard: shard.index, in: state)) }
            case .packed, .pageStart, .staggered:
                let bases = state.bases
                let layout = self.layout
                _ = state.allocator.allocateLowest(count: count) { address in
                    let chunk = bases[address.chunk]
                    stubs.append(layout.stub(
                        base: chunk.base, serial: chunk.serial, logical: address.slot, shard: shard.index, chunk: address.chunk))
                }
            }
            state.live += count
            return stubs
        }
        let target = UInt(bitPattern: target)
        for stub in stubs { DataSlot(address: stub.dataSlot).publish(target: target, context: context) }
        return stubs
    }

    // MARK: Retargeting

    private func checkOwned(_ stub: Stub) throws(StubPoolError) {
        guard stub.poolToken == layout.token else { throw .foreignStub(stub) }
    }

    /// Targets in the first page (null plus a small offset: a missing function pointer, an
    /// integer passed by mistake) can never be code.
    @inline(__always)
    private func checkTarget(_ target: UnsafeRawPointer) throws(StubPoolError) {
        guard UInt(bitPattern: target) >= UInt(Kernel.pageSize) else { throw .invalidTarget(UInt(bitPattern: target)) }
    }

    /// Points `stub` at `target` with `context`. The context is written first, then a release
    /// store publishes the target: a thread running through the stub meanwhile reaches the old
    /// target or the new one, never a torn address.
    public func retarget(_ stub: Stub, to target: UnsafeRawPointer, context: UInt) throws(StubPoolError) {
        try checkOwned(stub)
        let slot = DataSlot(address: stub.dataSlot)
        guard !layout.isReleased(target: slot.target, entry: stub.address) else { throw .released(id: stub.id) }
        try checkTarget(target)
        guard !layout.isReleased(target: UInt(bitPattern: target), entry: stub.address) else {
            throw .invalidTarget(UInt(bitPattern: target))
        }
        forgetLazy(stub)
        slot.publish(target: UInt(bitPattern: target), context: context)
    }

    /// Points `stub` at `target`, keeping its context.
    public func retarget(_ stub: Stub, to target: UnsafeRawPointer) throws(StubPoolError) {
        try checkOwned(stub)
        let slot = DataSlot(address: stub.dataSlot)
        guard !layout.isReleased(target: slot.target, entry: stub.address) else { throw .released(id: stub.id) }
        try checkTarget(target)
        guard !layout.isReleased(target: UInt(bitPattern: target), entry: stub.address) else {
            throw .invalidTarget(UInt(bitPattern: target))
        }
        forgetLazy(stub)
        slot.publish(target: UInt(bitPattern: target))
    }

    /// Replaces `stub`'s context (release store), keeping its target.
    public func setContext(_ stub: Stub, _ context: UInt) throws(StubPoolError) {
        try checkOwned(stub)
        let slot = DataSlot(address: stub.dataSlot)
        guard !layout.isReleased(target: slot.target, entry: stub.address) else { throw .released(id: stub.id) }
        forgetLazy(stub)
        slot.publish(context: context)
    }

    /// The current target of `stub`.
    public func target(of stub: Stub) throws(StubPoolError) -> UnsafeRawPointer {
        try checkOwned(stub)
        return UnsafeRawPointer(bitPattern: DataSlot(address: stub.dataSlot).target)!
    }

    /// The current context of `stub`.
    public func context(of stub: Stub) throws(StubPoolError) -> UInt {
        try checkOwned(stub)
        return DataSlot(address: stub.dataSlot).context
    }

    /// A pending lazy stub that is retargeted or released is no longer materialized by a batch.
    private func forgetLazy(_ stub: Stub) {
        guard configuration.lazyBatches else { return }
        LazyDispatch.controller(forToken: layout.token)?.forget(stub)
    }

    // MARK: Release

    /// Releases `stub`: from now on calling it reports the call and aborts. Its slot is
    /// quarantined until ``reclaim()``.
    public func release(_ stub: Stub) throws(StubPoolError) {
        try checkOwned(stub)
        guard Int(stub.shard) < shards.count else { throw .foreignStub(stub) }
        try shards[Int(stub.shard)].state.withLock { (state) throws(StubPoolError) in
            let address = SlotAddress(chunk: Int(stub.chunk), slot: Int(stub.slot))
            guard address.chunk < state.bases.count, address.slot < layout.capacity,
                  makeStub(address, shard: Int(stub.shard), in: state) == stub else {
                throw .foreignStub(stub)
            }
            guard isLive(stub, in: state) else { throw .released(id: stub.id) }
            forgetLazy(stub)
            let released = layout.releasedState(entry: stub.address)
            DataSlot(address: stub.dataSlot).publish(target: released.target, context: released.context)
            state.quarantine.append(address)
            state.live -= 1
        }
    }

    /// Releases the stub whose entry is `address`.
    public func release(address: UInt) throws(StubPoolError) {
        try release(stub(entry: address))
    }

    /// Makes every quarantined slot allocatable again; returns how many.
    ///
    /// Safe only when no thread can still be executing inside any released stub and no caller
    /// still holds a released stub's address: a reused slot belongs to its new owner.
    @discardableResult
    public func reclaim() -> Int {
        var reclaimed = 0
        for shard in shards {
            shard.state.withLock { state in
                for address in state.quarantine { state.allocator.free(address) }
                reclaimed += state.quarantine.count
                state.quarantine.removeAll(keepingCapacity: true)
            }
        }
        return reclaimed
    }

    // MARK: Lookup

    /// The handle of the slot whose code contains `address`, live or not.
    private func resolve(_ address: UInt) -> Stub? {
        let token = layout.token
        return ChunkRegistry.withChunk(containing: address) { chunk in
            guard chunk.layout.token == token, let logical = chunk.logicalSlot(containing: address) else { return nil }
            return chunk.stub(ofLogical: logical)
        }
    }

    /// The stub whose entry is exactly `address` (live or released, not yet reclaimed), in O(1):
    /// how callers that keep only executable addresses (the C API, say) name their stubs.
    /// Throws ``StubPoolError/foreignAddress(_:)`` for any other address.
    public func stub(entry address: UInt) throws(StubPoolError) -> Stub {
        guard let stub = resolve(address), stub.address == address else { throw .foreignAddress(address) }
        return stub
    }

    /// The live stub whose code contains `address` (its entry or any byte of its slot), in O(1).
    public func stub(containing address: UInt) -> Stub? {
        guard let stub = resolve(address) else { return nil }
        let live = shards[Int(stub.shard)].state.withLock { state in isLive(stub, in: state) }
        return live ? stub : nil
    }

    /// Allocated and not released (called with the stub's shard locked). Released slots stay
    /// allocated until reclaim; only release writes the released-state target.
    private func isLive(_ stub: Stub, in state: borrowing ShardState) -> Bool {
        !state.allocator.isFree(SlotAddress(chunk: Int(stub.chunk), slot: Int(stub.slot)))
            && !layout.isReleased(target: DataSlot(address: stub.dataSlot).target, entry: stub.address)
    }

    // MARK: Statistics

    /// Counts and memory use. Resident sizes come from `mincore`; should it fail, the mapped size
    /// is reported instead.
    public func statistics() -> Statistics {
        var statistics = Statistics()
        let geometry = layout.geometry
        var sharedCodeCounted = false
        for shard in shards {
            shard.state.withLock { state in
                statistics.liveStubs += state.live
                statistics.quarantinedStubs += state.quarantine.count
                statistics.chunks += state.chunks.count
                statistics.metadataBytes += state.allocator.metadataBytes + state.chunks.count * MemoryLayout<Chunk>.size
                for chunk in state.chunks {
                    statistics.residentDataBytes +=
                        (try? Kernel.residentBytes(chunk.dataRange.lowerBound, size: geometry.dataSize)) ?? geometry.dataSize
                    if configuration.strategy == .privateCopy || !sharedCodeCounted {
                        statistics.residentCodeBytes +=
                            (try? Kernel.residentBytes(chunk.base, size: geometry.codeSize)) ?? geometry.codeSize
                        sharedCodeCounted = true
                    }
                }
            }
        }
        statistics.codeBytesMapped = statistics.chunks * geometry.codeSize
        statistics.dataBytesMapped = statistics.chunks * geometry.dataSize
        statistics.mappings = statistics.chunks * 2
        return statistics
    }

    /// Address ranges of this pool's code and data regions (for audits and diagnostics).
    public func mappedRegions() -> [(code: Range<UInt>, data: Range<UInt>)] {
        shards.flatMap { shard in
            shard.state.withLock { state in state.chunks.map { ($0.codeRange, $0.dataRange) } }
        }
    }
}
