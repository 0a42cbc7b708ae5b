import CTestHelpers
import Foundation
import Testing
@testable import StubPool

#if canImport(Glibc)
import Glibc
#endif

/// Snapshots and restores within one process (the cross-process test is in ImageProcessTests).
@Suite struct StubImageTests {
    /// `llabs` from libc: an exported symbol of a shared library.
    static let llabsAddress = UInt(bitPattern: unsafeBitCast(llabs as @convention(c) (Int64) -> Int64, to: UnsafeRawPointer.self))
    static let weighted3 = UInt(bitPattern: CTargets.weighted3)
    static let contextRegister = UInt(bitPattern: CTargets.returnContextRegister)

    /// A small start-up state of every kind: stubs to libc, to the test binary's own functions,
    /// to each other and to arena adapters; contexts plain and as references; pending lazy stubs.
    struct State {
        let forward: StubPool, context: StubPool, bound: StubPool, lazyPool: StubPool
        let lazy: LazyStubs<Int64>
        let arena: CodeArena
        let sources: [StubImage.PoolSource]
    }

    static func lazyGenerator(_ batch: LazyBatch<Int64>) -> [LazyResolution] {
        // A pending stub with spec k becomes weighted3 bound to context k.
        batch.map { LazyResolution(target: CTargets.weighted3, context: UInt(bitPattern: Int($0.spec))) }
    }

    static func makeState() throws -> State {
        let forward = try StubPool(.init(kind: .forward, name: "image-forward"))
        let context = try StubPool(.init(kind: .context))
        let bound = try StubPool(.init(kind: .bindFirstArgument, placement: .staggered))
        let lazyPool = try StubPool(.init(kind: .bindFirstArgument, lazyBatches: true))
        let lazy = try lazyPool.lazyStubs(of: Int64.self, generator: lazyGenerator)
        let arena = CodeArena()
        // Adapters: weighted3 with 100 bound after one argument (an address field), and one that
        // jumps to the first (a blob field).
        let adapters = try arena.commit([
            CodeEmitter.bindConstants([.constant(100), .constant(1_000)], afterArguments: 1, target: .address(weighted3), architecture: .host),
            CodeEmitter.bindConstants([], afterArguments: 0, target: .blob(0), architecture: .host),
        ], names: ["adapter", "hop"])
        let toLlabs = try forward.allocate(target: UnsafeRawPointer(bitPattern: llabsAddress)!)
        try forward.setName("llabs-entry", for: toLlabs)
        _ = try forward.allocate(count: 40, target: CTargets.weighted3)
        _ = try forward.allocate(target: adapters[1].entry)
        let bounds = try bound.allocate(count: 30, target: CTargets.weighted3, context: 5)
        _ = try forward.allocate(target: bounds[3].entry)  // a stub to a stub
        _ = try context.allocate(count: 20, target: CTargets.returnContextRegister, context: 77)
        // Live stubs around the pending ones in the lazy pool: a restore reads them interleaved.
        _ = try lazyPool.allocate(count: 3, target: CTargets.weighted3, context: 9)
        _ = try lazy.request((0..<25).map { Int64($0) * 11 })
        _ = try lazyPool.allocate(count: 3, target: CTargets.weighted3, context: 10)
        return State(forward: forward, context: context, bound: bound, lazyPool: lazyPool, lazy: lazy, arena: arena, sources: [
            StubImage.PoolSource(forward), StubImage.PoolSource(context), StubImage.PoolSource(bound),
            StubImage.PoolSource(lazy, encode: { withUnsafeBytes(of: $0.littleEndian, Array.init) }),
        ])
    }

    static func decodeSpec(_ bytes: [UInt8]) throws -> Int64 {
        guard bytes.count == 8 else { throw StubImageError.corrupt("spec of \(bytes.count) bytes") }
        return bytes.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) }
    }

    /// What calling a stub gives, for comparing the original with the restored one.
    static func call(_ stub: Stub, kind: StubKind) -> Int64 {
        switch kind {
        case .context: Int64(bitPattern: ct_call0(stub.entry))
        case .forward, .bindFirstArgument: ct_call3(stub.entry, -9, 2, 3)
        }
    }

    @Test func restoredStateCallsLikeTheOriginal() throws {
        let state = try Self.makeState()
        let image = try StubImage.snapshot(pools: state.sources, arena: state.arena)
        #expect(image.pools.count == 4 && image.blobs.count == 2)
        #expect(image.stubs.count == 1 + 40 + 1 + 1 + 30 + 20 + 6 + 25)
        #expect(image.stubs.suffix(31).map(\.isPending) == [false, false, false] + Array(repeating: true, count: 25) + [false, false, false],
                "the lazy pool's live stubs come before and after its pending ones")
        #expect(image.stubs.filter { $0.isPending }.count == 25)
        #expect(image.symbols.contains(.exported("llabs")), "libc's llabs is named by its exported symbol")
        print("image symbols: \(image.symbols), objects: \(image.objects.map(\.path))")
        let bytes = image.encoded()
        let decoded = try StubImage(decoding: bytes)
        #expect(decoded == image, "encoding round-trips")

        var attached: LazyStubs<Int64>?
        let restored = try decoded.restore(lazy: { _, newPool in
            let lazy = try newPool.lazyStubs(of: Int64.self, generator: Self.lazyGenerator)
            attached = lazy
            return StubImage.LazySink(lazy, decode: Self.decodeSpec)
        })
        #expect(restored.stubs.count == image.stubs.count && restored.blobs.count == 2)
        #expect(attached?.statistics().pending == 25)
        // Every live stub: the restored one gives what the original gives.
        let original = [state.forward, state.context, state.bound, state.lazyPool]
        for (index, record) in image.stubs.enumerated() where !record.isPending {
            let kind = image.pools[record.pool].kind
            let old = try #require(original[record.pool].inspect().chunks.flatMap(\.stubs).first { $0.id == record.id })
            let oldStub = try original[record.pool].stub(entry: old.address.value)
            let new = restored.stubs[index]
            #expect(new.address != oldStub.address)
            #expect(Self.call(new, kind: kind) == Self.call(oldStub, kind: kind), "pool \(record.pool) stub #\(record.id)")
        }
        // The llabs stub kept its name; the adapter blobs theirs.
        let named = try #require(image.stubNames.first { $0.value == "llabs-entry" }?.key)
        #expect(restored.pools[0].name(of: restored.stubs[named]) == "llabs-entry")
        #expect(ct_call3(restored.stubs[named].entry, -9, 0, 0) == 9)
        #expect(restored.arena?.inspect().blobs.compactMap(\.name).sorted() == ["adapter", "hop"])
        // Pending stubs materialize on first call, all in one batch.
        for (index, record) in image.stubs.enumerated() where record.isPending {
            let spec = try Self.decodeSpec(try #require(image.lazySpecs[index]))
            #expect(ct_call3(restored.stubs[index].entry, 2, 3, 0) == spec + 2 * 3 + 3 * 7)
        }
        #expect(attached?.statistics().batches == 1)
        #expect(decoded.stubIndex(pool: 3, id: image.stubs.last!.id) == image.stubs.count - 1)
        #expect(decoded.stubIndex(pool: 9, id: 0) == nil)
    }

    /// Restoring from the encoded bytes (or the file) makes the state the decoded image makes,
    /// lazy stubs included.
    @Test func bytesAndFilesRestoreLikeDecodedImages() throws {
        let state = try Self.makeState()
        let image = try StubImage.snapshot(pools: state.sources, arena: state.arena)
        let path = "/tmp/stubpool-restore-\(getpid()).img"
        defer { unlink(path) }
        try image.write(to: path)
        func sink(_ index: Int, _ pool: StubPool) throws -> StubImage.LazySink? {
            StubImage.LazySink(try pool.lazyStubs(of: Int64.self, generator: Self.lazyGenerator), decode: Self.decodeSpec)
        }
        let reference = try image.restore(lazy: sink)
        for restored in [try StubImage.restore(encoded: image.encoded(), lazy: sink), try StubImage.restore(contentsOf: path, lazy: sink)] {
            #expect(restored.pools.count == 4 && restored.stubs.count == image.stubs.count && restored.blobs.count == 2)
            #expect(Set(restored.stubs.map(\.address)).isDisjoint(with: reference.stubs.map(\.address)), "new pools, new stubs")
            for (index, record) in image.stubs.enumerated() {
                let kind = image.pools[record.pool].kind
                #expect(Self.call(restored.stubs[index], kind: kind) == Self.call(reference.stubs[index], kind: kind), "stub \(index)")
            }
            #expect(restored.arena?.inspect().blobs.compactMap(\.name).sorted() == ["adapter", "hop"])
        }
        #expect(throws: StubImageError.system(SystemError(operation: .open, errno: ENOENT))) {
            try StubImage.restore(contentsOf: "/nonexistent/image")
        }
    }

    /// A symbol plus its offset that lands in the first page or past the end of the address
    /// space is refused before anything is mapped, naming the first stub that reaches it.
    @Test func targetsOutsideTheAddressSpaceAreRefused() throws {
        let pool = try StubPool(.init(kind: .forward))
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
        defer { buffer.deallocate() }
        _ = try pool.allocate(target: CTargets.weighted3)
        _ = try pool.allocate(target: buffer)
        let arena = CodeArena()
        _ = try arena.commit([CodeEmitter.bindConstants([], afterArguments: 0, target: .address(Self.weighted3), architecture: .host)])
        var image = try StubImage.snapshot(pools: [.init(pool)], arena: arena) { $0 == UInt(bitPattern: buffer) ? ("runtime-entry", 0) : nil }
        image.stubs[1].target = .symbol(image.symbols.firstIndex(of: .runtime("runtime-entry"))!, offset: 8)
        let bytes = image.encoded()
        let target = CodeArena()
        #expect(throws: StubImageError.invalidTarget(stub: 1, address: 8)) {
            try StubImage.restore(encoded: bytes, into: target, resolver: { _ in 0 })
        }
        #expect(throws: StubImageError.invalidTarget(stub: 1, address: 3)) {
            try StubImage.restore(encoded: bytes, into: target, resolver: { _ in UInt.max - 4 })
        }
        #expect(target.statistics().mappings == 0, "nothing mapped")
        let restored = try StubImage.restore(encoded: bytes, into: target, resolver: { _ in UInt(bitPattern: buffer) })
        #expect(UInt(bitPattern: try restored.pools[0].target(of: restored.stubs[1])) == UInt(bitPattern: buffer) + 8)
    }

    /// A stub that reaches past the end of a blob is corrupt, for decoding and restoring alike.
    @Test func blobOffsetsOutsideTheirBlobAreRefused() throws {
        let pool = try StubPool(.init(kind: .forward))
        let arena = CodeArena()
        let blobs = try arena.commit([CodeEmitter.bindConstants([], afterArguments: 0, target: .address(Self.weighted3), architecture: .host)])
        _ = try pool.allocate(count: 3, target: blobs[0].entry)
        var image = try StubImage.snapshot(pools: [.init(pool)], arena: arena)
        #expect(image.stubs[2].target == .blob(0, offset: 0))
        image.stubs[2].target = .blob(0, offset: image.blobs[0].bytes.count)
        _ = try StubImage(decoding: image.encoded())
        for offset in [image.blobs[0].bytes.count + 1, -1] {
            image.stubs[2].target = .blob(0, offset: offset)
            let bytes = image.encoded()
            #expect(throws: StubImageError.corrupt("stub 2: blob offset outside its blob")) { try StubImage(decoding: bytes) }
            #expect(throws: StubImageError.corrupt("stub 2: blob offset outside its blob")) { try StubImage.restore(encoded: bytes) }
        }
    }

    @Test func contextsMarkedAsReferencesAreNamed() throws {
        let pool = try StubPool(.init(kind: .context))
        let target = try pool.allocate(target: CTargets.returnContextRegister, context: 0)
        // The context is another stub's address, and llabs.
        _ = try pool.allocate(target: CTargets.returnContextRegister, context: target.address)
        _ = try pool.allocate(target: CTargets.returnContextRegister, context: Self.llabsAddress + 4)
        let image = try StubImage.snapshot(pools: [.init(pool, contexts: .references)])
        #expect(image.stubs[0].context == .plain(0), "a null reference stays null")
        #expect(image.stubs[1].context == .stub(0))
        guard case .symbol(let symbol, 4) = image.stubs[2].context else { Issue.record("\(image.stubs[2].context)"); return }
        #expect(image.symbols[symbol] == .exported("llabs"))
        // Plain, the same values are saved as numbers.
        let plain = try StubImage.snapshot(pools: [.init(pool)])
        #expect(plain.stubs[1].context == .plain(UInt64(target.address)))
        let restored = try StubImage(decoding: image.encoded()).restore()
        #expect(UInt(ct_call0(restored.stubs[1].entry)) == restored.stubs[0].address)
        #expect(UInt(ct_call0(restored.stubs[2].entry)) == Self.llabsAddress + 4)
    }

    @Test func runtimeSymbolsGoThroughTheRuntime() throws {
        let pool = try StubPool(.init(kind: .forward))
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
        defer { buffer.deallocate() }
        let heap = UInt(bitPattern: buffer)
        _ = try pool.allocate(target: buffer)
        #expect(throws: StubImageError.self) { try StubImage.snapshot(pools: [.init(pool)]) }
        do {
            _ = try StubImage.snapshot(pools: [.init(pool)])
        } catch {
            guard case .unnameableAddress(heap, let referrer) = error else { Issue.record("\(error)"); return }
            #expect(referrer.contains("pool 0"))
        }
        let image = try StubImage.snapshot(pools: [.init(pool)]) { $0 == heap + 8 ? nil : $0 == heap ? ("runtime-entry", 0) : nil }
        #expect(image.symbols == [.runtime("runtime-entry")])
        #expect(throws: StubImageError.unresolvedRuntimeSymbol("runtime-entry")) { try image.restore() }
        #expect(throws: StubImageError.unresolvedRuntimeSymbol("runtime-entry")) { try image.restore(resolver: { _ in nil }) }
        #expect(throws: StubImageError.invalidTarget(stub: 0, address: 0)) { try image.restore(resolver: { _ in 0 }) }
        let restored = try image.restore(resolver: { $0 == "runtime-entry" ? Self.llabsAddress : nil })
        #expect(ct_call3(restored.stubs[0].entry, -4, 0, 0) == 4, "resolved to llabs in the new state")
    }

    @Test func lazyProblemsAreTypedErrors() throws {
        let state = try Self.makeState()
        #expect(throws: StubImageError.pendingWithoutEncoder(pool: 0)) {
            try StubImage.snapshot(pools: [.init(state.lazyPool)])
        }
        struct Refused: Error {}
        #expect(throws: StubImageError.self) {
            try StubImage.snapshot(pools: [.init(state.lazy, encode: { _ in throw Refused() })])
        }
        #expect(throws: StubImageError.duplicatePool(1)) {
            try StubImage.snapshot(pools: [.init(state.forward), .init(state.forward)])
        }
        let image = try StubImage.snapshot(pools: state.sources, arena: state.arena)
        #expect(throws: StubImageError.missingLazyStubs(pool: 3)) { try image.restore() }
        #expect(throws: StubImageError.self) {
            try image.restore(lazy: { _, pool in
                StubImage.LazySink(try pool.lazyStubs(of: Int64.self, generator: Self.lazyGenerator), decode: { _ in throw Refused() })
            })
        }
        let arena = CodeArena()
        _ = try? image.restore(into: arena)
        #expect(arena.statistics().liveBlobs == 0, "a restore refused before allocating commits nothing")
    }

    /// Symbols that no longer resolve (a library built without the function, an executable
    /// rebuilt) fail the restore before a pool maps anything.
    @Test func unresolvableSymbolsFailBeforeAnythingIsMapped() throws {
        let pool = try StubPool(.init(kind: .bindFirstArgument))
        _ = try pool.allocate(target: UnsafeRawPointer(bitPattern: Self.llabsAddress)!)
        _ = try pool.allocate(target: CTargets.weighted3)
        var image = try StubImage.snapshot(pools: [.init(pool)])
        let exported = try #require(image.symbols.firstIndex(of: .exported("llabs")))
        #expect(image.symbols.contains { if case .objectOffset = $0 { true } else { false } }, "weighted3 is named by build-id")
        var missing = image
        missing.symbols[exported] = .exported("stubpool_no_such_function")
        #expect(throws: StubImageError.unresolvedSymbol("stubpool_no_such_function")) {
            try StubImage(decoding: missing.encoded()).restore()
        }
        image.objects[0].buildID = [0xDE, 0xAD, 0xBE, 0xEF]
        #expect(throws: StubImageError.objectNotLoaded(path: image.objects[0].path, buildID: "deadbeef")) {
            try StubImage(decoding: image.encoded()).restore()
        }
        let arena = CodeArena()
        _ = try? StubImage(decoding: image.encoded()).restore(into: arena)
        #expect(arena.statistics().mappings == 0, "nothing mapped")
    }

    /// The seed of the fuzz corpus (Tests/StubPoolFuzz/Corpus/image-0) still loads and restores.
    @Test func theFuzzSeedImageRestores() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("StubPoolFuzz/Corpus/image-0").path
        guard Architecture.host == .x86_64 else { return }
        let image = try StubImage(contentsOf: path)
        #expect(image.stubs.count == 7 && image.blobs.count == 2 && image.lazySpecs.count == 2)
        let restored = try image.restore(lazy: { _, pool in
            StubImage.LazySink(try pool.lazyStubs(of: UInt8.self) { $0.map { _ in LazyResolution(target: CTargets.weighted3, context: 0) } },
                               decode: { $0[0] })
        })
        #expect(ct_call3(restored.stubs[0].entry, -3, 0, 0) == 3, "the seed's first stub is llabs")
    }

    // MARK: Corrupt images

    static func smallImage() throws -> [UInt8] {
        let pool = try StubPool(.init(kind: .bindFirstArgument))
        _ = try pool.allocate(count: 3, target: CTargets.weighted3, context: 1)
        let arena = CodeArena()
        _ = try arena.commit([CodeEmitter.bindConstants([], afterArguments: 0, target: .address(weighted3), architecture: .host)], names: ["b"])
        return try StubImage.snapshot(pools: [.init(pool)], arena: arena).encoded()
    }

    /// Rewrites the checksum so that a mutation reaches the structural checks.
    static func resealed(_ bytes: [UInt8]) -> [UInt8] {
        var bytes = bytes
        StubImage.reseal(&bytes)
        return bytes
    }

    @Test func truncatedCorruptAndForeignImagesAreRefused() throws {
        let bytes = try Self.smallImage()
        _ = try StubImage(decoding: bytes)
        for length in 0..<bytes.count {
            #expect(throws: StubImageError.self) { try StubImage(decoding: Array(bytes.prefix(length))) }
        }
        var flipped = bytes
        flipped[100] ^= 1
        #expect(throws: StubImageError.self) { try StubImage(decoding: flipped) }
        do { _ = try StubImage(decoding: flipped) } catch {
            guard case .checksumMismatch = error else { Issue.record("\(error)"); return }
        }
        var magic = bytes
        magic[0] = 0
        #expect(throws: StubImageError.badMagic) { try StubImage(decoding: magic) }
        var version = bytes
        version[8] = 9
        #expect(throws: StubImageError.unsupportedVersion(9)) { try StubImage(decoding: Self.resealed(version)) }
        var foreign = bytes
        foreign[12] = Architecture.host == .x86_64 ? 1 : 0
        let other = Architecture.host == .x86_64 ? "arm64" : "x86_64"
        #expect(throws: StubImageError.foreignArchitecture(other)) { try StubImage(decoding: Self.resealed(foreign)) }
        var pages = bytes
        pages[17] ^= 0x40
        #expect(throws: StubImageError.self) { try StubImage(decoding: Self.resealed(pages)) }
        #expect(throws: StubImageError.self) { try StubImage(decoding: Self.resealed(bytes + [0])) }
    }

    /// Random mutations, resealed so that they get past the checksum: every one decodes or
    /// throws a typed error, and whatever decodes restores or throws one too.
    @Test func fuzzedImagesNeverCrashTheLoader() throws {
        let bytes = try Self.smallImage()
        var random = SplitMix64(seed: testSeed("image fuzz"))
        var decoded = 0, refused = 0
        for _ in 0..<3_000 {
            var mutant = bytes
            for _ in 0..<(1 + Int(random.next() % 4)) {
                let position = 64 + Int(random.next() % UInt64(mutant.count - 64))
                switch random.next() % 3 {
                case 0: mutant[position] ^= UInt8(1 << (random.next() % 8))
                case 1: mutant[position] = UInt8(truncatingIfNeeded: random.next())
                default: mutant[position] = [0, 0xFF, 0x7F, 0x80][Int(random.next() % 4)]
                }
            }
            let sealed = Self.resealed(mutant)
            // Restoring straight from the bytes accepts and refuses exactly as decoding then
            // restoring does.
            func outcome(_ restore: () throws(StubImageError) -> RestoredImage) throws -> StubImageError? {
                let restored: RestoredImage
                do throws(StubImageError) { restored = try restore() } catch { return error }
                if let arena = restored.arena { for blob in restored.blobs { try arena.free(blob) } }
                return nil
            }
            let direct = try outcome { () throws(StubImageError) in try StubImage.restore(encoded: sealed) }
            do {
                let image = try StubImage(decoding: sealed)
                decoded += 1
                #expect(try outcome { () throws(StubImageError) in try image.restore() } == direct)
            } catch {
                refused += 1
                #expect(direct == error as? StubImageError)
            }
        }
        print("image fuzz: \(decoded) mutants decoded, \(refused) refused with typed errors")
        #expect(refused > 0)
    }

    @Test func filesRoundTrip() throws {
        let path = "/tmp/stubpool-image-\(getpid()).img"
        defer { unlink(path) }
        let image = try StubImage(decoding: Self.smallImage())
        try image.write(to: path)
        #expect(try StubImage(contentsOf: path) == image)
        #expect(throws: StubImageError.system(SystemError(operation: .open, errno: ENOENT))) {
            try StubImage(contentsOf: "/nonexistent/image")
        }
    }
}

/// `stubpool image inspect` prints this summary.
@Suite struct ImageSummaryTests {
    @Test func summaryCountsWhatTheImageHolds() throws {
        let state = try StubImageTests.makeState()
        let image = try StubImage.snapshot(pools: state.sources, arena: state.arena)
        let summary = image.summary()
        #expect(summary.bytes == image.encoded().count)
        let live: [Int] = summary.pools.map(\.live), pending: [Int] = summary.pools.map(\.pending)
        #expect(live == [43, 20, 30, 6] && pending == [0, 0, 0, 25])
        #expect(summary.pools[0].named == 1 && summary.pools[0].name == "image-forward")
        #expect(summary.stubsByKind == ["forward": 43, "context": 20, "bindFirstArgument": 61])
        #expect(summary.blobs == 2 && summary.blobFields == 2)
        // Live stubs have a target and a context each; blobs one field each.
        let references: Int = summary.referencesByKind.values.reduce(0, +)
        #expect(references == 2 * 99 + 2)
        #expect(summary.symbolsByKind["exported"] == 1)
        #expect(summary.description.contains("pool 3 (unnamed): bindFirstArgument, packed, lazy: 6 live, 25 pending"))
        let json = try JSONEncoder().encode(summary)
        #expect(try JSONDecoder().decode(ImageSummary.self, from: json) == summary)
    }
}
