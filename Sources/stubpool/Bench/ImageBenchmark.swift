import Foundation
import StubPool

#if canImport(Glibc)
import Glibc
#endif

/// A start-up state restored from an image against the same state built with the same API calls
/// one by one, and a template instantiated in one commit against emitting and committing each body.
enum ImageBenchmark {
    static let stubs = 100_000
    static let bodies = 10_000

    /// libc's `llabs`: an exported symbol, named as such in the image.
    static var llabsAddress: UInt {
        UInt(bitPattern: unsafeBitCast(llabs as @convention(c) (Int64) -> Int64, to: UnsafeRawPointer.self))
    }

    struct State {
        let forward: StubPool
        let bound: StubPool
        let arena: CodeArena
    }

    /// The state one call at a time: each adapter emitted and committed alone, each stub allocated
    /// alone. Half the stubs are forward stubs (to llabs and to adapters), half bind a context.
    static func buildOneByOne() throws -> State {
        let forward = try StubPool(.init(kind: .forward))
        let bound = try StubPool(.init(kind: .bindFirstArgument))
        let arena = CodeArena()
        var adapters: [CodeBlob] = []
        adapters.reserveCapacity(bodies)
        for index in 0..<bodies {
            let body = try CodeEmitter.bindConstants([.constant(UInt64(index))], afterArguments: 1,
                                                     target: .address(llabsAddress), architecture: .host)
            adapters.append(try arena.commit([body])[0])
        }
        let llabs = UnsafeRawPointer(bitPattern: llabsAddress)!
        for index in 0..<stubs / 2 {
            _ = try forward.allocate(target: index % 2 == 0 ? llabs : adapters[index % bodies].entry)
            _ = try bound.allocate(target: llabs, context: UInt(index))
        }
        return State(forward: forward, bound: bound, arena: arena)
    }

    static func run(into results: inout HeadlineBenchmark.Results) throws {
        let original = try buildOneByOne()
        var image = try StubImage.snapshot(pools: [.init(original.forward), .init(original.bound)], arena: original.arena)
        let snapshot = try nanosecondsPerOperation(operations: 1, repeats: 3) {
            image = try StubImage.snapshot(pools: [.init(original.forward), .init(original.bound)], arena: original.arena)
        }
        results.record("image_snapshot_100k_10k_ms", "stubpool", snapshot / 1e6)
        let bytes = image.encoded()
        var kept: [AnyObject] = []
        let oneByOne = try nanosecondsPerOperation(operations: 1, repeats: 3, untimed: { kept.removeAll() }) {
            let state = try buildOneByOne()
            kept += [state.forward, state.bound, state.arena]
        }
        let restore = try nanosecondsPerOperation(operations: 1, repeats: 3, untimed: { kept.removeAll() }) {
            let restored = try StubImage.restore(encoded: bytes)
            kept += restored.pools as [AnyObject] + [restored.arena!]
        }
        results.record("image_one_by_one_100k_10k_ms", "stubpool", oneByOne / 1e6)
        results.record("image_restore_100k_10k_ms", "stubpool", restore / 1e6)
        results.record("image_restore_speedup", "stubpool", oneByOne / restore)
        results.record("image_bytes_per_stub", "stubpool", Double(bytes.count) / Double(stubs))

        // 10,000 adapters in one commit: emitted one by one, or one template instantiated.
        let arena = CodeArena()
        var committed: [CodeBlob] = []
        let free = { for blob in committed { try arena.free(blob) } }
        let emitted = try nanosecondsPerOperation(operations: bodies, untimed: free) {
            let each = try (0..<bodies).map { index in
                try CodeEmitter.bindConstants([.constant(UInt64(index))], afterArguments: 1,
                                              target: .address(llabsAddress), architecture: .host)
            }
            committed = try arena.commit(each)
        }
        let template = try CodeEmitter.bindConstants([.parameter(0)], afterArguments: 1, target: .parameter(1), architecture: .host)
        let instantiated = try nanosecondsPerOperation(operations: bodies, untimed: free) {
            committed = try arena.instantiate(template, arguments: (0..<bodies).map { [.constant(UInt64($0)), .address(llabsAddress)] })
        }
        results.record("emit_commit_10k_ns_per_blob", "stubpool", emitted)
        results.record("template_instantiate_10k_ns_per_blob", "stubpool", instantiated)
    }
}
