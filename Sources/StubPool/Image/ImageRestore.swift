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

    /// Rebuilds the image's state in this process.
    ///
    /// First everything is validated and resolved — every symbol (`dlsym`, build-ids of the
    /// loaded objects, the runtime's `resolver`), every lazy spec (decoded by the sinks `lazy`
    /// returns) — and any failure throws before a stub is allocated. Then each pool is created
    /// and its live stubs taken in one bulk allocation, pending lazy stubs are requested in one
    /// call per pool, every blob is committed in one batch with its fields relocated (one cache
    /// maintenance pass), and finally every stub's target and context are written.
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
    ///
    /// Linear in the stubs and blob bytes. Any thread; the image is not changed, so one image
    /// can be restored many times (each restore makes new pools).
    public func restore(into arena: CodeArena? = nil, resolver: Resolver? = nil,
                        lazy: (_ pool: Int, _ newPool: StubPool) throws -> LazySink? = { _, _ in nil }) throws(StubImageError) -> RestoredImage {
        let symbolAddresses = try resolveSymbols(resolver)
        var pools: [StubPool] = []
        for pool in self.pools {
            do throws(StubPoolError) { pools.append(try StubPool(pool.configuration)) } catch { throw .pool(error) }
        }
        // One pass over the records (100,000 of them do not fit in the caches): stub indices per
        // pool, live and pending apart, and the targets checked — stub and blob targets are never
        // in the first page, a symbol's may be (a resolver's 0).
        var live = [[Int]](repeating: [], count: pools.count)
        var pending = [[Int]](repeating: [], count: pools.count)
        for index in stubs.indices {
            let pool = stubs[index].pool
            if stubs[index].isPending {
                pending[pool].append(index)
                continue
            }
            live[pool].append(index)
            if case .symbol(let symbol, let offset) = stubs[index].target, symbolAddresses[symbol] &+ UInt(bitPattern: offset) < UInt(Kernel.pageSize) {
                throw .invalidTarget(stub: index, address: symbolAddresses[symbol] &+ UInt(bitPattern: offset))
            }
        }
        var requests: [(pool: Int, request: () throws(StubPoolError) -> StubRange)] = []
        for (pool, indices) in pending.enumerated() where !indices.isEmpty {
            let attached: LazySink?
            do { attached = try lazy(pool, pools[pool]) } catch { throw .lazyAttachment(pool: pool, message: "\(error)") }
            guard let sink = attached else { throw .missingLazyStubs(pool: pool) }
            requests.append((pool, try sink.prepare(indices.map { lazySpecs[$0] ?? [] }, pool, indices.map { stubs[$0].id })))
        }

        // Everything is resolved: allocate. A failure from here on (out of memory, descriptors)
        // drops the new pools, which unmaps their chunks; the blob commit, the last step that can
        // fail, is all or nothing.
        var handles = [Stub](repeating: Stub(address: 0, poolToken: 0, slot: 0), count: stubs.count)
        var ranges: [(pool: Int, indices: [Int], range: StubRange)] = []
        do throws(StubPoolError) {
            for (pool, indices) in live.enumerated() where !indices.isEmpty {
                let range = try pools[pool].reserveRange(count: indices.count)
                ranges.append((pool, indices, range))
                // The range's own iterator walks its runs in order: no per-stub search.
                for (index, stub) in zip(indices, range) { handles[index] = stub }
            }
            for (pool, request) in requests {
                for (index, stub) in zip(pending[pool], try request()) { handles[index] = stub }
            }
        } catch {
            throw .pool(error)
        }
        let entries = handles.map(\.address)

        func value(_ reference: ImageReference, blobs: [CodeBlob]) -> UInt {
            switch reference {
            case .plain(let value): UInt(truncatingIfNeeded: value)
            case .stub(let index): entries[index]
            case .blob(let index, let offset): blobs[index].address &+ UInt(bitPattern: offset)
            case .symbol(let index, let offset): symbolAddresses[index] &+ UInt(bitPattern: offset)
            }
        }

        var targetArena = arena
        var blobs: [CodeBlob] = []
        if !self.blobs.isEmpty {
            let destination = arena ?? CodeArena()
            targetArena = destination
            // Validated when the image was made or loaded: straight to the relocating commit.
            let relocations = self.blobs.map { blob in
                blob.fields.map { field in
                    let operand: CodeOperand = switch field.value {
                    case .plain(let value): .constant(value)
                    case .blob(let index, let offset): .blob(index, offset: offset)
                    default: .address(value(field.value, blobs: []))
                    }
                    return CodeRelocation(offset: field.offset, field: field.field, operand: operand)
                }
            }
            let names = self.blobs.contains { $0.name != nil } ? self.blobs.enumerated().map { $0.element.name ?? "image-blob#\($0.offset)" } : nil
            do throws(CodeArenaError) {
                blobs = try destination.commit(self.blobs.map(\.bytes), relocations: .perBlob(relocations), names: names)
            } catch {
                throw .arena(error)
            }
        }

        // Targets and contexts (checked above), then names.
        for (pool, indices, range) in ranges {
            pools[pool].layout.forEachDataSlot(of: range) { position, _, data in
                let index = indices[position]
                data.publish(target: value(stubs[index].target, blobs: blobs), context: value(stubs[index].context, blobs: blobs))
            }
        }
        for (index, name) in stubNames {
            do throws(StubPoolError) { try pools[stubs[index].pool].setName(name, for: handles[index]) } catch { throw .pool(error) }
        }
        return RestoredImage(pools: pools, arena: targetArena, stubs: handles, blobs: blobs)
    }

    /// The address of every symbol, or the first that cannot be resolved.
    private func resolveSymbols(_ resolver: Resolver?) throws(StubImageError) -> [UInt] {
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
