/// A handle to one stub: its executable address plus what makes operations on it O(1) without a
/// lookup — the owning pool's token and the slot's index in its chunk (16 bytes).
///
/// Operations check the token (a handle of another pool throws ``StubPoolError/foreignStub(_:)``)
/// and derive the data slot arithmetically. Callers that keep only executable addresses (the C
/// API) get handles from ``StubPool/stub(entry:)``, which validates the address through the
/// process-wide chunk index; ``StubPool/release(_:)-(Stub)`` validates every handle there too.
///
/// Handles are plain values; they are valid until the stub is released. After ``StubPool/reclaim()``
/// the slot may be handed out again (the handle then names the new stub) or its chunk returned to
/// the system, so a stale handle must not be used: like a pointer after `free`, retargeting
/// through it is undefined (release and lookup still reject it with an error).
public struct Stub: Sendable, Hashable, CustomStringConvertible {
    /// The stub's executable address: what callers call.
    public let address: UInt
    @usableFromInline let poolToken: UInt32
    /// Physical slot index within its chunk.
    @usableFromInline let slot: UInt32

    @usableFromInline
    init(address: UInt, poolToken: UInt32, slot: UInt32) {
        self.address = address
        self.poolToken = poolToken
        self.slot = slot
    }

    /// The executable address as a pointer.
    public var entry: UnsafeRawPointer { UnsafeRawPointer(bitPattern: address)! }

    /// Stable for the stub's life, unique among its pool's live and quarantined stubs: the chunk's
    /// serial number × slots per chunk + the slot (looked up through the chunk index). The address
    /// itself for an address no pool owns.
    public var id: UInt64 {
        ChunkRegistry.withChunk(containing: address) { chunk in
            chunk.logicalSlot(containing: address).map { UInt64(chunk.serial) * UInt64(chunk.layout.capacity) + UInt64($0) }
        } ?? UInt64(address)
    }

    /// The stub as a callable function of type `F` (a `@convention(c)` function type).
    public func function<F>(as type: F.Type) -> F {
        unsafeBitCast(entry, to: type)
    }

    /// Id and address, e.g. `stub #7 at 0x7f0cdcc48070`: the form diagnostics use.
    public var description: String { "stub #\(id) at 0x\(String(address, radix: 16))" }
}
