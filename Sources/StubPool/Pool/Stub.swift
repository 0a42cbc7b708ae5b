/// A handle to one stub: its executable address and a stable id.
///
/// Handles are plain values; they are valid until the stub is released. After ``StubPool/reclaim()``
/// the slot (and its id) may be handed out again, so a stale handle must not be used.
public struct Stub: Sendable, Hashable, CustomStringConvertible {
    /// The stub's executable address: what callers call.
    public let address: UInt
    /// Stable for the stub's life, unique among the pool's live and quarantined stubs.
    public let id: UInt64
    let dataSlot: UInt
    let poolToken: UInt32
    let shard: UInt32
    let chunk: UInt32
    let slot: UInt32

    /// The executable address as a pointer.
    public var entry: UnsafeRawPointer { UnsafeRawPointer(bitPattern: address)! }

    /// The stub as a callable function of type `F` (a `@convention(c)` function type).
    public func function<F>(as type: F.Type) -> F {
        unsafeBitCast(entry, to: type)
    }

    public var description: String { "stub #\(id) at 0x\(String(address, radix: 16))" }
}
