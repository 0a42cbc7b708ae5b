/// A handle to one stub: its executable address, nothing else (8 bytes).
///
/// Everything else — the owning pool, the chunk, the data slot, the id — is derived from the
/// address in O(1) through the process-wide chunk index, which is also how every pool operation
/// validates a handle: an address that is not the entry of one of the pool's slots throws
/// ``StubPoolError/foreignStub(_:)``, whichever pool (if any) it belongs to.
///
/// Handles are plain values; they are valid until the stub is released. After ``StubPool/reclaim()``
/// the slot may be handed out again (the handle then names the new stub) or its chunk returned to
/// the system (the handle then names nothing and operations throw), so a stale handle must not be
/// used.
public struct Stub: Sendable, Hashable, CustomStringConvertible {
    /// The stub's executable address: what callers call.
    public let address: UInt

    /// The handle of the stub whose entry is `address`. Any address makes a handle; pool
    /// operations check it.
    public init(address: UInt) { self.address = address }

    /// The executable address as a pointer.
    public var entry: UnsafeRawPointer { UnsafeRawPointer(bitPattern: address)! }

    /// Stable for the stub's life, unique among its pool's live and quarantined stubs: the chunk's
    /// serial number × slots per chunk + the slot. The address itself for an address no pool owns.
    public var id: UInt64 {
        ChunkRegistry.withChunk(containing: address) { chunk in
            chunk.logicalSlot(containing: address).map { UInt64(chunk.serial) * UInt64(chunk.layout.capacity) + UInt64($0) }
        } ?? UInt64(address)
    }

    /// The stub as a callable function of type `F` (a `@convention(c)` function type).
    public func function<F>(as type: F.Type) -> F {
        unsafeBitCast(entry, to: type)
    }

    public var description: String { "stub #\(id) at 0x\(String(address, radix: 16))" }
}
