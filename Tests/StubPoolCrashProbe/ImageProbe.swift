// `image-save PATH` and `image-restore PATH`: the two halves of the cross-process image test.
// `image-save` builds a start-up state — stubs of every kind to libc's exported `llabs`/`labs`,
// to this executable's own functions (named by build-id), to each other and to arena adapters
// made with `CodeEmitter.bindConstants`, plus pending lazy stubs — saves it to PATH, then calls
// every original stub (materializing the lazy ones) and writes what each returned to
// PATH.expected. `image-restore` restores PATH in a new process, calls every stub and compares.
// Both print `llabs=` and `weighted3=` addresses, so the test can check the layouts differ.
import CTestHelpers
import StubPool

#if canImport(Glibc)
import Glibc
#endif

enum ImageProbe {
    typealias Function1 = @convention(c) (Int64) -> Int64
    typealias Function3 = @convention(c) (Int64, Int64, Int64) -> Int64
    static var llabsAddress: UnsafeRawPointer { unsafeBitCast(llabs as Function1, to: UnsafeRawPointer.self) }
    static var labsAddress: UnsafeRawPointer { unsafeBitCast(labs as @convention(c) (Int) -> Int, to: UnsafeRawPointer.self) }
    static var weighted3: UnsafeRawPointer { unsafeBitCast(ct_weighted3 as Function3, to: UnsafeRawPointer.self) }
    static var contextRegister: UnsafeRawPointer { unsafeBitCast(ct_return_context_register as @convention(c) () -> UInt64, to: UnsafeRawPointer.self) }

    /// Pool order in the image: forward, bindFirstArgument, context, lazy bindFirstArgument.
    static func generator(_ batch: LazyBatch<Int64>) -> [LazyResolution] {
        batch.map { LazyResolution(target: weighted3, context: UInt(bitPattern: Int($0.spec))) }
    }

    /// The same call for the original and the restored stub.
    static func call(_ entry: UnsafeRawPointer, pool: Int, id: UInt64) -> Int64 {
        if pool == 2 { return Int64(bitPattern: ct_call0(entry)) }
        return ct_call3(entry, -Int64(id % 97) - 1, 2, 3)
    }

    static func addresses() -> String {
        "llabs=0x\(String(UInt(bitPattern: llabsAddress), radix: 16)) weighted3=0x\(String(UInt(bitPattern: weighted3), radix: 16))"
    }

    static func save(_ path: String) throws {
        let forward = try StubPool(.init(kind: .forward, name: "image-forward"))
        let bound = try StubPool(.init(kind: .bindFirstArgument, name: "image-bound"))
        let context = try StubPool(.init(kind: .context, placement: .staggered))
        let lazyPool = try StubPool(.init(kind: .bindFirstArgument, lazyBatches: true, name: "image-lazy"))
        let lazy = try lazyPool.lazyStubs(of: Int64.self, generator: generator)
        let arena = CodeArena()

        let bounds = try bound.allocate(count: 2_000, target: weighted3, context: 0)
        for (index, stub) in bounds.enumerated() { try bound.setContext(UInt(index * 5), for: stub) }
        _ = try context.allocate(count: 1_000, target: contextRegister, context: 0)
        for (index, stub) in context.inspect().chunks.flatMap(\.stubs).enumerated() {
            try context.setContext(UInt(index * 3 + 1), for: try context.stub(entry: stub.address.value))
        }
        let pending = try lazy.request((0..<1_000).map { Int64($0) * 7 })
        // Adapters: weighted3 with (k, k + 1) bound after the caller's argument; hops to other
        // adapters (blob fields); adapters into bound stubs and pending lazy stubs (stub fields).
        var bodies: [CodeBody] = []
        for k in 0..<200 {
            bodies.append(try CodeEmitter.bindConstants([.constant(UInt64(k)), .constant(UInt64(k + 1))], afterArguments: 1,
                                                        target: .address(UInt(bitPattern: weighted3)), architecture: .host))
        }
        for k in 0..<100 { bodies.append(try CodeEmitter.bindConstants([], afterArguments: 0, target: .blob(k * 2), architecture: .host)) }
        for k in 0..<100 {
            let target = k % 2 == 0 ? bounds[k * 13].address : pending[k * 7].address
            bodies.append(try CodeEmitter.bindConstants([], afterArguments: 0, target: .address(target), architecture: .host))
        }
        let adapters = try arena.commit(bodies, names: bodies.indices.map { "adapter#\($0)" })
        // Forward stubs: to libc, to adapters, to bound stubs, to pending lazy stubs.
        for index in 0..<3_000 {
            let target: UnsafeRawPointer = switch index % 5 {
            case 0: llabsAddress
            case 1: labsAddress
            case 2: adapters[index % adapters.count].entry
            case 3: bounds[index % bounds.count].entry
            default: pending[index % pending.count].entry
            }
            let stub = try forward.allocate(target: target)
            if index % 100 == 0 { try forward.setName("forward-\(index)", for: stub) }
        }

        let image = try StubImage.snapshot(pools: [
            .init(forward), .init(bound), .init(context),
            .init(lazy, encode: { withUnsafeBytes(of: $0.littleEndian, Array.init) }),
        ], arena: arena)
        try image.write(to: path)
        // Expected results from the originals (this materializes the lazy stubs here, after the snapshot).
        var lines = ""
        let pools = [forward, bound, context, lazyPool]
        let entries = pools.map { pool in
            Dictionary(uniqueKeysWithValues: pool.inspect().chunks.flatMap(\.stubs).map { ($0.id, $0.address.value) })
        }
        for record in image.stubs {
            guard let entry = entries[record.pool][record.id] else {
                throw StubImageError.corrupt("no original for pool \(record.pool) #\(record.id)")
            }
            let result = call(UnsafeRawPointer(bitPattern: entry)!, pool: record.pool, id: record.id)
            lines += "\(record.pool) \(record.id) \(result)\n"
        }
        try writeText(lines, to: path + ".expected")
        print("saved stubs=\(image.stubs.count) pending=\(image.stubs.filter(\.isPending).count) blobs=\(image.blobs.count) symbols=\(image.symbols.count) \(addresses())")
    }

    static func restore(_ path: String) throws {
        let image = try StubImage(contentsOf: path)
        var lazyStubs: LazyStubs<Int64>?
        let restored = try image.restore(lazy: { _, pool in
            let lazy = try pool.lazyStubs(of: Int64.self, generator: generator)
            lazyStubs = lazy
            return StubImage.LazySink(lazy) { bytes in bytes.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) } }
        })
        let pendingBefore = lazyStubs?.statistics().pending ?? -1
        var called = 0, mismatches = 0
        for line in try readText(path + ".expected").split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 3, let pool = Int(fields[0]), let id = UInt64(fields[1]), let expected = Int64(fields[2]),
                  let index = image.stubIndex(pool: pool, id: id) else { throw StubImageError.corrupt("expected line \(line)") }
            let result = call(restored.stubs[index].entry, pool: pool, id: id)
            called += 1
            if result != expected {
                mismatches += 1
                if mismatches <= 5 { writeError("pool \(pool) #\(id): \(result), expected \(expected)\n") }
            }
        }
        let names = !image.stubNames.isEmpty && image.stubNames.allSatisfy { index, name in
            restored.pools[image.stubs[index].pool].name(of: restored.stubs[index]) == name
        }
        print("restored called=\(called) mismatches=\(mismatches) pending-before=\(pendingBefore) batches=\(lazyStubs?.statistics().batches ?? -1) names=\(names) \(addresses())")
    }

    static func writeText(_ text: String, to path: String) throws {
        guard let file = fopen(path, "w") else { throw StubImageError.system(SystemError(operation: .open, errno: errno)) }
        defer { fclose(file) }
        fputs(text, file)
    }

    static func readText(_ path: String) throws -> String {
        guard let file = fopen(path, "r") else { throw StubImageError.system(SystemError(operation: .open, errno: errno)) }
        defer { fclose(file) }
        var text = ""
        var buffer = [CChar](repeating: 0, count: 4_096)
        while fgets(&buffer, Int32(buffer.count), file) != nil { text += buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } }
        return text
    }
}
