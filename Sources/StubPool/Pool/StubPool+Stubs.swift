extension StubPool {
    // MARK: Handles

    /// The data slot of `stub`, a handle of this pool (live or not): a token check and arithmetic.
    @inline(__always)
    private func dataSlot(of stub: Stub) throws(StubPoolError) -> DataSlot {
        guard layout.owns(stub) else { throw .foreignStub(stub) }
        return DataSlot(address: layout.dataSlot(of: stub))
    }

    /// The data slot and quarantine key of `stub`, checked against the chunk index: the handle
    /// must name one of this pool's mapped slots exactly (a forged or stale handle of a returned
    /// chunk throws).
    @inline(__always)
    func checkedSlot(of stub: Stub) throws(StubPoolError) -> (data: DataSlot, key: PoolShared.SlotKey) {
        guard stub.poolToken == layout.token, let found = entrySlot(stub.address), found.stub.slot == stub.slot else {
            throw .foreignStub(stub)
        }
        return (found.data, found.key)
    }

    /// The slot of this pool whose entry (`.code`) or payload (`.payload`) begins exactly at
    /// `address` (live or not), with its data slot and quarantine key: one lookup in the chunk
    /// index, then arithmetic.
    @inline(__always)
    private func slot(at address: UInt, in region: ChunkRegistry.Region) -> (stub: Stub, data: DataSlot, key: PoolShared.SlotKey)? {
        // Two words, not `let layout = self.layout`: copying the whole layout struct was a
        // memcpy call measured at ≈10% of a closure's allocate+prepare+free.
        let token = layout.token, slotShift = layout.slotShift
        return ChunkRegistry.withChunk(containing: address, in: region) { chunk in
            guard chunk.layout.token == token else { return nil }
            switch region {
            case .code:
                guard let slot = chunk.slot(ofEntry: address) else { return nil }
                return Self.slot((address, (address &- chunk.base) >> slotShift, slot.logical, slot.dataSlot),
                                 shard: chunk.shard, chunk: chunk.index, token: token)
            case .payload:
                guard let found = chunk.slot(ofPayload: address) else { return nil }
                return Self.slot(found, shard: chunk.shard, chunk: chunk.index, token: token)
            }
        }
    }

    /// A found slot as the handle, data slot and quarantine key the callers use.
    @inline(__always)
    private static func slot(
        _ found: (entry: UInt, physical: UInt, logical: Int, dataSlot: UInt), shard: Int, chunk: Int, token: UInt32
    ) -> (stub: Stub, data: DataSlot, key: PoolShared.SlotKey) {
        (Stub(address: found.entry, poolToken: token, slot: UInt32(truncatingIfNeeded: found.physical)),
         DataSlot(address: found.dataSlot),
         PoolShared.SlotKey(shard: shard, chunk: chunk, logical: found.logical))
    }

    @inline(__always)
    private func entrySlot(_ address: UInt) -> (stub: Stub, data: DataSlot, key: PoolShared.SlotKey)? {
        slot(at: address, in: .code)
    }

    /// The data slot of `stub`, which must be live.
    @inline(__always)
    private func liveDataSlot(of stub: Stub) throws(StubPoolError) -> DataSlot {
        let slot = try dataSlot(of: stub)
        guard !layout.isReleased(target: slot.target, entry: stub.address) else { throw .released(id: stub.id) }
        return slot
    }

    /// A new target must be code, and not the value that marks a stub released.
    @inline(__always)
    private func checkNewTarget(_ target: UnsafeRawPointer, of stub: Stub) throws(StubPoolError) {
        guard layout.accepts(target: UInt(bitPattern: target), entry: stub.address, lowestTarget: lowestTarget) else {
            throw .invalidTarget(UInt(bitPattern: target))
        }
    }

    // MARK: Retargeting

    /// Points `stub` at `target` with `context`. The context is written first, then a release
    /// store publishes the target: a thread running through the stub meanwhile reaches the old
    /// target or the new one, never a torn address.
    // @inlinable: as a cross-module call this measured ≈4.7 ns (a 45-instruction round trip in a
    // loop over 1,024 stubs); inlined, the checks and the two stores cost ≈1 ns. Errors and lazy
    // pools take the out-of-line path.
    @inlinable
    public func retarget(_ stub: Stub, to target: UnsafeRawPointer, context: UInt) throws(StubPoolError) {
        let address = UInt(bitPattern: target)
        if let slot = inlinedLiveDataSlot(of: stub), layout.accepts(target: address, entry: stub.address, lowestTarget: lowestTarget) {
            slot.publish(target: address, context: context)
            return
        }
        try retargetChecked(stub, to: target, context: context)
    }

    /// Points `stub` at `target`, keeping its context.
    @inlinable
    public func retarget(_ stub: Stub, to target: UnsafeRawPointer) throws(StubPoolError) {
        let address = UInt(bitPattern: target)
        if let slot = inlinedLiveDataSlot(of: stub), layout.accepts(target: address, entry: stub.address, lowestTarget: lowestTarget) {
            slot.publish(target: address)
            return
        }
        try retargetChecked(stub, to: target, context: nil)
    }

    /// The data slot of a live handle of this pool, or nil (then the out-of-line path says why);
    /// also nil for lazy pools, whose retargets must drop pending requests, and for pools with
    /// data slots in their payloads (see ``inlineRetargetToken``). The slot bound of
    /// ``PoolLayout/owns(_:)`` is left to the out-of-line checks: handles are made only by the
    /// pool, so one carrying this pool's token has a stub slot.
    @inlinable @inline(__always)
    func inlinedLiveDataSlot(of stub: Stub) -> DataSlot? {
        guard UInt64(stub.poolToken) == inlineRetargetToken else { return nil }
        let slot = DataSlot(address: layout.dataSlot(of: stub))
        return layout.holdsReleasedValue(target: slot.target, entry: stub.address) ? nil : slot
    }

    /// Retarget with every check spelled out as an error, and lazy requests dropped.
    @usableFromInline @inline(never)
    func retargetChecked(_ stub: Stub, to target: UnsafeRawPointer, context: UInt?) throws(StubPoolError) {
        let slot = try liveDataSlot(of: stub)
        try checkNewTarget(target, of: stub)
        forgetLazy(stub)
        if let context {
            slot.publish(target: UInt(bitPattern: target), context: context)
        } else {
            slot.publish(target: UInt(bitPattern: target))
        }
    }

    /// Points every stub of `stubs` at `target` with `context`: all of them, or none if any is
    /// foreign or released.
    public func retarget(_ stubs: StubRange, to target: UnsafeRawPointer, context: UInt) throws(StubPoolError) {
        try checkLive(stubs)
        if let first = stubs.first { try checkNewTarget(target, of: first) }
        forgetLazy(stubs)
        publish(stubs, target: UInt(bitPattern: target), context: context)
    }

    /// Replaces `stub`'s context (release store), keeping its target.
    public func setContext(_ context: UInt, for stub: Stub) throws(StubPoolError) {
        let slot = try liveDataSlot(of: stub)
        forgetLazy(stub)
        slot.publish(context: context)
    }

    /// The current target of `stub`.
    public func target(of stub: Stub) throws(StubPoolError) -> UnsafeRawPointer {
        UnsafeRawPointer(bitPattern: try dataSlot(of: stub).target)!
    }

    /// The payload of `stub`: ``Configuration/payloadSize`` writable bytes that belong to the stub
    /// (aligned as ``Configuration/payloadSize`` says), found by arithmetic. The memory stays mapped while the stub's chunk is;
    /// after release and ``reclaim()`` it belongs to the slot's next stub. Throws
    /// ``StubPoolError/invalidConfiguration(_:)`` for a pool without payloads.
    public func payload(of stub: Stub) throws(StubPoolError) -> UnsafeMutableRawPointer {
        try checkPayloads()
        guard layout.owns(stub) else { throw .foreignStub(stub) }
        return UnsafeMutableRawPointer(bitPattern: layout.payload(of: stub))!
    }

    /// Allocates one stub (as ``allocate(target:context:)``) and returns its payload with it.
    /// Throws ``StubPoolError/invalidConfiguration(_:)`` for a pool without payloads, allocating
    /// nothing.
    public func allocateWithPayload(
        target: UnsafeRawPointer, context: UInt = 0
    ) throws(StubPoolError) -> (stub: Stub, payload: UnsafeMutableRawPointer) {
        try checkPayloads()
        let stub = try allocate(target: target, context: context)
        return (stub, UnsafeMutableRawPointer(bitPattern: layout.payload(of: stub))!)
    }

    /// Allocates a stub whose context is its own payload's address, and returns both: a closure
    /// whose record is the payload (the libffi drop-in's closures). Errors as
    /// ``allocateWithPayload(target:context:)``.
    public func allocateClosure(target: UnsafeRawPointer) throws(StubPoolError) -> (stub: Stub, payload: UnsafeMutableRawPointer) {
        try checkPayloads()
        let stub = try allocate(target: target, context: 0)
        let payload = layout.payload(of: stub)
        // Nobody else knows the stub yet: the second store cannot be seen half-done.
        DataSlot(address: layout.dataSlot(of: stub)).publish(context: payload)
        return (stub, UnsafeMutableRawPointer(bitPattern: payload)!)
    }

    /// Allocates `stubs.count` closures at once, each as ``allocateClosure(target:)`` (its context is
    /// its own payload's address), writing closure i's stub entry to `stubs[i]` and its payload to
    /// `payloads[i]`, lowest addresses first: all of them or none. One shard lock for the batch,
    /// where single allocations make one call each: the libffi drop-in keeps a few ready per
    /// thread this way. Throws ``StubPoolError/invalidCount(_:)`` unless both buffers hold
    /// `1...maximumBulkCount` elements alike, and as ``allocate(count:target:context:)`` and
    /// ``allocateClosure(target:)`` otherwise.
    public func allocateClosures(
        target: UnsafeRawPointer, stubs: UnsafeMutableBufferPointer<UnsafeMutableRawPointer?>,
        payloads: UnsafeMutableBufferPointer<UnsafeMutableRawPointer?>
    ) throws(StubPoolError) {
        try checkPayloads()
        guard payloads.count == stubs.count else { throw .invalidCount(payloads.count) }
        try Self.checkBulkCount(stubs.count)
        try checkTarget(target)
        let range = try reserveRange(count: stubs.count)
        let address = UInt(bitPattern: target)
        // A run is one chunk's, evenly spaced: entries, data slots and payloads by strides (a
        // handle per stub made this loop ≈40 instructions per closure, against ≈10).
        let dataStride = UInt(range.slotStride) &* layout.dataStride
        let payloadStride = UInt(range.slotStride) &* layout.payloadSize
        for run in range.runs {
            let head = range.stub(0, of: run)
            var entry = run.first, data = layout.dataSlot(of: head), payload = layout.payload(of: head)
            for position in run.offset..<(run.offset &+ run.count) {
                // Nobody else knows the stub yet: the two words need no ordering across stubs.
                DataSlot(address: data).publish(target: address, context: payload)
                stubs[position] = UnsafeMutableRawPointer(bitPattern: entry)
                payloads[position] = UnsafeMutableRawPointer(bitPattern: payload)
                entry &+= range.stride
                data &+= dataStride
                payload &+= payloadStride
            }
        }
    }

    private func checkPayloads() throws(StubPoolError) {
        guard layout.payloadSize > 0 else { throw .invalidConfiguration("this pool has no payloads (payloadSize is 0)") }
    }

    /// The current context of `stub`.
    public func context(of stub: Stub) throws(StubPoolError) -> UInt {
        try dataSlot(of: stub).context
    }

    /// A pending lazy stub that is retargeted or released is no longer materialized by a batch.
    // The check inlined, the rest out of line: as a call, this and forgetName(_:) measured ≈3 ns
    // of a 13 ns release.
    @inline(__always)
    func forgetLazy(_ stub: Stub) {
        guard configuration.lazyBatches else { return }
        forgetPendingLazy(stub)
    }

    @inline(never)
    private func forgetPendingLazy(_ stub: Stub) {
        lazyController.controller?.forget(stub)
    }

    func forgetLazy(_ stubs: StubRange) {
        guard configuration.lazyBatches else { return }
        lazyController.controller?.forget(stubs)
    }

    /// Throws unless every stub of `stubs` is a live stub of this pool (the ends of each run
    /// checked against the chunk index); returns the quarantine keys of each run's ends.
    @discardableResult
    private func checkLive(_ stubs: StubRange) throws(StubPoolError) -> [(head: PoolShared.SlotKey, tail: PoolShared.SlotKey)] {
        let dataStride = UInt(stubs.slotStride) &* layout.dataStride
        var checked: [(head: PoolShared.SlotKey, tail: PoolShared.SlotKey)] = []
        checked.reserveCapacity(stubs.runs.count)
        for run in stubs.runs {
            let head = try checkedSlot(of: stubs.stub(0, of: run))
            let tail = try checkedSlot(of: stubs.stub(run.count - 1, of: run))
            // Wrapping arithmetic: head and tail were checked, so every slot between is the pool's.
            var data = head.data.address
            var entry = run.first
            for position in 0..<run.count {
                if layout.isReleased(target: DataSlot(address: data).target, entry: entry) {
                    throw .released(id: stubs.stub(position, of: run).id)
                }
                data &+= dataStride
                entry &+= stubs.stride
            }
            checked.append((head.key, tail.key))
        }
        return checked
    }

    // MARK: Release

    /// Releases `stub`: from now on calling it reports the call and aborts. Its slot is
    /// quarantined until ``reclaim()``. Releasing a released stub throws
    /// ``StubPoolError/released(id:)``; two threads releasing the same stub at the same moment is
    /// a race in the caller — both may succeed, and the slot is still freed once.
    public func release(_ stub: Stub) throws(StubPoolError) {
        let (slot, key) = try checkedSlot(of: stub)
        try release(stub, slot: slot, key: key)
    }

    @inline(__always)
    private func release(_ stub: Stub, slot: DataSlot, key: PoolShared.SlotKey) throws(StubPoolError) {
        guard markReleased(stub, slot: slot, layout: layout) else { throw .released(id: stub.id) }
        shared.quarantine(key)
    }

    /// Writes the released state into `stub`'s data slot `slot` unless it is released already
    /// (then false, nothing changed); the caller quarantines the slot.
    /// (`layout` is this pool's: a loop passes its own copy.)
    @inline(__always)
    private func markReleased(_ stub: Stub, slot: DataSlot, layout: borrowing PoolLayout) -> Bool {
        guard !layout.isReleased(target: slot.target, entry: stub.address) else { return false }
        forgetLazy(stub)
        forgetName(stub)
        // Plain stores, no compare-and-swap: a locked instruction right after the context store
        // drains the store buffer and measured ≈12 ns of a 30 ns release.
        let released = layout.releasedState(entry: stub.address)
        slot.publish(target: released.target, context: released.context)
        return true
    }

    /// Releases the stub whose entry is `address`.
    /// Throws ``StubPoolError/foreignAddress(_:)`` for an address that is not an entry of this pool.
    public func release(address: UInt) throws(StubPoolError) {
        guard let found = entrySlot(address) else { throw .foreignAddress(address) }
        try release(found.stub, slot: found.data, key: found.key)
    }

    /// Releases the stub whose payload begins exactly at `payload` (one lookup: the libffi
    /// drop-in frees a closure, which is a payload, this way).
    /// Throws ``StubPoolError/foreignAddress(_:)`` for an address that is not the payload of one of
    /// this pool's stubs, and as ``release(_:)-(Stub)`` otherwise.
    public func release(payload: UInt) throws(StubPoolError) {
        guard let found = slot(at: payload, in: .payload) else { throw .foreignAddress(payload) }
        try release(found.stub, slot: found.data, key: found.key)
    }

    /// What ``releaseEach(payloads:outcomes:)`` did with one payload.
    public enum PayloadReleaseOutcome: UInt8, Sendable {
        /// Its stub is released, as by ``release(payload:)``.
        case released
        /// Not the payload of one of this pool's stubs: nothing changed.
        case foreign
        /// Its stub was released already: nothing changed.
        case alreadyReleased
    }

    /// Releases, one by one, each stub whose payload begins exactly at one of `payloads` (as
    /// ``release(payload:)``), and writes what happened to payload i into `outcomes[i]`: a foreign
    /// or already released payload changes nothing and does not stop the others. Nothing at a
    /// payload is read. The slots join the quarantine together, under one lock: the libffi
    /// drop-in frees closures in batches this way (one call and one lock per batch instead of
    /// per closure). Throws ``StubPoolError/invalidCount(_:)`` unless both buffers hold
    /// `1...maximumBulkCount` elements alike.
    public func releaseEach(
        payloads: UnsafeBufferPointer<UInt>, outcomes: UnsafeMutableBufferPointer<PayloadReleaseOutcome>
    ) throws(StubPoolError) {
        guard outcomes.count == payloads.count else { throw .invalidCount(outcomes.count) }
        try Self.checkBulkCount(payloads.count)
        let token = layout.token
        withUnsafeTemporaryAllocation(of: UInt.self, capacity: payloads.count) { keys in
            var queued = 0, index = 0
            while index < payloads.count {
                // One chunk lookup per run of payloads in one chunk (a thread frees closures much
                // in the order it made them): ≈40 of the ≈90 instructions of each release.
                let next = ChunkRegistry.withChunk(containing: payloads[index], in: .payload) { chunk -> Int? in
                    guard chunk.layout.token == token else { return nil }
                    // The chunk's values in locals: read through the class, they were reloaded
                    // after each release's stores (≈15 loads per release).
                    let layout = chunk.layout, base = chunk.base, payloadRange = chunk.payloadRange
                    let shard = chunk.shard, chunkIndex = chunk.index
                    var position = index
                    repeat {
                        let outcome: PayloadReleaseOutcome
                        if let found = layout.slot(ofPayload: payloads[position], chunkBase: base, payloadRange: payloadRange) {
                            let slot = Self.slot(found, shard: shard, chunk: chunkIndex, token: token)
                            if markReleased(slot.stub, slot: slot.data, layout: layout) {
                                keys[queued] = slot.key.raw
                                queued &+= 1
                                outcome = .released
                            } else {
                                outcome = .alreadyReleased
                            }
                        } else {
                            outcome = .foreign
                        }
                        outcomes[position] = outcome
                        position &+= 1
                    } while position < payloads.count && payloadRange.contains(payloads[position])
                    return position
                }
                if let next {
                    index = next
                } else {
                    outcomes[index] = .foreign
                    index &+= 1
                }
            }
            guard queued > 0 else { return }
            quarantine(keys: keys, count: queued)
        }
    }

    /// Consecutive slots shorter than this join the quarantine one key each.
    static let shortestQuarantineRun = 8

    /// Quarantines the first `count` of `keys` (released in bulk; reordered). Consecutive slots
    /// (a thread frees closures much in the order it made them) go in as runs, which a reclaim
    /// frees a bitmap word at a time where single keys cost ≈40 instructions each; the rest as
    /// single keys, in one copy.
    private func quarantine(keys: UnsafeMutableBufferPointer<UInt>, count: Int) {
        withUnsafeTemporaryAllocation(of: PoolShared.QuarantineRun.self, capacity: count / Self.shortestQuarantineRun + 1) { runs in
            var singles = 0, runCount = 0, start = 0
            while start < count {
                var end = start &+ 1
                while end < count && keys[end] == keys[end &- 1] &+ 1 { end &+= 1 }
                if end &- start >= Self.shortestQuarantineRun {
                    runs[runCount] = .init(first: .init(raw: keys[start]), count: end &- start)
                    runCount &+= 1
                } else {
                    // Compacted in place: the write index never passes the read index.
                    for position in start..<end {
                        keys[singles] = keys[position]
                        singles &+= 1
                    }
                }
                start = end
            }
            shared.quarantine.withLock { quarantine in
                if singles > 0 { quarantine.add(contentsOf: UnsafeBufferPointer(rebasing: keys[..<singles])) }
                for run in runs[..<runCount] { quarantine.add(run) }
                quarantine.releasedInBulk += count
            }
        }
    }

    /// Releases every stub of `stubs`: all of them, or none if any is foreign or already released.
    public func release(_ stubs: StubRange) throws(StubPoolError) {
        let checked = try checkLive(stubs)
        // A run is consecutive logical slots of one chunk unless the placement's spacing repeats
        // across pages (staggered): then its slots are queued one by one.
        var runs: [PoolShared.QuarantineRun] = []
        var singles: [UInt] = []
        for (run, ends) in zip(stubs.runs, checked) {
            if ends.tail.raw &- ends.head.raw == UInt(run.count - 1) {
                runs.append(.init(first: ends.head, count: run.count))
            } else {
                for position in 0..<run.count { singles.append(try checkedSlot(of: stubs.stub(position, of: run)).key.raw) }
            }
        }
        forgetLazy(stubs)
        forgetNames(stubs)
        layout.forEachDataSlot(of: stubs) { _, entry, data in
            let released = layout.releasedState(entry: entry)
            data.publish(target: released.target, context: released.context)
        }
        shared.quarantine.withLock { quarantine in
            for run in runs { quarantine.add(run) }
            for key in singles { quarantine.add(key) }
            quarantine.releasedInBulk += stubs.count
        }
    }

    /// Makes every quarantined slot allocatable again; returns how many slots.
    ///
    /// Memory goes back to the system with hysteresis: a chunk that was entirely free at the
    /// previous reclaim and is still free and unused now is unmapped (keeping one spare per
    /// shard), so a program that fills and empties the pool between reclaims keeps its chunks.
    /// ``trim()`` returns free chunks at once.
    ///
    /// Safe only when no thread can still be executing inside any released stub and no caller
    /// still holds a released stub's address: a reused slot belongs to its new owner.
    @discardableResult
    public func reclaim() -> Int { shared.reclaim() }

    /// Unmaps every entirely free chunk now, keeping one spare per shard (after a large teardown,
    /// or under memory pressure); returns how many chunks. Slots still quarantined or cached by
    /// threads keep their chunks.
    @discardableResult
    public func trim() -> Int { shared.trim() }

    // MARK: Lookup

    /// The handle of the slot whose code contains `address`, live or not.
    private func resolve(_ address: UInt) -> Stub? {
        let token = layout.token
        return ChunkRegistry.withChunk(containing: address) { chunk in
            guard chunk.layout.token == token, let logical = chunk.logicalSlot(containing: address) else { return nil }
            return chunk.stub(ofLogical: logical)
        }
    }

    /// The stub whose entry is exactly `address` (live or released, not yet reclaimed), in O(1).
    /// Throws ``StubPoolError/foreignAddress(_:)`` for any other address.
    public func stub(entry address: UInt) throws(StubPoolError) -> Stub {
        guard let found = entrySlot(address) else { throw .foreignAddress(address) }
        return found.stub
    }

    /// The stub whose payload begins exactly at `address` (live, or released and not yet
    /// reclaimed), in O(1) and from the address alone: nothing at `address` is read, so any
    /// pointer may be asked about, mapped or not. Nil for every other address: another pool's
    /// payload, a byte inside a payload, memory this library does not own.
    public func stub(payload address: UInt) -> Stub? {
        slot(at: address, in: .payload)?.stub
    }

    /// The live stub whose code contains `address` (its entry or any byte of its slot), in O(1).
    public func stub(containing address: UInt) -> Stub? {
        guard let stub = resolve(address), let slot = try? dataSlot(of: stub),
              !layout.isReleased(target: slot.target, entry: stub.address) else { return nil }
        return stub
    }

    // MARK: Statistics

    /// Counts and memory use. Resident sizes come from `mincore`; should it fail, the mapped size
    /// is reported instead.
    public func statistics() -> StubPoolStatistics {
        var statistics = StubPoolStatistics()
        let geometry = layout.geometry
        // Live = handed out (by the shards' locked paths and by the thread caches) - released
        // (singles through the caches, bulk straight into the quarantine).
        var live = 0, queued = 0, slotsInUse = 0
        shared.directory.withLock { directory in
            live = directory.retiredAllocated - directory.retiredReleased
            for cache in directory.caches.values {
                live += cache.allocatedCount - cache.releasedCount
                queued += cache.queuedReleases
            }
        }
        var sharedCodeCounted = false
        for shard in shared.shards {
            shard.state.withLock { state in
                live += state.handedOut
                statistics.chunks += state.allocator.activeChunks
                slotsInUse += state.allocator.activeChunks * layout.capacity - state.allocator.freeSlots
                statistics.returnedChunks += state.returnedChunks
                statistics.metadataBytes += state.allocator.metadataBytes + state.allocator.activeChunks * MemoryLayout<Chunk>.size
                for case let chunk? in state.chunks {
                    let writable = geometry.dataSize + layout.payloadRegionSize
                    statistics.residentDataBytes +=
                        (try? Kernel.residentBytes(chunk.dataRange.lowerBound, size: writable)) ?? writable
                    if configuration.strategy == .privateCopy || !sharedCodeCounted {
                        statistics.residentCodeBytes +=
                            (try? Kernel.residentBytes(chunk.base, size: geometry.codeSize)) ?? geometry.codeSize
                        sharedCodeCounted = true
                    }
                }
            }
        }
        let (quarantinedInPool, releasedInBulk, duplicates) = shared.quarantine.withLock { ($0.count, $0.releasedInBulk, $0.duplicates) }
        statistics.quarantinedStubs = quarantinedInPool + queued
        statistics.liveStubs = live - releasedInBulk + duplicates
        // Slots taken from the bitmaps that are neither live nor quarantined sit in thread caches.
        statistics.cachedSlots = max(0, slotsInUse - statistics.liveStubs - statistics.quarantinedStubs)
        statistics.codeBytesMapped = statistics.chunks * geometry.codeSize
        statistics.dataBytesMapped = statistics.chunks * geometry.dataSize
        statistics.payloadBytesMapped = statistics.chunks * layout.payloadRegionSize
        statistics.returnedBytes = statistics.returnedChunks * (geometry.chunkSize + layout.payloadRegionSize)
        statistics.mappings = statistics.chunks * 2
        return statistics
    }

    /// Address ranges of each chunk's code region (executable) and of its data slots and payloads
    /// (writable), for audits and diagnostics; the same shape as ``CodeArena/mappedRegions()``.
    public func mappedRegions() -> [(executable: Range<UInt>, writable: Range<UInt>)] {
        shared.shards.flatMap { shard in
            shard.state.withLock { state in
                state.chunks.compactMap { $0.map { ($0.codeRange, $0.dataRange.lowerBound..<$0.payloadRange.upperBound) } }
            }
        }
    }
}
