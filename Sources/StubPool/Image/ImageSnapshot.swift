extension StubImage {
    /// A stub as a snapshot first reads it: plain values, cheap to sort.
    private struct RawStub {
        var id: UInt64
        var pool: Int
        var isPending: Bool
        var address: UInt
        var target: UInt
        var context: UInt
    }

    /// Whether a pool's contexts are plain integers or addresses to name like targets.
    public enum ContextRule: Sendable, Hashable {
        /// Saved as they are (counters, indices, tagged values).
        case plain
        /// Named like targets: a context that no rule can name fails the snapshot.
        case references
    }

    /// One pool to save, with how to treat its contexts and, for pools with lazy stubs, how to
    /// encode their pending specs.
    public struct PoolSource: Sendable {
        let pool: StubPool
        let contexts: ContextRule
        let pendingSpecs: (@Sendable () -> [UInt: Result<[UInt8], EncodingFailure>])?

        struct EncodingFailure: Error { let message: String }

        /// A pool without pending lazy stubs (or whose pending stubs are not to be saved: a
        /// pending stub then fails the snapshot).
        ///
        /// - Parameters:
        ///   - pool: the pool to save.
        ///   - contexts: how its stubs' contexts are saved: as plain numbers, or as references
        ///     named like targets.
        public init(_ pool: StubPool, contexts: ContextRule = .plain) {
            self.pool = pool
            self.contexts = contexts
            self.pendingSpecs = nil
        }

        /// A pool with lazy stubs: each pending stub's spec is saved as `encode` returns it (the
        /// restoring process decodes it, see ``StubImage/LazySink``).
        ///
        /// - Parameters:
        ///   - lazy: the lazy stubs whose pool is saved, pending stubs included.
        ///   - contexts: how its stubs' contexts are saved: as plain numbers, or as references
        ///     named like targets.
        ///   - encode: turns a pending stub's spec into bytes; what it throws fails the snapshot
        ///     with ``StubImageError/specEncoding(pool:id:message:)``.
        public init<Spec: Sendable>(_ lazy: LazyStubs<Spec>, contexts: ContextRule = .plain,
                                    encode: @escaping @Sendable (Spec) throws -> [UInt8]) {
            self.pool = lazy.pool
            self.contexts = contexts
            let batcher = lazy.batcher
            self.pendingSpecs = {
                batcher.unsettledSpecs().mapValues { spec in
                    Result { try encode(spec) }.mapError { EncodingFailure(message: "\($0)") }
                }
            }
        }
    }

    /// The runtime's own names for addresses no loaded object names (generated code outside the
    /// arena, runtime data): the name and the offset of `address` from what it names, or `nil`.
    public typealias Symbolizer = (_ address: UInt) -> (name: String, offset: Int)?

    /// Saves `pools` (live and pending stubs) and every live blob of `arena`.
    ///
    /// Each target, each non-zero context of a ``ContextRule/references`` pool and each address-valued
    /// field of a blob (recorded by ``CodeArena/commit(_:names:)-([CodeBody],_)``) is named by the
    /// first rule that applies: a stub entry of the image, a byte of a blob of the image, the
    /// runtime's `symbolizer`, an exported symbol of a loaded object (when `dlsym` gives the same
    /// address back), an offset into a loaded object with a build-id. An address that none names
    /// throws ``StubImageError/unnameableAddress(_:referrer:)``.
    ///
    /// Blob bytes without relocation records are saved as they are: code with raw addresses
    /// baked in must be committed as a ``CodeBody`` to be portable. Payloads are not saved.
    /// Stubs allocated or released on other threads meanwhile may or may not be included: each
    /// pool is read one shard at a time under that shard's lock, the arena under its lock.
    /// Linear in the slots mapped and the blob bytes; `dladdr` runs once per distinct address
    /// outside the image.
    ///
    /// - Throws: ``StubImageError/unnameableAddress(_:referrer:)``,
    ///   ``StubImageError/pendingWithoutEncoder(pool:)``, ``StubImageError/specEncoding(pool:id:message:)``,
    ///   ``StubImageError/duplicatePool(_:)``, ``StubImageError/payloadDataSlots(pool:)``. Nothing
    ///   changes in the pools or the arena.
    public static func snapshot(pools: [PoolSource], arena: CodeArena? = nil,
                                symbolizer: Symbolizer? = nil) throws(StubImageError) -> StubImage {
        var image = StubImage(architecture: .host, pageSize: Kernel.pageSize, pools: [], stubs: [], blobs: [],
                              symbols: [], objects: [])
        var seen = Set<ObjectIdentifier>()
        // Raw values first; references are named once every stub and blob has an index. Plain
        // values only (names and specs are looked up by address afterwards): sorting and copying
        // records that held strings and arrays went through generic value witnesses, most of a
        // snapshot's time.
        var rawStubs: [RawStub] = []
        var namesByPool: [[UInt: String]] = [], specsByPool: [[UInt: Result<[UInt8], PoolSource.EncodingFailure>]] = []
        for (index, source) in pools.enumerated() {
            guard seen.insert(ObjectIdentifier(source.pool)).inserted else { throw .duplicatePool(index) }
            let configuration = source.pool.configuration
            guard configuration.payloadDataOffset == nil else { throw .payloadDataSlots(pool: index) }
            var pool = Pool(kind: configuration.kind, placement: configuration.placement, landingPads: configuration.landingPads,
                            lazyBatches: configuration.lazyBatches, codeSize: configuration.codeSize,
                            payloadSize: configuration.payloadSize, name: configuration.name, templateHash: 0)
            pool.templateHash = templateHash(of: pool.variant, architecture: .host)
            image.pools.append(pool)
            let specs = source.pendingSpecs?() ?? [:]
            specsByPool.append(specs)
            namesByPool.append(source.pool.hasNames.load(ordering: .relaxed) ? source.pool.names.withLock { $0 } : [:])
            var failure: StubImageError?
            let first = rawStubs.count
            source.pool.forEachOccupiedSlot(chunk: { _ in }, slot: { stub, id, state, data in
                guard failure == nil else { return }
                switch state {
                case .reserved: return
                case .live:
                    rawStubs.append(RawStub(id: id, pool: index, isPending: false, address: stub.address, target: data.target,
                                            context: data.context))
                case .pending:
                    guard source.pendingSpecs != nil else { failure = .pendingWithoutEncoder(pool: index); return }
                    switch specs[stub.address] {
                    case .success?:
                        rawStubs.append(RawStub(id: id, pool: index, isPending: true, address: stub.address, target: 0, context: 0))
                    case .failure(let error)?: failure = .specEncoding(pool: index, id: id, message: error.message); return
                    case nil: return  // settled while we looked
                    }
                }
            })
            if let failure { throw failure }
            rawStubs[first...].sort { $0.id < $1.id }
        }
        let rawBlobs = (arena?.contents(fields: true).blobs ?? []).sorted { $0.blob.address < $1.blob.address }
        var namer = AddressNamer(stubs: rawStubs.map(\.address), blobs: rawBlobs.map(\.blob), symbolizer: symbolizer)
        image.stubs.reserveCapacity(rawStubs.count)
        for raw in rawStubs {
            let index = image.stubs.count
            if !namesByPool[raw.pool].isEmpty, let name = namesByPool[raw.pool][raw.address] { image.stubNames[index] = name }
            var record = StubRecord(pool: raw.pool, id: raw.id, target: .plain(0), context: .plain(0), isPending: raw.isPending)
            if raw.isPending {
                if case .success(let bytes)? = specsByPool[raw.pool][raw.address] { image.lazySpecs[index] = bytes }
            } else {
                let what = { "pool \(raw.pool) stub #\(raw.id)" }
                record.target = try namer.name(raw.target, referrer: "\(what()) target")
                // A null reference stays null.
                record.context = pools[raw.pool].contexts == .plain || raw.context == 0 ? .plain(UInt64(raw.context))
                    : try namer.name(raw.context, referrer: "\(what()) context")
            }
            image.stubs.append(record)
        }
        for (index, raw) in rawBlobs.enumerated() {
            let bytes = Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: raw.blob.address), count: raw.blob.size))
            var fields: [BlobRecord.Field] = []
            for field in raw.fields.sorted(by: { $0.offset < $1.offset }) {
                let value = bytes.withUnsafeBytes { field.field.load(at: Int(field.offset), in: $0, origin: raw.blob.address) }
                fields.append(BlobRecord.Field(offset: Int(field.offset), field: field.field,
                                               value: try namer.name(UInt(truncatingIfNeeded: value), referrer: "blob \(index) (\(raw.name ?? "unnamed")) field at \(field.offset)")))
            }
            image.blobs.append(BlobRecord(name: raw.name, bytes: bytes, fields: fields, originalAddress: UInt64(raw.blob.address)))
        }
        image.symbols = namer.symbols
        image.objects = namer.objects
        return image
    }
}

/// Names addresses by the snapshot rules, caching each distinct address outside the image.
private struct AddressNamer {
    /// The image's stubs by entry, built on the first address that lies in a pool's code (many
    /// images point only at blobs and symbols).
    private let stubs: [UInt]
    private var stubIndex: [UInt: Int]?
    let blobs: [CodeBlob]
    /// The blobs' addresses, ascending: searched for every reference (plain words, no blob copied).
    private let blobStarts: [UInt]
    let symbolizer: StubImage.Symbolizer?
    var loaded: LoadedObjects?
    var symbols: [ImageSymbol] = []
    var objects: [ImageObject] = []
    private var symbolIndex: [ImageSymbol: Int] = [:]
    private var objectIndex: [[UInt8]: Int] = [:]
    private var cache: [UInt: ImageReference] = [:]

    init(stubs: [UInt], blobs: [CodeBlob], symbolizer: StubImage.Symbolizer?) {
        self.stubs = stubs
        self.blobs = blobs
        self.blobStarts = blobs.map(\.address)
        self.symbolizer = symbolizer
    }

    mutating func name(_ address: UInt, referrer: @autoclosure () -> String) throws(StubImageError) -> ImageReference {
        // A stub entry, a blob and a loaded object never share an address, so the order only
        // decides cost: the blob search, then the names already found, then the pools' index.
        if let blob = blob(containing: address) { return .blob(blob, offset: Int(address - blobs[blob].address)) }
        if let cached = cache[address] { return cached }
        if ChunkRegistry.withChunk(containing: address, { _ in true }) == true, let stub = stub(at: address) { return .stub(stub) }
        let reference = try outside(address, referrer: referrer)
        cache[address] = reference
        return reference
    }

    /// The image's stub whose entry is `address`.
    private mutating func stub(at address: UInt) -> Int? {
        if stubIndex == nil {
            var index: [UInt: Int] = [:]
            index.reserveCapacity(stubs.count)
            for (position, address) in stubs.enumerated() { index[address] = position }
            stubIndex = index
        }
        return stubIndex![address]
    }

    /// The blob whose bytes (or end) include `address`: binary search by address.
    private func blob(containing address: UInt) -> Int? {
        blobStarts.withUnsafeBufferPointer { starts in
            var low = 0, high = starts.count
            while low < high {
                let middle = (low + high) / 2
                if starts[middle] <= address { low = middle + 1 } else { high = middle }
            }
            guard low > 0, address - starts[low - 1] <= UInt(blobs[low - 1].size) else { return nil }
            return low - 1
        }
    }

    private mutating func outside(_ address: UInt, referrer: () -> String) throws(StubImageError) -> ImageReference {
        if let (name, offset) = symbolizer?(address) { return .symbol(symbol(.runtime(name)), offset: offset) }
        if let (name, start) = LoadedObjects.exportedSymbol(containing: address) {
            return .symbol(symbol(.exported(name)), offset: Int(address - start))
        }
        if loaded == nil { loaded = LoadedObjects.current() }
        if let object = loaded!.object(containing: address), let buildID = object.buildID {
            let index = objectIndex[buildID] ?? {
                objects.append(ImageObject(path: object.path, buildID: buildID))
                objectIndex[buildID] = objects.count - 1
                return objects.count - 1
            }()
            return .symbol(symbol(.objectOffset(object: index, offset: UInt64(address - object.bias))), offset: 0)
        }
        throw .unnameableAddress(address, referrer: referrer())
    }

    private mutating func symbol(_ symbol: ImageSymbol) -> Int {
        if let index = symbolIndex[symbol] { return index }
        symbols.append(symbol)
        symbolIndex[symbol] = symbols.count - 1
        return symbols.count - 1
    }
}
