import Testing
import StubPool

/// The README's example, kept compiling and true.
@Suite struct ReadmeExampleTests {
    typealias Add3 = @convention(c) (Int64, Int64, Int64) -> Int64

    @Test func example() throws {
        let add3: Add3 = { $0 + $1 + $2 }
        let target = unsafeBitCast(add3, to: UnsafeRawPointer.self)

        let pool = try StubPool(.init(kind: .context, placement: .packed, landingPads: false))
        let stub = try pool.allocate(target: target, context: 42)
        #expect(stub.function(as: Add3.self)(1, 2, 3) == 6)
        let many = try pool.allocate(count: 10_000, target: target)
        #expect(many.count == 10_000)
        #expect(many[9_999].function(as: Add3.self)(1, 2, 3) == 6)
        try pool.retarget(many, to: target, context: 9)

        try pool.retarget(stub, to: target, context: 7)
        try pool.release(stub)
        #expect(pool.statistics().liveStubs == 10_000)
        try pool.release(many)
        #expect(pool.reclaim() == 10_001)
        pool.trim()
        #expect(pool.statistics().liveStubs == 0)

        let lazyPool = try StubPool(.init(kind: .context, lazyBatches: true))
        let address = UInt(bitPattern: target)
        let lazy = try lazyPool.lazyStubs(of: Int.self) { requests in
            requests.map { LazyResolution(targetAddress: address, context: UInt($0.spec)) }
        }
        let lazyStubs = try lazy.request(Array(0..<10_000))
        #expect(lazy.statistics().batches == 0)
        #expect(lazyStubs[7].function(as: Add3.self)(1, 2, 3) == 6)
        #expect(lazy.statistics().batches == 1 && lazy.statistics().materialized == 10_000)

        let arena = CodeArena()
        let bodyPool = try StubPool(.init(kind: .context, lazyBatches: true))
        let bodies = try bodyPool.lazyStubs(of: UInt64.self) { requests in
            let blobs = try arena.commit(requests.map { CodeEmitter.returnConstant($0.spec, architecture: .host) })
            return blobs.map { LazyResolution(targetAddress: $0.address, context: 0) }
        }
        let constants = try bodies.request((0..<10_000).map { UInt64($0) })
        typealias Constant = @convention(c) () -> UInt64
        #expect(constants[42].function(as: Constant.self)() == 42)
        #expect(arena.statistics().commits == 1 && arena.statistics().cacheMaintenancePasses == 1)
    }
}
