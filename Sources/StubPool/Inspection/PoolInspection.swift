/// What a pool holds, chunk by chunk and stub by stub: ``StubPool/inspect(includeStubs:)``.
/// `Codable` (JSON through `JSONEncoder`, addresses as hex text) and printable as text.
///
/// A slot is **live** (a stub handed out with a target), **pending** (a lazy stub not yet
/// materialized), **reserved** (taken from the occupancy bitmap but not a stub: in a thread's
/// allocation cache, or released and waiting for ``StubPool/reclaim()``) or **free**.
public struct PoolInspection: Codable, Sendable, Hashable, CustomStringConvertible {
    /// Whether a listed stub is an ordinary stub or a lazy one still waiting for its batch.
    public enum StubState: String, Codable, Sendable, Hashable {
        /// A stub handed out with a target (a materialized lazy stub included).
        case live
        /// A lazy stub whose batch has not been materialized: its target is its own lazy entry.
        case pending
    }

    /// One live or pending stub.
    public struct StubEntry: Codable, Sendable, Hashable {
        /// The stub's ``Stub/id``.
        public var id: UInt64
        /// The stub's entry: what callers call.
        public var address: CodeAddress
        /// The name given with ``StubPool/setName(_:for:)``, else the default name.
        public var name: String
        /// Live, or pending lazy.
        public var state: StubState
        /// Where a call goes now (a pending stub's own lazy entry).
        public var target: CodeAddress
        /// The context in the data slot (a pending stub's ticket into its request).
        public var context: CodeAddress
    }

    /// One chunk: a code region and its data region, with slot counts by state.
    public struct ChunkEntry: Codable, Sendable, Hashable {
        /// Pool-wide serial number: the chunk's stubs have ids `serial * slots + logical slot`.
        public var serial: Int
        /// The allocation shard (per CPU) the chunk belongs to.
        public var shard: Int
        /// The executable code region, then the writable data region (and payloads).
        public var code: CodeAddress
        /// Bytes of the code region.
        public var codeBytes: Int
        /// The writable data region: every stub's context and target (and payloads).
        public var data: CodeAddress
        /// Bytes of the data region, payloads included.
        public var dataBytes: Int
        /// Stub slots of the chunk.
        public var slots: Int
        /// Live stubs.
        public var live: Int
        /// Pending lazy stubs.
        public var pending: Int
        /// Slots cached by threads or quarantined after release.
        public var reserved: Int
        /// Free slots.
        public var free: Int
        /// Live and pending stubs by address (empty unless asked for).
        public var stubs: [StubEntry]
    }

    /// The pool's configured name, if any.
    public var name: String?
    /// The kind of every stub of the pool.
    public var kind: StubKind
    /// The pool's ``Placement``, as text.
    public var placement: String
    /// Bytes of one code slot.
    public var slotSize: Int
    /// Stub slots per chunk.
    public var slotsPerChunk: Int
    /// Live stubs in all chunks.
    public var live: Int
    /// Pending lazy stubs in all chunks.
    public var pending: Int
    /// Cached or quarantined slots in all chunks.
    public var reserved: Int
    /// Free slots in all chunks.
    public var free: Int
    /// By code address.
    public var chunks: [ChunkEntry]

    /// The summary line, a line per chunk and, when listed, a line per stub.
    public var description: String {
        var text = "pool \(name ?? "(unnamed)"): \(kind), \(placement), \(slotSize)-byte slots, \(slotsPerChunk) per chunk\n"
        text += "  \(chunks.count) chunks: \(live) live, \(pending) pending, \(reserved) reserved, \(free) free\n"
        for chunk in chunks {
            text += "  chunk #\(chunk.serial) (shard \(chunk.shard)) code \(chunk.code) +\(chunk.codeBytes) data \(chunk.data) +\(chunk.dataBytes):"
            text += " \(chunk.live) live, \(chunk.pending) pending, \(chunk.reserved) reserved, \(chunk.free) free\n"
            for stub in chunk.stubs {
                text += "    \(stub.address) #\(stub.id) \(stub.name) \(stub.state) → \(stub.target) context \(stub.context)\n"
            }
        }
        return text
    }
}

extension StubKind: Codable {}

extension StubPool: CustomDebugStringConvertible {
    /// Occupancy chunk by chunk and, with `includeStubs`, every live and pending stub: its id,
    /// name, target and context. Takes each shard's lock in turn (a consistent view per shard;
    /// stubs allocated or released meanwhile on other threads may or may not appear); linear in
    /// the slots mapped.
    public func inspect(includeStubs: Bool = true) -> PoolInspection {
        let capacity = layout.capacity
        var result = PoolInspection(
            name: configuration.name, kind: configuration.kind, placement: configuration.placement.description,
            slotSize: layout.geometry.slotSize, slotsPerChunk: capacity, live: 0, pending: 0, reserved: 0, free: 0, chunks: [])
        var entry: PoolInspection.ChunkEntry?
        func finish() {
            guard var chunk = entry else { return }
            chunk.free = capacity - chunk.live - chunk.pending - chunk.reserved
            chunk.stubs.sort { $0.address < $1.address }
            result.live += chunk.live
            result.pending += chunk.pending
            result.reserved += chunk.reserved
            result.free += chunk.free
            result.chunks.append(chunk)
        }
        forEachOccupiedSlot(chunk: { chunk in
            finish()
            entry = PoolInspection.ChunkEntry(
                serial: chunk.serial, shard: chunk.shard, code: CodeAddress(chunk.base), codeBytes: chunk.codeRange.count,
                data: CodeAddress(chunk.dataStart), dataBytes: Int(chunk.payloadRange.upperBound - chunk.dataStart),
                slots: capacity, live: 0, pending: 0, reserved: 0, free: 0, stubs: [])
        }, slot: { stub, id, state, data in
            let stubState: PoolInspection.StubState
            switch state {
            case .reserved: entry!.reserved += 1; return
            case .pending: entry!.pending += 1; stubState = .pending
            case .live: entry!.live += 1; stubState = .live
            }
            guard includeStubs else { return }
            entry!.stubs.append(PoolInspection.StubEntry(
                id: id, address: CodeAddress(stub.address), name: name(of: stub), state: stubState,
                target: CodeAddress(data.target), context: CodeAddress(data.context)))
        })
        finish()
        result.chunks.sort { $0.code < $1.code }
        return result
    }

    /// A summary of ``inspect(includeStubs:)`` without the stubs.
    public var debugDescription: String { inspect(includeStubs: false).description }
}
