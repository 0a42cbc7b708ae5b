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
            do throws(StubImageError) { return .success(StubImage(scanned: try ImageScan(raw), of: raw)) } catch { return .failure(error) }
        }
        self = try result.get()
    }

    /// The records of a validated image.
    private init(scanned scan: ImageScan, of bytes: UnsafeRawBufferPointer) {
        // One tight loop into preallocated storage: this is most of an image.
        let stubs = [StubRecord](unsafeUninitializedCapacity: scan.stubCount) { buffer, initialized in
            scan.rereading(bytes) { records in
                var cursor = records.start
                for index in 0..<scan.stubCount {
                    let entry = records.next(&cursor)
                    (buffer.baseAddress! + index).initialize(to: StubRecord(pool: entry.pool, id: entry.id, target: entry.target.reference,
                                                                           context: entry.context.reference, isPending: entry.isPending))
                }
            }
            initialized = scan.stubCount
        }
        var lazySpecs: [Int: [UInt8]] = [:]
        for stub in scan.pending { lazySpecs[stub.index] = Array(bytes[stub.spec]) }
        let blobs = scan.blobs.map { blob in
            BlobRecord(name: blob.name, bytes: Array(bytes[blob.code]), fields: Array(scan.fields[blob.fields]),
                       originalAddress: blob.originalAddress)
        }
        self.init(architecture: scan.architecture, pageSize: scan.pageSize, pools: scan.pools, stubs: stubs, stubNames: scan.names,
                  lazySpecs: lazySpecs, blobs: blobs, symbols: scan.symbols, objects: scan.objects)
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
