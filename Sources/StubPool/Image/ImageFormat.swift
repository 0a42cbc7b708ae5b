/// The image's binary form (little-endian throughout):
///
/// ```
/// header (64 B)  magic "STUBPIMG" · version u32 · architecture u8 (0 x86-64, 1 AArch64) · 3 × 0
///                page size u32 · flags u32 (0) · counts u32: strings, objects, symbols, pools,
///                stubs, blobs · payload length u64 · checksum u64
/// strings        length u32 · UTF-8 bytes
/// objects        path string u32 · build-id length u8 · build-id
/// symbols        kind u8 (0 exported, 1 object offset, 2 runtime) · string or object u32 · offset u64
/// pools          kind u8 · placement u8 (0 packed, 1 pageStart, 2 staggered, 3 random) ·
///                landing pads u8 · lazy u8 · seed u64 · code size u32 · payload size u32 ·
///                name string u32 · template hash u64
/// stubs          pool u32 · id u64 · name string u32 · flags u8 (1: pending) ·
///                pending: spec length u32 · spec; live: target reference · context reference
/// blobs          name string u32 · original address u64 · size u32 · bytes ·
///                field count u32 · fields: offset u32 · kind u8 · reference
/// reference      kind u8: 0 plain · value u64 | 1 stub · index u32 | 2 blob, 3 symbol · index u32 · offset i64
/// ```
///
/// String index 0xFFFF_FFFF means none. The checksum is ``ImageChecksum`` over the payload,
/// seeded with the hash of the header's first 56 bytes.
enum ImageFormat {
    static let magic: [UInt8] = Array("STUBPIMG".utf8)
    static let headerSize = 64
    static let noString = UInt32.max

    static func architectureCode(_ architecture: Architecture) -> UInt8 { architecture == .x86_64 ? 0 : 1 }
}

// MARK: Writing

extension StubImage {
    /// The image in its binary form.
    public func encoded() -> [UInt8] {
        var strings = StringTable()
        let estimate = ImageFormat.headerSize + stubs.count * 40 + blobs.reduce(0) { $0 + $1.bytes.count + 24 + $1.fields.count * 18 }
        // Strings are interned while the other sections are written, so those go to a second
        // buffer, appended once to the header and strings; the header is completed in place.
        var body: [UInt8] = []
        body.reserveCapacity(estimate)
        for object in objects {
            body.appendLittleEndian(strings.index(of: object.path))
            body.append(UInt8(object.buildID.count))
            body.append(contentsOf: object.buildID)
        }
        for symbol in symbols {
            switch symbol {
            case .exported(let name):
                body.append(0); body.appendLittleEndian(strings.index(of: name)); body.appendLittleEndian(UInt64(0))
            case .objectOffset(let object, let offset):
                body.append(1); body.appendLittleEndian(UInt32(object)); body.appendLittleEndian(offset)
            case .runtime(let name):
                body.append(2); body.appendLittleEndian(strings.index(of: name)); body.appendLittleEndian(UInt64(0))
            }
        }
        for pool in pools {
            body.append(UInt8(StubKind.allCases.firstIndex(of: pool.kind)!))
            let (placement, seed): (UInt8, UInt64) = switch pool.placement {
            case .packed: (0, 0)
            case .pageStart: (1, 0)
            case .staggered: (2, 0)
            case .random(let seed): (3, seed)
            }
            body += [placement, pool.landingPads ? 1 : 0, pool.lazyBatches ? 1 : 0]
            body.appendLittleEndian(seed)
            body.appendLittleEndian(UInt32(pool.codeSize))
            body.appendLittleEndian(UInt32(pool.payloadSize))
            body.appendLittleEndian(strings.index(of: pool.name))
            body.appendLittleEndian(pool.templateHash)
        }
        for (index, stub) in stubs.enumerated() {
            body.appendLittleEndian(UInt32(stub.pool))
            body.appendLittleEndian(stub.id)
            body.appendLittleEndian(strings.index(of: stubNames[index]))
            if stub.isPending {
                let spec = lazySpecs[index] ?? []
                body.append(1)
                body.appendLittleEndian(UInt32(spec.count))
                body.append(contentsOf: spec)
            } else {
                body.append(0)
                body.append(stub.target)
                body.append(stub.context)
            }
        }
        for blob in blobs {
            body.appendLittleEndian(strings.index(of: blob.name))
            body.appendLittleEndian(blob.originalAddress)
            body.appendLittleEndian(UInt32(blob.bytes.count))
            body.append(contentsOf: blob.bytes)
            body.appendLittleEndian(UInt32(blob.fields.count))
            for field in blob.fields {
                body.appendLittleEndian(UInt32(field.offset))
                body.append(field.field.rawValue)
                body.append(field.value)
            }
        }
        var image = ImageFormat.magic
        image.reserveCapacity(estimate + strings.strings.reduce(0) { $0 + 4 + $1.utf8.count })
        image.appendLittleEndian(Self.formatVersion)
        image += [ImageFormat.architectureCode(architecture), 0, 0, 0]
        image.appendLittleEndian(UInt32(pageSize))
        image.appendLittleEndian(UInt32(0))
        for count in [strings.strings.count, objects.count, symbols.count, pools.count, stubs.count, blobs.count] {
            image.appendLittleEndian(UInt32(count))
        }
        image.appendLittleEndian(UInt64(0))  // payload length, below
        image.appendLittleEndian(UInt64(0))  // checksum, below
        for string in strings.strings {
            image.appendLittleEndian(UInt32(string.utf8.count))
            image.append(contentsOf: string.utf8)
        }
        image += body
        let payloadLength = UInt64(image.count - ImageFormat.headerSize)
        image.withUnsafeMutableBytes { $0.storeBytes(of: payloadLength.littleEndian, toByteOffset: 48, as: UInt64.self) }
        Self.reseal(&image)
        return image
    }

    /// Sets the header's checksum of `bytes` (an encoded image) to ``checksum(ofEncoded:)``.
    static func reseal(_ bytes: inout [UInt8]) {
        guard let checksum = checksum(ofEncoded: bytes) else { return }
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: checksum.littleEndian, toByteOffset: 56, as: UInt64.self) }
    }

    /// Writes ``encoded()`` to a new (or truncated) file.
    public func write(to path: String) throws(StubImageError) {
        do throws(SystemError) {
            let descriptor = FileDescriptor(adopting: try Kernel.createFile(path))
            try Kernel.writeAll(descriptor.raw, encoded())
        } catch {
            throw .system(error)
        }
    }
}

private struct StringTable {
    var strings: [String] = []
    var indices: [String: UInt32] = [:]

    @inline(__always)
    mutating func index(of string: String?) -> UInt32 {
        guard let string else { return ImageFormat.noString }
        if let index = indices[string] { return index }
        let index = UInt32(strings.count)
        strings.append(string)
        indices[string] = index
        return index
    }
}

extension [UInt8] {
    fileprivate mutating func append(_ reference: ImageReference) {
        switch reference {
        case .plain(let value): append(0); appendLittleEndian(value)
        case .stub(let index): append(1); appendLittleEndian(UInt32(index))
        case .blob(let index, let offset): append(2); appendLittleEndian(UInt32(index)); appendLittleEndian(Int64(offset))
        case .symbol(let index, let offset): append(3); appendLittleEndian(UInt32(index)); appendLittleEndian(Int64(offset))
        }
    }
}

// MARK: Reading

extension StubImage {
    /// Loads and validates an image: header, version, architecture, page size, checksum, then
    /// every record (indices in range, known kinds, well-formed fields, stubs in order). Throws
    /// before anything is created.
    public init(decoding bytes: [UInt8]) throws(StubImageError) {
        let result = bytes.withUnsafeBytes { raw -> Result<StubImage, StubImageError> in
            var reader = ImageReader(bytes: raw)
            do throws(StubImageError) { return .success(try reader.image()) } catch { return .failure(error) }
        }
        self = try result.get()
    }

    /// The checksum the header of `bytes` (an encoded image) should hold — over the payload,
    /// seeded with the header's first 56 bytes — or `nil` if `bytes` is shorter than a header.
    /// For tools that edit images (and fuzzers that want mutations to reach the record checks).
    public static func checksum(ofEncoded bytes: [UInt8]) -> UInt64? {
        guard bytes.count >= ImageFormat.headerSize else { return nil }
        return bytes.withUnsafeBytes { raw in
            ImageChecksum.hash(UnsafeRawBufferPointer(rebasing: raw[ImageFormat.headerSize...]),
                               seed: ImageChecksum.hash(UnsafeRawBufferPointer(rebasing: raw[0..<56])))
        }
    }

    /// Reads and decodes the image file at `path`.
    public init(contentsOf path: String) throws(StubImageError) {
        let bytes: [UInt8]
        do throws(SystemError) { bytes = try Kernel.readFile(path, limit: Self.maximumFileSize) } catch { throw .system(error) }
        try self.init(decoding: bytes)
    }
}

/// A bounds-checked little-endian cursor: every read throws ``StubImageError/truncated`` rather
/// than leave the buffer.
private struct ImageReader {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

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

    mutating func bytes(_ count: Int, _ what: StaticString) throws(StubImageError) -> [UInt8] {
        try need(count, what)
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    /// An index below `limit`.
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

    /// Reserves room for `count` records of at least `size` bytes each, no more than the bytes
    /// left can hold (a corrupt count cannot make the reader allocate gigabytes).
    func plausible(_ count: Int, size: Int, _ what: StaticString) throws(StubImageError) -> Int {
        guard count <= remaining / size else { throw .truncated(needed: count * size, available: remaining, reading: "\(what)") }
        return count
    }

    @inline(__always)
    mutating func reference(_ counts: (stubs: Int, blobs: Int, symbols: Int), _ what: StaticString) throws(StubImageError) -> ImageReference {
        switch try u8(what) {
        case 0: return .plain(try u64(what))
        case 1: return .stub(try index(counts.stubs, what))
        case 2:
            let blob = try index(counts.blobs, what)
            return .blob(blob, offset: Int(Int64(bitPattern: try u64(what))))
        case 3:
            let symbol = try index(counts.symbols, what)
            return .symbol(symbol, offset: Int(Int64(bitPattern: try u64(what))))
        case let kind: throw .corrupt("\(what): reference kind \(kind)")
        }
    }

    /// The image the bytes hold, every section read and checked in file order.
    mutating func image() throws(StubImageError) -> StubImage {
        let header = try self.header()
        let counts = header.counts
        let strings = try self.strings(counts.strings)
        let objects = try self.objects(counts.objects, strings: strings)
        let symbols = try self.symbols(counts.symbols, objects: counts.objects, strings: strings)
        let pools = try self.pools(counts.pools, strings: strings, architecture: header.architecture)
        let references = (stubs: counts.stubs, blobs: counts.blobs, symbols: counts.symbols)
        let stubs = try self.stubs(counts.stubs, pools: pools, strings: strings, references: references)
        let blobs = try self.blobs(counts.blobs, strings: strings, references: references, architecture: header.architecture)
        guard remaining == 0 else { throw .corrupt("\(remaining) bytes after the last blob") }
        try Self.checkBlobReferences(stubs: stubs.records, blobs: blobs)
        return StubImage(architecture: header.architecture, pageSize: header.pageSize, pools: pools, stubs: stubs.records,
                         stubNames: stubs.names, lazySpecs: stubs.lazySpecs, blobs: blobs, symbols: symbols, objects: objects)
    }

    /// The header: magic, version, architecture and page size of this host, the section counts,
    /// and the payload's length and checksum.
    private mutating func header() throws(StubImageError)
        -> (architecture: Architecture, pageSize: Int,
            counts: (strings: Int, objects: Int, symbols: Int, pools: Int, stubs: Int, blobs: Int)) {
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

    private mutating func strings(_ count: Int) throws(StubImageError) -> [String] {
        var strings: [String] = []
        strings.reserveCapacity(try plausible(count, size: 4, "strings"))
        for _ in 0..<count {
            let length = Int(try u32("string length"))
            try need(length, "string")
            strings.append(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[position..<position + length]), as: UTF8.self))
            position += length
        }
        return strings
    }

    private mutating func objects(_ count: Int, strings: [String]) throws(StubImageError) -> [ImageObject] {
        var objects: [ImageObject] = []
        objects.reserveCapacity(try plausible(count, size: 5, "objects"))
        for _ in 0..<count {
            guard let path = try string(strings, "object path") else { throw .corrupt("object without a path") }
            let length = Int(try u8("build-id length"))
            guard length > 0 else { throw .corrupt("object \(path) without a build-id") }
            objects.append(ImageObject(path: path, buildID: try self.bytes(length, "build-id")))
        }
        return objects
    }

    private mutating func symbols(_ count: Int, objects: Int, strings: [String]) throws(StubImageError) -> [ImageSymbol] {
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
    private mutating func pools(_ count: Int, strings: [String], architecture: Architecture) throws(StubImageError) -> [StubImage.Pool] {
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

    typealias ReferenceCounts = (stubs: Int, blobs: Int, symbols: Int)

    /// The stub records, in (pool, id) order, with the names and lazy specs of those that have one.
    private mutating func stubs(_ count: Int, pools: [StubImage.Pool], strings: [String], references: ReferenceCounts)
        throws(StubImageError) -> (records: [StubImage.StubRecord], names: [Int: String], lazySpecs: [Int: [UInt8]]) {
        var stubNames: [Int: String] = [:], lazySpecs: [Int: [UInt8]] = [:]
        _ = try plausible(count, size: 22, "stubs")
        // One tight loop into preallocated storage: this is most of an image.
        let poolCount = pools.count
        var failure: StubImageError?
        let stubs = [StubImage.StubRecord](unsafeUninitializedCapacity: count) { buffer, initialized in
            var previous: (pool: Int, id: UInt64) = (-1, 0)
            do throws(StubImageError) {
                for index in 0..<count {
                    let pool = try self.index(poolCount, "stub pool")
                    let id = try u64("stub id")
                    guard (previous.pool, previous.id) < (pool, id) || index == 0 else { throw .corrupt("stub \(index) out of order") }
                    previous = (pool, id)
                    let name = try u32("stub name")
                    if name != ImageFormat.noString {
                        guard Int(name) < strings.count else { throw .corrupt("stub \(index): string \(name) of \(strings.count)") }
                        stubNames[index] = strings[Int(name)]
                    }
                    let record: StubImage.StubRecord
                    switch try u8("stub flags") {
                    case 0:
                        let target = try reference(references, "stub target")
                        if case .plain = target { throw .corrupt("stub \(index): target is plain data") }
                        record = StubImage.StubRecord(pool: pool, id: id, target: target,
                                                      context: try reference(references, "stub context"), isPending: false)
                    case 1:
                        guard pools[pool].lazyBatches else { throw .corrupt("stub \(index): pending in a pool without lazy batches") }
                        lazySpecs[index] = try self.bytes(Int(try u32("spec length")), "lazy spec")
                        record = StubImage.StubRecord(pool: pool, id: id, target: .plain(0), context: .plain(0), isPending: true)
                    case let flags: throw .corrupt("stub \(index): flags \(flags)")
                    }
                    (buffer.baseAddress! + index).initialize(to: record)
                    initialized = index + 1
                }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return (stubs, stubNames, lazySpecs)
    }

    /// The blobs, each address field checked against its bytes and against the others.
    private mutating func blobs(_ count: Int, strings: [String], references: ReferenceCounts, architecture: Architecture)
        throws(StubImageError) -> [StubImage.BlobRecord] {
        var blobs: [StubImage.BlobRecord] = []
        blobs.reserveCapacity(try plausible(count, size: 17, "blobs"))
        for index in 0..<count {
            let name = try string(strings, "blob name")
            let original = try u64("blob address")
            let size = Int(try u32("blob size"))
            guard size > 0, size <= CodeArena.maximumBlobSize else { throw .corrupt("blob \(index): size \(size)") }
            try need(size, "blob bytes")
            let code = UnsafeRawBufferPointer(rebasing: bytes[position..<position + size])
            position += size
            let fieldCount = try plausible(Int(try u32("field count")), size: 10, "fields")
            var fields: [StubImage.BlobRecord.Field] = []
            fields.reserveCapacity(fieldCount)
            for _ in 0..<fieldCount {
                let offset = Int(try u32("field offset"))
                guard let kind = CodeRelocation.Field(rawValue: try u8("field kind")) else { throw .corrupt("blob \(index): field kind") }
                let value = try reference(references, "blob field")
                fields.append(StubImage.BlobRecord.Field(offset: offset, field: kind, value: value))
            }
            do throws(CodeRelocationError) {
                for field in fields { try field.field.validate(at: field.offset, in: code, architecture: architecture) }
                if fields.count > 1 {
                    let sorted = fields.sorted { $0.offset < $1.offset }
                    for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.offset + previous.field.size > next.offset {
                        throw .overlapping(offset: next.offset)
                    }
                }
            } catch {
                throw .corrupt("blob \(index): \(error)")
            }
            blobs.append(StubImage.BlobRecord(name: name, bytes: Array(code), fields: fields, originalAddress: original))
        }
        return blobs
    }

    /// Blob references must land inside their blob (its end included: a one-past-the-end label).
    private static func checkBlobReferences(stubs: [StubImage.StubRecord], blobs: [StubImage.BlobRecord]) throws(StubImageError) {
        func outside(_ reference: ImageReference) -> Bool {
            if case .blob(let blob, let offset) = reference { return offset < 0 || offset > blobs[blob].bytes.count }
            return false
        }
        for index in stubs.indices where outside(stubs[index].target) || outside(stubs[index].context) {
            throw .corrupt("stub \(index): blob offset outside its blob")
        }
        for (index, blob) in blobs.enumerated() where blob.fields.contains(where: { outside($0.value) }) {
            throw .corrupt("blob \(index): field refers outside a blob")
        }
    }
}
