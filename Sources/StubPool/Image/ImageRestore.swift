extension StubImage {
    /// Where a restored pool's pending lazy stubs go: lazy stubs the runtime attaches to the new
    /// pool, and the decoder of the specs its encoder wrote.
    public struct LazySink {
        let prepare: ([[UInt8]], _ pool: Int, _ ids: [UInt64]) throws(StubImageError) -> () throws(StubPoolError) -> StubRange

        /// A sink that requests the pending stubs through `lazy`, decoding each spec with `decode`.
        ///
        /// - Parameters:
        ///   - lazy: lazy stubs attached to the restored pool; the pending stubs are requested
        ///     through them in one call, in image order.
        ///   - decode: turns the bytes the snapshot's encoder wrote back into a spec. Called for
        ///     every pending stub before anything is allocated; what it throws becomes
        ///     ``StubImageError/specDecoding(pool:id:message:)``.
        public init<Spec: Sendable>(_ lazy: LazyStubs<Spec>, decode: @escaping ([UInt8]) throws -> Spec) {
            prepare = { (encoded, pool, ids) throws(StubImageError) in
                var specs: [Spec] = []
                specs.reserveCapacity(encoded.count)
                for (index, bytes) in encoded.enumerated() {
                    do { specs.append(try decode(bytes)) } catch {
                        throw .specDecoding(pool: pool, id: ids[index], message: "\(error)")
                    }
                }
                return { () throws(StubPoolError) in try lazy.request(specs) }
            }
        }
    }

    /// The runtime's resolver for ``ImageSymbol/runtime(_:)`` names: the address, or `nil`.
    public typealias Resolver = (_ name: String) -> UInt?

    /// Rebuilds the image's state in this process: ``restore(encoded:into:resolver:lazy:)`` of
    /// ``encoded()``.
    ///
    /// - Parameters:
    ///   - arena: where the blobs go (a new arena if `nil` and the image has blobs).
    ///   - resolver: addresses for ``ImageSymbol/runtime(_:)`` names.
    ///   - lazy: called once for each pool with pending stubs, with the pool's index in the image
    ///     and the new pool: attach lazy stubs to it (``StubPool/lazyStubs(of:batchLimit:generator:onFailure:)``)
    ///     and return them with a spec decoder. What it throws becomes
    ///     ``StubImageError/lazyAttachment(pool:message:)``.
    /// - Returns: the new pools, arena, stubs (parallel to ``stubs``) and blobs (parallel to ``blobs``).
    /// - Throws: ``StubImageError``; nothing the restore created survives a throw.
    public func restore(into arena: CodeArena? = nil, resolver: Resolver? = nil,
                        lazy: (_ pool: Int, _ newPool: StubPool) throws -> LazySink? = { _, _ in nil }) throws(StubImageError) -> RestoredImage {
        try Self.restore(encoded: encoded(), into: arena, resolver: resolver, lazy: lazy)
    }

    /// Rebuilds the state of an encoded image in this process, straight from its bytes: no record
    /// is built per stub or blob, and each blob's code is copied from the bytes into the arena.
    ///
    /// First the image is validated (as ``init(decoding:)`` does) and everything is resolved —
    /// every symbol (`dlsym`, build-ids of the loaded objects, the runtime's `resolver`), every
    /// target (a symbol plus its offset must land above the first page), every lazy spec (decoded
    /// by the sinks `lazy` returns) — and any failure throws before a stub is allocated. Then each
    /// pool is created and its live stubs taken in one bulk allocation, pending lazy stubs are
    /// requested in one call per pool, every blob is committed in one batch with its fields
    /// relocated (one cache maintenance pass), and finally every stub's target and context are
    /// written, reading the stub records a second time.
    ///
    /// - Parameters:
    ///   - bytes: an image as ``encoded()`` or ``write(to:)`` made it.
    ///   - arena: where the blobs go (a new arena if `nil` and the image has blobs).
    ///   - resolver: addresses for ``ImageSymbol/runtime(_:)`` names.
    ///   - lazy: called once for each pool with pending stubs, as in ``restore(into:resolver:lazy:)``.
    /// - Returns: the new pools, arena, stubs and blobs, each in the image's order.
    /// - Throws: ``StubImageError``; nothing the restore created survives a throw.
    ///
    /// Linear in the stubs and blob bytes. Any thread; each restore makes new pools.
    public static func restore(encoded bytes: [UInt8], into arena: CodeArena? = nil, resolver: Resolver? = nil,
                               lazy: (_ pool: Int, _ newPool: StubPool) throws -> LazySink? = { _, _ in nil })
        throws(StubImageError) -> RestoredImage {
        let result = bytes.withUnsafeBytes { raw -> Result<RestoredImage, StubImageError> in
            do throws(StubImageError) {
                let scan = try ImageScan(raw)
                return .success(try restore(scan, of: raw, into: arena, resolver: resolver, lazy: lazy))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Reads the image file at `path` and restores it: ``restore(encoded:into:resolver:lazy:)``.
    public static func restore(contentsOf path: String, into arena: CodeArena? = nil, resolver: Resolver? = nil,
                               lazy: (_ pool: Int, _ newPool: StubPool) throws -> LazySink? = { _, _ in nil })
        throws(StubImageError) -> RestoredImage {
        let bytes: [UInt8]
        do throws(SystemError) { bytes = try Kernel.readFile(path, limit: maximumFileSize) } catch { throw .system(error) }
        return try restore(encoded: bytes, into: arena, resolver: resolver, lazy: lazy)
    }

    /// The restore of a validated image, from its bytes.
    private static func restore(_ scan: ImageScan, of bytes: UnsafeRawBufferPointer, into arena: CodeArena?, resolver: Resolver?,
                                lazy: (_ pool: Int, _ newPool: StubPool) throws -> LazySink?) throws(StubImageError) -> RestoredImage {
        let symbolAddresses = try resolveSymbols(scan.symbols, objects: scan.objects, resolver)
        // Stub and blob targets are never in the first page; a symbol's may be (a resolver's 0),
        // and a symbol plus its offset must not leave the address space.
        func misses(_ symbol: Int, _ offset: Int) -> Bool {
            let address = Int128(symbolAddresses[symbol]) + Int128(offset)
            return address < Int128(Kernel.pageSize) || address > Int128(UInt.max)
        }
        let offsets = scan.symbolOffsets
        if offsets.lowest <= offsets.highest,
           symbolAddresses.indices.contains(where: { misses($0, offsets.lowest) || misses($0, offsets.highest) }) {
            var address: UInt = 0
            let stub = scan.firstStub(of: bytes) { entry in
                let offset = Int(Int64(bitPattern: entry.target.value))
                address = symbolAddresses[entry.target.index] &+ UInt(bitPattern: offset)
                return entry.target.kind == 3 && misses(entry.target.index, offset)
            }
            if let stub { throw .invalidTarget(stub: stub, address: address) }
        }
        var pools: [StubPool] = []
        for pool in scan.pools {
            do throws(StubPoolError) { pools.append(try StubPool(pool.configuration)) } catch { throw .pool(error) }
        }
        // The pending stubs of each pool: `scan.pending[pendingStart[p]..<pendingStart[p + 1]]`.
        var pendingStart = [Int](repeating: 0, count: pools.count + 1)
        var position = 0
        for pool in pendingStart.indices {
            while position < scan.pending.count && scan.pending[position].index < scan.poolStarts[pool] { position += 1 }
            pendingStart[pool] = position
        }
        var requests: [(pool: Int, request: () throws(StubPoolError) -> StubRange)] = []
        for pool in pools.indices where pendingStart[pool] < pendingStart[pool + 1] {
            let own = scan.pending[pendingStart[pool]..<pendingStart[pool + 1]]
            let attached: LazySink?
            do { attached = try lazy(pool, pools[pool]) } catch { throw .lazyAttachment(pool: pool, message: "\(error)") }
            guard let sink = attached else { throw .missingLazyStubs(pool: pool) }
            requests.append((pool, try sink.prepare(own.map { Array(bytes[$0.spec]) }, pool, own.map(\.id))))
        }

        // Everything is resolved: allocate. A failure from here on (out of memory, descriptors)
        // drops the new pools, which unmaps their chunks; the blob commit, the last step that can
        // fail, is all or nothing.
        var ranges: [(pool: Int, range: StubRange)] = []
        var lazyRanges: [(pool: Int, range: StubRange)] = []
        do throws(StubPoolError) {
            for pool in pools.indices {
                let live = scan.poolStarts[pool + 1] - scan.poolStarts[pool] - (pendingStart[pool + 1] - pendingStart[pool])
                if live > 0 { ranges.append((pool, try pools[pool].reserveRange(count: live))) }
            }
            for (pool, request) in requests {
                let range = try request()
                precondition(range.count == pendingStart[pool + 1] - pendingStart[pool], "a lazy request made \(range.count) stubs")
                lazyRanges.append((pool, range))
            }
        } catch {
            throw .pool(error)
        }
        // Each stub's handle: a pool's live stubs take its range in order, its pending ones (in
        // index order too) the lazy stubs requested for them.
        let handles = [Stub](unsafeUninitializedCapacity: scan.stubCount) { handles, initialized in
            for (pool, range) in ranges {
                var next = pendingStart[pool]
                var index = scan.poolStarts[pool]
                for stub in range {
                    while next < pendingStart[pool + 1] && scan.pending[next].index == index {
                        next += 1
                        index += 1
                    }
                    (handles.baseAddress! + index).initialize(to: stub)
                    index += 1
                }
            }
            for (pool, range) in lazyRanges {
                for (pending, stub) in zip(scan.pending[pendingStart[pool]..<pendingStart[pool + 1]], range) {
                    (handles.baseAddress! + pending.index).initialize(to: stub)
                }
            }
            initialized = scan.stubCount
        }
        // Every address a reference can name apart from the stubs' entries: a 0 (plain data), the
        // symbols, then (once committed) the blobs. A reference of kind 0, 2 or 3 names
        // `addresses[start(kind) + index]` plus its value; a stub reference `handles[index]`.
        var addresses: [UInt] = [0]
        addresses.reserveCapacity(1 + symbolAddresses.count + scan.blobs.count)
        addresses += symbolAddresses
        let symbolStart = 1, blobStart = 1 + symbolAddresses.count

        var targetArena = arena
        var blobs: [CodeBlob] = []
        if !scan.blobs.isEmpty {
            let destination = arena ?? CodeArena()
            targetArena = destination
            // Validated when the image was scanned: straight to the relocating commit.
            let relocations = scan.fields.map { field in
                let operand: CodeOperand = switch field.value {
                case .plain(let value): .constant(value)
                case .blob(let index, let offset): .blob(index, offset: offset)
                case .stub(let index): .address(handles[index].address)
                case .symbol(let index, let offset): .address(symbolAddresses[index] &+ UInt(bitPattern: offset))
                }
                return CodeRelocation(offset: field.offset, field: field.field, operand: operand)
            }
            let code = BlobSpans(base: bytes.baseAddress!, spans: scan.blobs.map { ($0.code.lowerBound, $0.code.count) })
            let names = scan.blobs.contains { $0.name != nil } ? scan.blobs.enumerated().map { $0.element.name ?? "image-blob#\($0.offset)" } : nil
            do throws(CodeArenaError) {
                blobs = try destination.commit(code, relocations: .perBlob(fields: relocations, starts: [0] + scan.blobs.map(\.fields.upperBound)),
                                               names: names)
            } catch {
                throw .arena(error)
            }
        }

        // Targets and contexts: the stub records read again, in the order the ranges were taken.
        addresses += blobs.lazy.map { $0.address }
        scan.rereading(bytes) { records in var cursor = records.start; addresses.withUnsafeBufferPointer { addresses in handles.withUnsafeBufferPointer { stubs in
            // No branch on the kind (stub targets mix kinds): both tables are read, one is kept.
            // A stub reference's value is 0; the scan checked every index.
            func value(_ reference: ImageReader.PackedReference) -> UInt {
                let kind = reference.kind, isStub = kind == 1
                let start = kind == 0 ? 0 : kind == 2 ? blobStart : symbolStart
                let address = addresses[isStub ? 0 : start &+ reference.index]
                let stub = stubs[isStub ? reference.index : 0].address
                return (isStub ? stub : address) &+ UInt(truncatingIfNeeded: reference.value)
            }
            for (pool, range) in ranges {
                pools[pool].layout.forEachDataSlot(of: range) { _, _, data in
                    let (target, context) = records.nextLive(&cursor)
                    data.publish(target: value(target), context: value(context))
                }
            }
        } } }
        for (index, name) in scan.names {
            do throws(StubPoolError) { try pools[scan.poolStarts.lastIndex { $0 <= index }!].setName(name, for: handles[index]) } catch {
                throw .pool(error)
            }
        }
        return RestoredImage(pools: pools, arena: targetArena, stubs: handles, blobs: blobs)
    }

    /// The address of every symbol, or the first that cannot be resolved.
    private static func resolveSymbols(_ symbols: [ImageSymbol], objects: [ImageObject], _ resolver: Resolver?) throws(StubImageError) -> [UInt] {
        var loaded: LoadedObjects?
        var addresses: [UInt] = []
        addresses.reserveCapacity(symbols.count)
        for symbol in symbols {
            switch symbol {
            case .exported(let name):
                guard let address = LoadedObjects.exported(name) else { throw .unresolvedSymbol(name) }
                addresses.append(address)
            case .objectOffset(let object, let offset):
                if loaded == nil { loaded = LoadedObjects.current() }
                let record = objects[object]
                guard let found = loaded!.object(buildID: record.buildID) else {
                    throw .objectNotLoaded(path: record.path, buildID: record.buildID.hexadecimal)
                }
                addresses.append(found.bias &+ UInt(truncatingIfNeeded: offset))
            case .runtime(let name):
                guard let address = resolver?(name) else { throw .unresolvedRuntimeSymbol(name) }
                addresses.append(address)
            }
        }
        return addresses
    }
}

/// What ``StubImage/restore(into:resolver:lazy:)`` made.
public struct RestoredImage: Sendable {
    /// The new pools, in the image's order.
    public let pools: [StubPool]
    /// The arena holding the blobs (`nil` if the image had none and none was given).
    public let arena: CodeArena?
    /// The new stub of each of the image's ``StubImage/stubs`` (same index).
    public let stubs: [Stub]
    /// The new blob of each of the image's ``StubImage/blobs`` (same index).
    public let blobs: [CodeBlob]
}
