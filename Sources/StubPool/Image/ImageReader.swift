/// A bounds-checked little-endian cursor over an encoded image, and the parser of each of its
/// records: every read throws ``StubImageError/truncated(needed:available:reading:)`` rather than
/// leave the buffer, every record is checked as it is read. ``ImageScan`` runs it over a whole
/// image; decoding and restoring read the stub section a second time through the same parsers.
struct ImageReader {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(bytes: UnsafeRawBufferPointer, position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    var remaining: Int { bytes.count - position }

    @inline(__always)
    mutating func need(_ count: Int, _ what: StaticString) throws(StubImageError) {
        guard count >= 0, count <= remaining else { throw .truncated(needed: count, available: remaining, reading: "\(what)") }
    }

    @inline(__always)
    mutating func integer<T: FixedWidthInteger>(_ type: T.Type, _ what: StaticString) throws(StubImageError) -> T {
        try need(MemoryLayout<T>.size, what)
        defer { position += MemoryLayout<T>.size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    @inline(__always)
    mutating func u8(_ what: StaticString) throws(StubImageError) -> UInt8 { try integer(UInt8.self, what) }
    @inline(__always)
    mutating func u32(_ what: StaticString) throws(StubImageError) -> UInt32 { try integer(UInt32.self, what) }
    @inline(__always)
    mutating func u64(_ what: StaticString) throws(StubImageError) -> UInt64 { try integer(UInt64.self, what) }

    /// The next `count` bytes, as a range of the buffer.
    @inline(__always)
    mutating func span(_ count: Int, _ what: StaticString) throws(StubImageError) -> Range<Int> {
        try need(count, what)
        defer { position += count }
        return position..<position + count
    }

    /// An index below `limit`.
    @inline(__always)
    mutating func index(_ limit: Int, _ what: StaticString) throws(StubImageError) -> Int {
        let value = Int(try u32(what))
        guard value < limit else { throw .corrupt("\(what): index \(value) of \(limit)") }
        return value
    }

    @inline(__always)
    mutating func string(_ strings: [String], _ what: StaticString) throws(StubImageError) -> String? {
        let value = try u32(what)
        if value == ImageFormat.noString { return nil }
        guard Int(value) < strings.count else { throw .corrupt("\(what): string \(value) of \(strings.count)") }
        return strings[Int(value)]
    }

    /// `count` records of at least `size` bytes each, if the bytes left can hold them (a corrupt
    /// count cannot make the reader allocate gigabytes).
    func plausible(_ count: Int, size: Int, _ what: StaticString) throws(StubImageError) -> Int {
        guard count <= remaining / size else { throw .truncated(needed: count * size, available: remaining, reading: "\(what)") }
        return count
    }

    typealias ReferenceCounts = (stubs: Int, blobs: Int, symbols: Int)

    /// A reference as kind, index and value, so that its uses need no branch on the kind:
    /// kind 0 plain (index 0, the value), 1 stub (its index, value 0), 2 blob and 3 symbol (the
    /// index, the offset as the value). What it refers to is `table[kind][index] &+ value`, where
    /// the plain kind's table is a single 0.
    struct PackedReference {
        var kind: Int
        var index: Int
        var value: UInt64

        var reference: ImageReference {
            switch kind {
            case 0: .plain(value)
            case 1: .stub(index)
            case 2: .blob(index, offset: Int(Int64(bitPattern: value)))
            default: .symbol(index, offset: Int(Int64(bitPattern: value)))
            }
        }
    }

    /// The longest reference: kind, index and offset.
    static let longestReference = 13

    /// The reference at `offset`, which must leave ``longestReference`` bytes to read, decoded
    /// without a branch on its kind (a mix of kinds, as stub targets are, would mispredict half
    /// the time), with its length and whether its kind and index are valid.
    @inline(__always)
    func packedReference(at offset: Int, _ counts: ReferenceCounts) -> (reference: PackedReference, length: Int, valid: Bool) {
        let kind = Int(bytes.load(fromByteOffset: offset, as: UInt8.self))
        let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 1, as: UInt64.self))
        let value = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 5, as: UInt64.self))
        let length = Self.referenceLength(kind: kind)
        let index = kind == 0 ? 0 : Int(UInt32(truncatingIfNeeded: word))
        let limit = kind == 0 ? 1 : kind == 1 ? counts.stubs : kind == 2 ? counts.blobs : kind == 3 ? counts.symbols : 0
        return (PackedReference(kind: kind, index: index, value: kind == 0 ? word : kind == 1 ? 0 : value), length, index < limit)
    }

    /// The length of a reference of `kind` (an unknown kind: 0), without a branch: 9, 5, 13, 13.
    @inline(__always)
    static func referenceLength(kind: Int) -> Int { (0x0D0D_0509 &>> (min(kind, 4) &* 8)) & 0xFF }

    /// The reference at `offset` in an image ``ImageScan`` validated: read without a check.
    @inline(__always)
    func validatedReference(at offset: Int) -> PackedReference {
        if offset + Self.longestReference <= bytes.count { return packedReference(at: offset, (0, 0, 0)).reference }
        // Closer to the end only the short kinds fit: plain data (a word) or a stub (an index).
        let kind = Int(bytes.load(fromByteOffset: offset, as: UInt8.self))
        return kind == 0
            ? PackedReference(kind: 0, index: 0, value: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 1, as: UInt64.self)))
            : PackedReference(kind: kind, index: Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 1, as: UInt32.self))), value: 0)
    }

    /// A reference, checked: where the longest one fits in what is left it is read by
    /// ``packedReference(at:_:)``, otherwise (and to report what is wrong) field by field.
    @inline(__always)
    mutating func reference(_ counts: ReferenceCounts, _ what: StaticString) throws(StubImageError) -> PackedReference {
        guard remaining >= Self.longestReference else { return try referenceFieldByField(counts, what) }
        let (reference, length, valid) = packedReference(at: position, counts)
        // Field by field, what is wrong gets its message.
        guard valid else { return try referenceFieldByField(counts, what) }
        position += length
        return reference
    }

    private mutating func referenceFieldByField(_ counts: ReferenceCounts, _ what: StaticString) throws(StubImageError) -> PackedReference {
        switch Int(try u8(what)) {
        case 0: return PackedReference(kind: 0, index: 0, value: try u64(what))
        case 1: return PackedReference(kind: 1, index: try index(counts.stubs, what), value: 0)
        case 2:
            let blob = try index(counts.blobs, what)
            return PackedReference(kind: 2, index: blob, value: try u64(what))
        case 3:
            let symbol = try index(counts.symbols, what)
            return PackedReference(kind: 3, index: symbol, value: try u64(what))
        case let kind: throw .corrupt("\(what): reference kind \(kind)")
        }
    }
}

// MARK: Sections before the stubs

extension ImageReader {
    typealias Counts = (strings: Int, objects: Int, symbols: Int, pools: Int, stubs: Int, blobs: Int)

    /// The header: magic, version, architecture and page size of this host, the section counts,
    /// and the payload's length and checksum.
    mutating func header() throws(StubImageError) -> (architecture: Architecture, pageSize: Int, counts: Counts) {
        try need(ImageFormat.headerSize, "header")
        guard Array(bytes[0..<8]) == ImageFormat.magic else { throw .badMagic }
        position = 8
        let version = try u32("version")
        guard version == StubImage.formatVersion else { throw .unsupportedVersion(version) }
        let architecture: Architecture
        switch try u8("architecture") {
        case 0: architecture = .x86_64
        case 1: architecture = .arm64
        case let code: throw .foreignArchitecture("architecture code \(code)")
        }
        guard architecture == .host else { throw .foreignArchitecture(architecture.rawValue) }
        position += 3
        let pageSize = Int(try u32("page size"))
        guard pageSize == Kernel.pageSize else { throw .pageSizeMismatch(image: pageSize, host: Kernel.pageSize) }
        guard try u32("flags") == 0 else { throw .corrupt("unknown flags") }
        var counts: [Int] = []
        for _ in 0..<6 { counts.append(Int(try u32("counts"))) }
        let payloadLength = try u64("payload length")
        let stored = try u64("checksum")
        guard payloadLength == UInt64(remaining) else {
            throw .truncated(needed: Int(clamping: payloadLength), available: remaining, reading: "payload")
        }
        let computed = ImageChecksum.hash(UnsafeRawBufferPointer(rebasing: bytes[ImageFormat.headerSize...]),
                                          seed: ImageChecksum.hash(UnsafeRawBufferPointer(rebasing: bytes[0..<56])))
        guard computed == stored else { throw .checksumMismatch(stored: stored, computed: computed) }
        return (architecture, pageSize, (counts[0], counts[1], counts[2], counts[3], counts[4], counts[5]))
    }

    mutating func strings(_ count: Int) throws(StubImageError) -> [String] {
        var strings: [String] = []
        strings.reserveCapacity(try plausible(count, size: 4, "strings"))
        for _ in 0..<count {
            let text = try span(Int(try u32("string length")), "string")
            strings.append(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[text]), as: UTF8.self))
        }
        return strings
    }

    mutating func objects(_ count: Int, strings: [String]) throws(StubImageError) -> [ImageObject] {
        var objects: [ImageObject] = []
        objects.reserveCapacity(try plausible(count, size: 5, "objects"))
        for _ in 0..<count {
            guard let path = try string(strings, "object path") else { throw .corrupt("object without a path") }
            let length = Int(try u8("build-id length"))
            guard length > 0 else { throw .corrupt("object \(path) without a build-id") }
            objects.append(ImageObject(path: path, buildID: Array(bytes[try span(length, "build-id")])))
        }
        return objects
    }

    mutating func symbols(_ count: Int, objects: Int, strings: [String]) throws(StubImageError) -> [ImageSymbol] {
        var symbols: [ImageSymbol] = []
        symbols.reserveCapacity(try plausible(count, size: 13, "symbols"))
        for _ in 0..<count {
            let kind = try u8("symbol kind")
            switch kind {
            case 0, 2:
                guard let name = try string(strings, "symbol name") else { throw .corrupt("symbol without a name") }
                _ = try u64("symbol offset")
                symbols.append(kind == 0 ? .exported(name) : .runtime(name))
            case 1:
                let object = try index(objects, "symbol object")
                symbols.append(.objectOffset(object: object, offset: try u64("symbol offset")))
            default: throw .corrupt("symbol kind \(kind)")
            }
        }
        return symbols
    }

    /// The pools, each template hash checked against what this library would build.
    mutating func pools(_ count: Int, strings: [String], architecture: Architecture) throws(StubImageError) -> [StubImage.Pool] {
        var pools: [StubImage.Pool] = []
        pools.reserveCapacity(try plausible(count, size: 32, "pools"))
        for index in 0..<count {
            let kindCode = Int(try u8("pool kind"))
            guard kindCode < StubKind.allCases.count else { throw .corrupt("pool \(index): kind \(kindCode)") }
            let placementCode = try u8("placement")
            let landingPads = try u8("landing pads"), lazy = try u8("lazy")
            guard landingPads <= 1, lazy <= 1 else { throw .corrupt("pool \(index): flags") }
            let seed = try u64("seed")
            let placement: Placement
            switch placementCode {
            case 0: placement = .packed
            case 1: placement = .pageStart
            case 2: placement = .staggered
            case 3: placement = .random(seed: seed)
            default: throw .corrupt("pool \(index): placement \(placementCode)")
            }
            let codeSize = Int(try u32("code size")), payloadSize = Int(try u32("payload size"))
            let name = try string(strings, "pool name")
            let pool = StubImage.Pool(kind: StubKind.allCases[kindCode], placement: placement, landingPads: landingPads == 1,
                                      lazyBatches: lazy == 1, codeSize: codeSize, payloadSize: payloadSize, name: name,
                                      templateHash: try u64("template hash"))
            guard pool.templateHash == StubImage.templateHash(of: pool.variant, architecture: architecture) else {
                throw .templateMismatch(pool: index, variant: pool.variant.description)
            }
            pools.append(pool)
        }
        return pools
    }
}

// MARK: Stub and blob records

extension ImageReader {
    /// What the checks of a stub record need from the sections before it.
    struct StubLimits {
        let lazyPools: [Bool]
        let strings: Int
        let references: ReferenceCounts
    }

    /// One stub record as the file holds it.
    struct StubEntry {
        var pool: Int
        var id: UInt64
        /// Index into the strings, or ``ImageFormat/noString``.
        var name: UInt32
        var target: PackedReference
        var context: PackedReference
        /// A pending stub's encoded spec (a range of the image), `nil` for a live stub.
        var spec: Range<Int>?
    }

    /// The fields every stub record starts with: pool u32, id u64, name u32, flags u8.
    static let stubFixedFields = 17

    /// The longest stub record: its fixed fields and two references.
    static let longestStub = stubFixedFields + 2 * longestReference

    /// The stub record `index`, which must come after `previous` in (pool, id) order. A live
    /// stub with room behind it is read in one go, every check folded into one test; anything
    /// else — a pending stub, the end of the bytes, a failed check — is read field by field,
    /// which names what is wrong.
    @inline(__always)
    mutating func stub(_ index: Int, after previous: inout (pool: Int, id: UInt64), _ limits: StubLimits) throws(StubImageError) -> StubEntry {
        if remaining >= Self.longestStub {
            let pool = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self)))
            let id = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position + 4, as: UInt64.self))
            let name = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position + 12, as: UInt32.self))
            let flags = bytes.load(fromByteOffset: position + 16, as: UInt8.self)
            let target = packedReference(at: position + Self.stubFixedFields, limits.references)
            let context = packedReference(at: position + Self.stubFixedFields + target.length, limits.references)
            let ordered = index == 0 || previous.pool < pool || (previous.pool == pool && previous.id < id)
            if flags == 0, pool < limits.lazyPools.count, ordered, name == ImageFormat.noString || Int(name) < limits.strings,
               target.valid, target.reference.kind != 0, context.valid {
                position += Self.stubFixedFields + target.length + context.length
                previous = (pool, id)
                return StubEntry(pool: pool, id: id, name: name, target: target.reference, context: context.reference, spec: nil)
            }
        }
        return try stubFieldByField(index, after: &previous, limits)
    }

    private mutating func stubFieldByField(_ index: Int, after previous: inout (pool: Int, id: UInt64),
                                           _ limits: StubLimits) throws(StubImageError) -> StubEntry {
        let pool = try self.index(limits.lazyPools.count, "stub pool")
        let id = try u64("stub id")
        guard (previous.pool, previous.id) < (pool, id) || index == 0 else { throw .corrupt("stub \(index) out of order") }
        previous = (pool, id)
        let name = try u32("stub name")
        guard name == ImageFormat.noString || Int(name) < limits.strings else {
            throw .corrupt("stub \(index): string \(name) of \(limits.strings)")
        }
        switch try u8("stub flags") {
        case 0:
            let target = try reference(limits.references, "stub target")
            guard target.kind != 0 else { throw .corrupt("stub \(index): target is plain data") }
            return StubEntry(pool: pool, id: id, name: name, target: target,
                             context: try reference(limits.references, "stub context"), spec: nil)
        case 1:
            guard limits.lazyPools[pool] else { throw .corrupt("stub \(index): pending in a pool without lazy batches") }
            let spec = try span(Int(try u32("spec length")), "lazy spec")
            let zero = PackedReference(kind: 0, index: 0, value: 0)
            return StubEntry(pool: pool, id: id, name: name, target: zero, context: zero, spec: spec)
        case let flags: throw .corrupt("stub \(index): flags \(flags)")
        }
    }

    /// One blob record as the file holds it; its fields are appended to a shared list.
    struct BlobEntry {
        var name: String?
        var originalAddress: UInt64
        /// Its bytes: a range of the image.
        var code: Range<Int>
        /// Its fields: a range of the shared list.
        var fields: Range<Int>
    }

    /// The blob record `index`, its fields appended to `fields` after checking each against the
    /// bytes and against the others.
    mutating func blob(_ index: Int, strings: [String], references: ReferenceCounts, architecture: Architecture,
                       fields: inout [StubImage.BlobRecord.Field]) throws(StubImageError) -> BlobEntry {
        let name = try string(strings, "blob name")
        let original = try u64("blob address")
        let size = Int(try u32("blob size"))
        guard size > 0, size <= CodeArena.maximumBlobSize else { throw .corrupt("blob \(index): size \(size)") }
        let code = try span(size, "blob bytes")
        let fieldCount = try plausible(Int(try u32("field count")), size: 10, "fields")
        let first = fields.count
        for _ in 0..<fieldCount {
            let offset = Int(try u32("field offset"))
            guard let kind = CodeRelocation.Field(rawValue: try u8("field kind")) else { throw .corrupt("blob \(index): field kind") }
            fields.append(StubImage.BlobRecord.Field(offset: offset, field: kind, value: try reference(references, "blob field").reference))
        }
        let own = fields[first...]
        do throws(CodeRelocationError) {
            let text = UnsafeRawBufferPointer(rebasing: bytes[code])
            for field in own { try field.field.validate(at: field.offset, in: text, architecture: architecture) }
            if own.count > 1 {
                // Encoders write fields in order; only others need sorting.
                func firstOverlap(_ sorted: some Collection<StubImage.BlobRecord.Field>) -> Int? {
                    zip(sorted, sorted.dropFirst()).first { $0.offset + $0.field.size > $1.offset }?.1.offset
                }
                let inOrder = zip(own, own.dropFirst()).allSatisfy { $0.offset <= $1.offset }
                if let offset = inOrder ? firstOverlap(own) : firstOverlap(own.sorted { $0.offset < $1.offset }) {
                    throw .overlapping(offset: offset)
                }
            }
        } catch {
            throw .corrupt("blob \(index): \(error)")
        }
        return BlobEntry(name: name, originalAddress: original, code: code, fields: first..<fields.count)
    }
}
