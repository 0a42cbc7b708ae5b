import Synchronization

// Names of stubs (for profilers and inspection) and the code-load records of handed-out slots
// (see ``Profiling``).
extension StubPool {
    /// Names `stub` (e.g. `wasm-entry:math.add`) in profiles: recorded at once if profiling is on,
    /// kept until the stub is released. Retargeting does not change a name.
    /// Throws ``StubPoolError/foreignStub(_:)`` unless `stub` is a live stub of this pool.
    public func setName(_ name: String, for stub: Stub) throws(StubPoolError) {
        let slot = try checkedSlot(of: stub)
        guard !layout.isReleased(target: slot.data.target, entry: stub.address) else { throw .foreignStub(stub) }
        names.withLock { $0[stub.address] = name }
        hasNames.store(true, ordering: .relaxed)
        if Profiling.isActive {
            Profiling.record(count: 1, piece: { _ in (stub.address, layout.geometry.slotSize) }, name: { _ in .text(name) })
            if Profiling.outputs.contains(.gdb), let chunk = ChunkRegistry.chunk(containing: stub.address) {
                // gdb names the chunk's stubs from one symbol file: rebuilt with the new name.
                let code = chunk.codeRange
                Profiling.renameInChunk(owner: .chunk(chunk.base), names: names.withLock { $0.filter { code.contains($0.key) } })
            }
        }
    }

    /// The name of `stub`: the one given with ``setName(_:for:)``, else `<pool name>#<id>` or
    /// `stubpool:<kind>#<id>`.
    public func name(of stub: Stub) -> String {
        if hasNames.load(ordering: .relaxed), let name = names.withLock({ $0[stub.address] }) { return name }
        return defaultNamePrefix + String(stub.id)
    }

    /// Drops the names of released stubs (the check inlined: see forgetLazy(_:)).
    @inline(__always)
    func forgetName(_ stub: Stub) {
        guard hasNames.load(ordering: .relaxed) else { return }
        forgetGivenName(stub)
    }

    @inline(never)
    private func forgetGivenName(_ stub: Stub) {
        names.withLock { _ = $0.removeValue(forKey: stub.address) }
    }

    func forgetNames(_ stubs: StubRange) {
        guard hasNames.load(ordering: .relaxed) else { return }
        names.withLock { names in for stub in stubs { names.removeValue(forKey: stub.address) } }
    }

    /// Records `count` stubs handed out from `head` on, consecutive logical slots of one chunk
    /// (so consecutive ids and addresses), as one record named after the run: `<prefix>#<first
    /// id>-<last id>` (one stub: its default name). One record per run, not per stub, keeps
    /// profiling bulk allocation cheap (a record and its code bytes per stub would cost more than
    /// the allocation itself); stubs named with ``setName(_:for:)`` get records of their own.
    func recordHandedOut(_ head: Stub, count: Int) {
        let firstID = head.id, prefix = defaultNamePrefix
        let name: CodeName = count == 1 ? .numbered(prefix, firstID) : .numberedRange(prefix, firstID, firstID + UInt64(count - 1))
        Profiling.record(count: 1, piece: { _ in (head.address, count * layout.geometry.slotSize) }, name: { _ in name })
    }

    /// Records every stub of `stubs` under its default name: a record per run for packed pools,
    /// per stub for the other placements (their runs' ids are not consecutive).
    func recordHandedOut(_ stubs: StubRange) {
        let slotSize = layout.geometry.slotSize, prefix = defaultNamePrefix
        for run in stubs.runs {
            if configuration.placement == .packed {
                recordHandedOut(stubs.stub(0, of: run), count: run.count)
            } else {
                Profiling.record(count: run.count, piece: { (stubs.stub($0, of: run).address, slotSize) },
                                 name: { .numbered(prefix, stubs.stub($0, of: run).id) })
            }
        }
    }

    /// Names every slot of a new chunk for gdb under its default name (see ``ProfilingOutputs/gdb``):
    /// one registration per chunk, for its lifetime, whatever its slots are used for.
    /// Logical slots are in address order (``SlotSpacing``), so the file's index is the logical slot.
    func describeForDebugger(_ chunk: Chunk) {
        Profiling.describeChunk(
            .init(count: layout.capacity, slotSize: layout.geometry.slotSize, prefix: Array(defaultNamePrefix.utf8),
                  firstID: UInt64(chunk.serial) * UInt64(layout.capacity), base: chunk.base, spacing: layout.placement.spacing),
            owner: .chunk(chunk.base))
    }
}
