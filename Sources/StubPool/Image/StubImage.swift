/// A snapshot of stubs and generated code that another process can restore: every live stub
/// (kind, placement, name, target, context), every pending lazy stub (its spec, encoded by the
/// runtime), every blob of a code arena (bytes and relocated fields), with every address made
/// **symbolic** — a stub or blob of the image, a symbol of a loaded object, a name in the
/// runtime's own symbol table — so that it means the same thing under another address layout.
///
/// Take one with ``snapshot(pools:arena:symbolizer:)``, save it with ``encoded()`` or
/// ``write(to:)``, load it with ``init(decoding:)`` or ``init(contentsOf:)`` (which validate
/// everything, checksum first), and rebuild the state with ``restore(into:resolver:lazy:)``.
///
/// The binary format (version ``formatVersion``) is described in the README: little-endian, a
/// 64-byte header with architecture, page size, counts and a checksum, then strings, objects,
/// symbols, pools, stubs and blobs.
public struct StubImage: Sendable, Hashable {
    /// The format version this build writes and reads.
    public static let formatVersion: UInt32 = 1
    /// The largest image ``init(contentsOf:)`` reads.
    public static let maximumFileSize = 1 << 31

    /// The architecture of the code and stubs.
    public internal(set) var architecture: Architecture
    /// The page size of the snapshot's process (restoring needs the same).
    public internal(set) var pageSize: Int
    /// Every saved pool; ``StubRecord/pool`` indexes this array.
    public internal(set) var pools: [Pool]
    /// Every stub, ordered by pool, then id.
    public internal(set) var stubs: [StubRecord]
    /// Names given with ``StubPool/setName(_:for:)``, by index in ``stubs``.
    public internal(set) var stubNames: [Int: String] = [:]
    /// The encoded spec of each pending lazy stub, by index in ``stubs``.
    public internal(set) var lazySpecs: [Int: [UInt8]] = [:]
    /// Every saved arena blob, in commit order; ``ImageReference/blob(_:offset:)`` indexes this array.
    public internal(set) var blobs: [BlobRecord]
    /// What ``ImageReference/symbol(_:offset:)`` refers to.
    public internal(set) var symbols: [ImageSymbol]
    /// Loaded objects named by build-id (``ImageSymbol/objectOffset(object:offset:)``).
    public internal(set) var objects: [ImageObject]

    /// One pool: how to build it again, and the hash of its stub code.
    public struct Pool: Sendable, Hashable {
        /// ``StubPool/Configuration/kind``.
        public var kind: StubKind
        /// ``StubPool/Configuration/placement``.
        public var placement: Placement
        /// ``StubPool/Configuration/landingPads``.
        public var landingPads: Bool
        /// ``StubPool/Configuration/lazyBatches``.
        public var lazyBatches: Bool
        /// ``StubPool/Configuration/codeSize``.
        public var codeSize: Int
        /// ``StubPool/Configuration/payloadSize`` (payload contents are not saved).
        public var payloadSize: Int
        /// ``StubPool/Configuration/name``.
        public var name: String?
        /// A hash of the stub's code for this variant (``StubImage/templateHash(of:architecture:)``):
        /// a build whose stubs differ refuses the image.
        public var templateHash: UInt64

        /// The configuration a restored pool gets (strategy, shards and idle delay are the
        /// restoring process's defaults).
        public var configuration: StubPool.Configuration {
            StubPool.Configuration(kind: kind, placement: placement, landingPads: landingPads, codeSize: codeSize,
                                   lazyBatches: lazyBatches, payloadSize: payloadSize, name: name)
        }

        /// The compiled form of the pool's stubs, which ``templateHash`` covers.
        public var variant: StubVariant { StubVariant(kind: kind, landingPad: landingPads, lazyEntry: lazyBatches) }
    }

    /// One stub: live (target and context) or pending (its spec in ``StubImage/lazySpecs``).
    /// Plain data, so that 100,000 of them copy and free without reference counting.
    public struct StubRecord: Sendable, Hashable {
        /// Index into ``StubImage/pools``.
        public var pool: Int
        /// The stub's id in the snapshot's process (``Stub/id``): how a runtime finds its stubs
        /// again (``StubImage/stubIndex(pool:id:)``).
        public var id: UInt64
        /// Where the stub pointed, named symbolically.
        public var target: ImageReference
        /// The stub's context: ``ImageReference/plain(_:)`` unless the pool was saved with
        /// ``StubImage/ContextRule/references``.
        public var context: ImageReference
        /// A lazy stub not yet materialized (target and context are then `.plain(0)`).
        public var isPending: Bool
    }

    /// One arena blob: its bytes as they ran, with each address-valued field named.
    public struct BlobRecord: Sendable, Hashable {
        /// The name the blob was committed with, if any.
        public var name: String?
        /// The code as it ran; the bytes of each field are refilled at restore.
        public var bytes: [UInt8]
        /// The blob's address-valued fields (from its ``CodeRelocation``s), by offset.
        public var fields: [Field]
        /// Its address in the snapshot's process (information only).
        public var originalAddress: UInt64

        /// One address-valued field of a blob.
        public struct Field: Sendable, Hashable {
            /// Byte offset of the field in the blob.
            public var offset: Int
            /// How the field holds its value.
            public var field: CodeRelocation.Field
            /// What the field pointed at, named symbolically.
            public var value: ImageReference
        }
    }

    /// The index in ``stubs`` of the stub `id` of pool `pool`, if the image has it.
    /// O(log n).
    public func stubIndex(pool: Int, id: UInt64) -> Int? {
        var low = 0, high = stubs.count
        while low < high {
            let middle = (low + high) / 2
            let record = stubs[middle]
            if (record.pool, record.id) < (pool, id) { low = middle + 1 } else { high = middle }
        }
        return low < stubs.count && stubs[low].pool == pool && stubs[low].id == id ? low : nil
    }

    /// A 64-bit hash of the code of one stub of `variant` (at layout origin) plus its slot size:
    /// what ``Pool/templateHash`` holds.
    public static func templateHash(of variant: StubVariant, architecture: Architecture) -> UInt64 {
        let encoder = architecture.encoder
        var bytes = encoder.code(variant, layout: .origin)
        bytes.appendLittleEndian(UInt64(encoder.slotSize(for: variant)))
        return ImageChecksum.hash(bytes)
    }
}

/// What an address in an image refers to.
public enum ImageReference: Sendable, Hashable {
    /// Plain data (contexts not marked as references).
    case plain(UInt64)
    /// The entry of another stub of the image (index into ``StubImage/stubs``).
    case stub(Int)
    /// A byte of a blob of the image (index into ``StubImage/blobs``).
    case blob(Int, offset: Int)
    /// A symbol (index into ``StubImage/symbols``) plus an offset.
    case symbol(Int, offset: Int)
}

/// A name for an address outside the image.
public enum ImageSymbol: Sendable, Hashable {
    /// A symbol any loaded object exports (found with `dlsym(RTLD_DEFAULT, name)`).
    case exported(String)
    /// An offset from the load address of a loaded object (index into ``StubImage/objects``),
    /// identified by its build-id: for code no exported symbol covers.
    case objectOffset(object: Int, offset: UInt64)
    /// A name only the runtime knows: its symbolizer gave it at snapshot, its resolver gives the
    /// address at restore.
    case runtime(String)
}

/// A loaded object (executable or shared library) an image refers into.
public struct ImageObject: Sendable, Hashable {
    /// Its path when the snapshot was taken (information only: restore matches the build-id).
    public var path: String
    /// The object's GNU build-id.
    public var buildID: [UInt8]
}
