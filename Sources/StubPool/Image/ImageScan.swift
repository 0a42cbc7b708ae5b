/// An encoded image validated in one pass, without a record built per stub or blob: the small
/// sections decoded, the stub section summarized (where each pool's stubs start, the pending ones,
/// the names, how far stubs reach into each blob and around each symbol), each blob located in
/// the bytes with its fields in one list. Decoding and restoring both start here, so an image one
/// of them accepts the other accepts too; both then read the stub section a second time through
/// a ``Rereader``.
struct ImageScan {
    let architecture: Architecture
    let pageSize: Int
    let objects: [ImageObject]
    let symbols: [ImageSymbol]
    let pools: [StubImage.Pool]
    let stubCount: Int
    /// The byte offset of the first stub record.
    let stubSection: Int
    /// What reading a stub record again needs.
    let limits: ImageReader.StubLimits
    /// The first stub index of each pool, then the stub count: pool `p` holds stubs
    /// `poolStarts[p]..<poolStarts[p + 1]` (the stubs are in pool order).
    let poolStarts: [Int]
    /// The pending stubs in index order: their id and encoded spec (a range of the image).
    let pending: [(index: Int, id: UInt64, spec: Range<Int>)]
    /// Names given to stubs, by index.
    let names: [Int: String]
    /// Each stub record's reference lengths in one byte, the target's in the low four bits and the
    /// context's in the high four, 0 for a pending stub: what lets a ``Rereader`` read the records
    /// again with no check and no load to find the next.
    let referenceLengths: [UInt8]
    let blobs: [ImageReader.BlobEntry]
    /// Every blob's fields, in blob order (``ImageReader/BlobEntry/fields`` ranges).
    let fields: [StubImage.BlobRecord.Field]
    /// The lowest and highest offset a stub's target adds to a symbol (`lowest > highest`: no
    /// stub targets one), for the restore's check of targets against the first page: where every
    /// symbol passes with both, no stub needs a look of its own.
    let symbolOffsets: (lowest: Int, highest: Int)

    /// The first stub for which `test` holds, reading the stub section again: for naming the
    /// stub behind a failed check.
    func firstStub(of bytes: UnsafeRawBufferPointer, where test: (ImageReader.StubEntry) -> Bool) -> Int? {
        Self.firstStub(of: bytes, at: stubSection, count: stubCount, limits, where: test)
    }

    private static func firstStub(of bytes: UnsafeRawBufferPointer, at section: Int, count: Int, _ limits: ImageReader.StubLimits,
                                  where test: (ImageReader.StubEntry) -> Bool) -> Int? {
        var reader = ImageReader(bytes: bytes, position: section)
        var previous: (pool: Int, id: UInt64) = (-1, 0)
        for index in 0..<count {
            guard let entry = try? reader.stub(index, after: &previous, limits) else { return nil }
            if test(entry) { return index }
        }
        return nil
    }

    /// Validates every section of `bytes` in file order: header, version, architecture, page
    /// size, checksum, then every record (indices in range, known kinds, well-formed fields,
    /// stubs in order, blob references inside their blob).
    init(_ bytes: UnsafeRawBufferPointer) throws(StubImageError) {
        var reader = ImageReader(bytes: bytes)
        let header = try reader.header()
        let counts = header.counts
        let strings = try reader.strings(counts.strings)
        architecture = header.architecture
        pageSize = header.pageSize
        objects = try reader.objects(counts.objects, strings: strings)
        symbols = try reader.symbols(counts.symbols, objects: counts.objects, strings: strings)
        pools = try reader.pools(counts.pools, strings: strings, architecture: header.architecture)
        let references = (stubs: counts.stubs, blobs: counts.blobs, symbols: counts.symbols)
        limits = ImageReader.StubLimits(lazyPools: pools.map(\.lazyBatches), strings: strings.count, references: references)
        stubCount = counts.stubs
        stubSection = reader.position
        // Both sections must fit in what is left before anything is sized by their counts.
        _ = try reader.plausible(counts.stubs, size: 22, "stubs")
        _ = try reader.plausible(counts.blobs, size: 17, "blobs")

        var poolStarts = [Int](repeating: counts.stubs, count: pools.count + 1)
        var pending: [(index: Int, id: UInt64, spec: Range<Int>)] = []
        var names: [Int: String] = [:]
        var referenceLengths: [UInt8] = []
        referenceLengths.reserveCapacity(counts.stubs)
        // How far stubs reach into blobs and around symbols, over all of them: kept without a
        // branch on a reference's kind (stub targets mix kinds), so a blob that is reached too
        // far is found by reading the stubs again.
        var blobOffsets = (lowest: Int.max, highest: Int.min), symbolOffsets = (lowest: Int.max, highest: Int.min)
        func reach(_ reference: ImageReader.PackedReference, kind: Int, _ range: inout (lowest: Int, highest: Int)) {
            let offset = Int(Int64(bitPattern: reference.value))
            range.lowest = min(range.lowest, reference.kind == kind ? offset : .max)
            range.highest = max(range.highest, reference.kind == kind ? offset : .min)
        }
        var previous: (pool: Int, id: UInt64) = (-1, 0)
        var pool = -1
        for index in 0..<counts.stubs {
            let entry = try reader.stub(index, after: &previous, limits)
            while pool < entry.pool {
                pool += 1
                poolStarts[pool] = index
            }
            if entry.name != ImageFormat.noString { names[index] = strings[Int(entry.name)] }
            if let spec = entry.spec {
                pending.append((index, entry.id, spec))
                referenceLengths.append(0)
                continue
            }
            referenceLengths.append(UInt8(truncatingIfNeeded: ImageReader.referenceLength(kind: entry.target.kind)
                                              | ImageReader.referenceLength(kind: entry.context.kind) << 4))
            reach(entry.target, kind: 2, &blobOffsets)
            reach(entry.context, kind: 2, &blobOffsets)
            reach(entry.target, kind: 3, &symbolOffsets)
        }

        var blobs: [ImageReader.BlobEntry] = []
        var fields: [StubImage.BlobRecord.Field] = []
        blobs.reserveCapacity(counts.blobs)
        for index in 0..<counts.blobs {
            blobs.append(try reader.blob(index, strings: strings, references: references, architecture: header.architecture, fields: &fields))
        }
        guard reader.remaining == 0 else { throw .corrupt("\(reader.remaining) bytes after the last blob") }
        // Blob references land inside their blob, its end included (a one-past-the-end label).
        func outside(_ reference: ImageReader.PackedReference) -> Bool {
            let offset = Int(Int64(bitPattern: reference.value))
            return reference.kind == 2 && (offset < 0 || offset > blobs[reference.index].code.count)
        }
        if blobOffsets.lowest < 0 || blobOffsets.highest > (blobs.lazy.map { $0.code.count }.min() ?? 0),
           let stub = Self.firstStub(of: bytes, at: stubSection, count: counts.stubs, limits, where: { outside($0.target) || outside($0.context) }) {
            throw .corrupt("stub \(stub): blob offset outside its blob")
        }
        for (index, blob) in blobs.enumerated() {
            for field in fields[blob.fields] {
                guard case .blob(let other, let offset) = field.value else { continue }
                guard offset >= 0, offset <= blobs[other].code.count else { throw .corrupt("blob \(index): field refers outside a blob") }
            }
        }
        self.poolStarts = poolStarts
        self.pending = pending
        self.names = names
        self.referenceLengths = referenceLengths
        self.blobs = blobs
        self.fields = fields
        self.symbolOffsets = symbolOffsets
    }
}

extension ImageScan {
    /// The stub records of a scanned image read again, in index order, without a check: each
    /// record's end is known from ``ImageScan/referenceLengths`` (a pending one's from its spec), so
    /// no record waits on a load from the one before it. Where the reading is kept, a ``Cursor``,
    /// is apart from what it reads, so that a loop keeps both in registers.
    struct Rereader {
        private let bytes: UnsafeRawBufferPointer
        private let lengths: UnsafeBufferPointer<UInt8>
        private let pending: UnsafeBufferPointer<(index: Int, id: UInt64, spec: Range<Int>)>
        /// The first record.
        let start: Cursor

        /// A place in the stub records: the next record's offset and index, and how many
        /// pending stubs lie before it.
        struct Cursor {
            fileprivate var record: Int
            fileprivate var index = 0
            fileprivate var pendingBefore = 0
        }

        fileprivate init(_ bytes: UnsafeRawBufferPointer, section: Int, lengths: UnsafeBufferPointer<UInt8>,
                         pending: UnsafeBufferPointer<(index: Int, id: UInt64, spec: Range<Int>)>) {
            self.bytes = bytes
            self.lengths = lengths
            self.pending = pending
            start = Cursor(record: section)
        }

        /// The stub record at `cursor`, which moves past it: its pool, id and references (plain
        /// zeros for a pending stub).
        @inline(__always)
        func next(_ cursor: inout Cursor) -> (pool: Int, id: UInt64, target: ImageReader.PackedReference,
                                              context: ImageReader.PackedReference, isPending: Bool) {
            let pool = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: cursor.record, as: UInt32.self)))
            let id = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: cursor.record + 4, as: UInt64.self))
            guard lengths[cursor.index] != 0 else {
                skipPending(&cursor)
                let zero = ImageReader.PackedReference(kind: 0, index: 0, value: 0)
                return (pool, id, zero, zero, true)
            }
            let (target, context) = live(&cursor)
            return (pool, id, target, context, false)
        }

        /// The target and context of the first live stub at or after `cursor`, which moves past it.
        @inline(__always)
        func nextLive(_ cursor: inout Cursor) -> (target: ImageReader.PackedReference, context: ImageReader.PackedReference) {
            while lengths[cursor.index] == 0 { skipPending(&cursor) }
            return live(&cursor)
        }

        @inline(__always)
        private func live(_ cursor: inout Cursor) -> (target: ImageReader.PackedReference, context: ImageReader.PackedReference) {
            let reader = ImageReader(bytes: bytes)
            let targetLength = Int(lengths[cursor.index] & 15), contextLength = Int(lengths[cursor.index] >> 4)
            let references = (reader.validatedReference(at: cursor.record + ImageReader.stubFixedFields),
                              reader.validatedReference(at: cursor.record + ImageReader.stubFixedFields + targetLength))
            cursor.record += ImageReader.stubFixedFields + targetLength + contextLength
            cursor.index += 1
            return references
        }

        @inline(__always)
        private func skipPending(_ cursor: inout Cursor) {
            cursor.record = pending[cursor.pendingBefore].spec.upperBound
            cursor.pendingBefore += 1
            cursor.index += 1
        }
    }

    /// Reads the stub records of `bytes` (the image this scan validated) again, through a
    /// ``Rereader`` valid inside `body`.
    @inline(__always)
    func rereading<Result>(_ bytes: UnsafeRawBufferPointer, _ body: (Rereader) -> Result) -> Result {
        referenceLengths.withUnsafeBufferPointer { lengths in
            pending.withUnsafeBufferPointer { pending in
                body(Rereader(bytes, section: stubSection, lengths: lengths, pending: pending))
            }
        }
    }
}
