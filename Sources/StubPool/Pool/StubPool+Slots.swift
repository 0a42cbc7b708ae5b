/// What an occupied slot holds.
enum OccupiedSlotState {
    /// A stub handed out with a target.
    case live
    /// A lazy stub not yet materialized: its target is its own lazy entry.
    case pending
    /// Taken from the bitmap but not a stub: in a thread's cache, or released and quarantined.
    case reserved
}

extension StubPool {
    /// Walks every mapped chunk, shard by shard under each shard's lock: `chunk` once per chunk,
    /// then `slot` for each of its occupied logical slots (the stub, its id, its state, its data
    /// slot). What ``inspect(includeStubs:)`` and ``StubImage`` read a pool through.
    func forEachOccupiedSlot(chunk visitChunk: (Chunk) -> Void,
                             slot visitSlot: (_ stub: Stub, _ id: UInt64, _ state: OccupiedSlotState, _ data: DataSlot) -> Void) {
        let capacity = layout.capacity
        for shard in shared.shards {
            shard.state.withLock { state in
                for case let chunk? in state.chunks {
                    visitChunk(chunk)
                    let bitmap = state.allocator.chunks[chunk.index]
                    for logical in 0..<capacity where !bitmap.isFree(logical) {
                        let stub = chunk.stub(ofLogical: logical)
                        guard let data = chunk.slot(ofEntry: stub.address)?.dataSlot else { continue }
                        let slot = DataSlot(address: data)
                        let state: OccupiedSlotState =
                            layout.isReleased(target: slot.target, entry: stub.address) ? .reserved
                            : slot.target == layout.lazyEntry(of: stub.address) ? .pending : .live
                        visitSlot(stub, UInt64(chunk.serial) * UInt64(capacity) + UInt64(logical), state, slot)
                    }
                }
            }
        }
    }
}
