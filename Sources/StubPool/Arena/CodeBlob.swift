/// A blob of code in a ``CodeArena``.
public struct CodeBlob: Sendable, Hashable, CustomStringConvertible {
    /// Where the code runs.
    public let address: UInt
    // Stored narrow (32 bytes a handle, was 56): a 10,000-blob commit writes its handle array
    // once, and at 56 bytes a handle that array alone outgrew this machine's L2 cache.
    private let storedSize: UInt32
    private let storedCapacity: UInt32
    private let storedRegion: UInt32
    private let storedSlot: UInt32
    private let storedOffset: UInt32
    private let storedClass: Int16

    init(address: UInt, size: Int, capacity: Int, sizeClass: Int?, region: Int, slot: Int, offset: Int) {
        self.address = address
        storedSize = UInt32(size)
        storedCapacity = UInt32(capacity)
        storedClass = sizeClass.map(Int16.init) ?? -1
        // A large blob's serial number wraps after 2³² large blobs (see `ArenaState`).
        storedRegion = UInt32(truncatingIfNeeded: region)
        storedSlot = UInt32(slot)
        storedOffset = UInt32(offset)
    }

    /// Bytes requested.
    public var size: Int { Int(storedSize) }
    /// Bytes reserved (the size class, or whole pages).
    public var capacity: Int { Int(storedCapacity) }
    /// Size class, or nil for a page-granular blob (stored as -1 in the narrow handle).
    var sizeClass: Int? { storedClass < 0 ? nil : Int(storedClass) }
    /// Index of the class's region holding the blob, or a large blob's serial number.
    var region: Int { Int(storedRegion) }
    /// Logical slot in the region.
    var slot: Int { Int(storedSlot) }
    /// Byte offset in the region.
    var offset: Int { Int(storedOffset) }

    /// Where the code runs, as a pointer.
    public var entry: UnsafeRawPointer { UnsafeRawPointer(bitPattern: address)! }
    /// The blob's entry as a callable function of type `F` (a `@convention(c)` function type).
    /// Calling it with a type that does not match the code is undefined, as for any cast.
    public func function<F>(as type: F.Type) -> F { unsafeBitCast(entry, to: type) }
    /// Size and address, e.g. `blob of 16 B at 0x7f0cd1200000`.
    public var description: String { "blob of \(size) B at 0x\(String(address, radix: 16))" }
}
