import Benchmark
import Dispatch
import StubPool
import StubPoolPeers

// Each operation runs its peers in the same run: StubPool, libffi closures and one page per stub
// (mmap + write + mprotect read+execute, as engines that map a page per lazy stub do).
let benchmarks: @Sendable () -> Void = {
    let libffi = LibffiPeer()
    let stubPoolClosures = LibffiPeer(allocator: .stubPool)

    // MARK: Allocate one stub

    // One pool per benchmark for the whole run; each sample's stubs are released and reclaimed
    // afterwards (untimed), as the peers free theirs, so every sample allocates from warm memory.
    let singles = try! StubPool()
    Benchmark(name("allocate one", "stubpool"), configuration: perOperation) { benchmark in
        var stubs: [Stub] = []
        stubs.reserveCapacity(benchmark.scaledIterations.count)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { stubs.append(try singles.allocate(target: target)) }
        benchmark.stopMeasurement()
        try releaseAndReclaim(stubs, in: singles)
    }
    // libffi closures (allocate + prepare): Debian's libffi, and StubPool's closures (what the
    // libffi drop-in serves), both prepared by the system libffi.
    for (subject, peer) in [("libffi", libffi), ("stubpool closures", stubPoolClosures)] {
        Benchmark(name("allocate one", subject), configuration: perOperation) { benchmark in
            var closures: [UnsafeMutableRawPointer] = []
            closures.reserveCapacity(benchmark.scaledIterations.count)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { closures.append(peer.make().closure) }
            benchmark.stopMeasurement()
            closures.forEach(peer.free)
        }
    }
    Benchmark(name("allocate one", "page per stub"), configuration: perOperation) { benchmark in
        var pages: [UnsafeMutableRawPointer] = []
        pages.reserveCapacity(benchmark.scaledIterations.count)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { pages.append(PagePerStubPeer.make(target: target)) }
        benchmark.stopMeasurement()
        pages.forEach(PagePerStubPeer.free)
    }

    // MARK: Bulk allocate (1,000 per sample; the peers have no bulk call and loop)

    let bulk = try! StubPool()
    Benchmark(name("allocate bulk", "stubpool"), configuration: perOperation) { benchmark in
        benchmark.startMeasurement()
        let stubs = try bulk.allocate(count: benchmark.scaledIterations.count, target: target)
        benchmark.stopMeasurement()
        try releaseAndReclaim(stubs, in: bulk)
    }
    Benchmark(name("allocate bulk", "libffi"), configuration: perOperation) { benchmark in
        benchmark.startMeasurement()
        let closures = benchmark.scaledIterations.map { _ in libffi.make().closure }
        benchmark.stopMeasurement()
        closures.forEach(libffi.free)
    }

    // MARK: Release

    Benchmark(name("release", "stubpool"), configuration: perOperation) { benchmark in
        let pool = try StubPool(.init(shards: 1))
        let stubs = try pool.allocate(count: benchmark.scaledIterations.count, target: target)
        benchmark.startMeasurement()
        for stub in stubs { try pool.release(stub) }
        benchmark.stopMeasurement()
    }
    for (subject, peer) in [("libffi", libffi), ("stubpool closures", stubPoolClosures)] {
        Benchmark(name("release", subject), configuration: perOperation) { benchmark in
            let closures = benchmark.scaledIterations.map { _ in peer.make().closure }
            benchmark.startMeasurement()
            closures.forEach(peer.free)
            benchmark.stopMeasurement()
        }
    }
    Benchmark(name("release", "page per stub"), configuration: perOperation) { benchmark in
        let pages = benchmark.scaledIterations.map { _ in PagePerStubPeer.make(target: target) }
        benchmark.startMeasurement()
        pages.forEach(PagePerStubPeer.free)
        benchmark.stopMeasurement()
    }

    // MARK: Retarget (context pool: target and context)

    Benchmark(name("retarget", "stubpool"), configuration: perOperation) { benchmark in
        let pool = try StubPool(.init(kind: .context))
        let stubs = try pool.allocate(count: benchmark.scaledIterations.count, target: target)
        benchmark.startMeasurement()
        for (index, stub) in stubs.enumerated() { try pool.retarget(stub, to: target, context: UInt(index)) }
        benchmark.stopMeasurement()
    }
    Benchmark(name("retarget", "page per stub"), configuration: perOperation) { benchmark in
        // A page-per-stub engine rewrites the page: make it writable, store, make it executable.
        let pages = (0..<64).map { _ in PagePerStubPeer.make(target: target) }
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations { PagePerStubPeer.retarget(pages[index % pages.count], to: target) }
        benchmark.stopMeasurement()
        pages.forEach(PagePerStubPeer.free)
    }

    // MARK: Hot call through a stub (1,000,000 calls per sample)

    let calls = Benchmark.Configuration(metrics: [.wallClock, .throughput], scalingFactor: .mega,
                                        maxDuration: .seconds(1), maxIterations: 100)
    Benchmark(name("call", "direct"), configuration: calls) { benchmark in
        blackHole(callLoop(target, count: benchmark.scaledIterations.count))
    }
    for (kind, subject) in [(StubKind.forward, "stubpool forward"), (.context, "stubpool context"),
                            (.bindFirstArgument, "stubpool bind")] {
        Benchmark(name("call", subject), configuration: calls) { benchmark in
            let pool = try StubPool(.init(kind: kind))
            let stub = try pool.allocate(target: target, context: 1)
            benchmark.startMeasurement()
            blackHole(callLoop(stub.entry, count: benchmark.scaledIterations.count))
            benchmark.stopMeasurement()
        }
    }
    Benchmark(name("call", "libffi"), configuration: calls) { benchmark in
        let (closure, code) = libffi.make()
        benchmark.startMeasurement()
        blackHole(callLoop(code, count: benchmark.scaledIterations.count))
        benchmark.stopMeasurement()
        libffi.free(closure)
    }
    Benchmark(name("call", "page per stub"), configuration: calls) { benchmark in
        let page = PagePerStubPeer.make(target: target)
        benchmark.startMeasurement()
        blackHole(callLoop(page, count: benchmark.scaledIterations.count))
        benchmark.stopMeasurement()
        PagePerStubPeer.free(page)
    }

    // MARK: First call of a 10,000-stub lazy batch (one sample = one batch; divide by 10,000)

    Benchmark(name("lazy first call, 10k batch", "stubpool"),
              configuration: .init(metrics: [.wallClock, .mallocCountTotal], maxDuration: .seconds(1), maxIterations: 200)) { benchmark in
        let pool = try StubPool(.init(kind: .context, lazyBatches: true))
        let address = UInt(bitPattern: target)
        let lazy = try pool.lazyStubs(of: UInt.self) { requests in
            requests.map { LazyResolution(targetAddress: address, context: $0.spec) }
        }
        let stubs = try lazy.request((0..<10_000).map { UInt($0) })
        benchmark.startMeasurement()
        blackHole(callLoop(stubs[5_000].entry, count: 1))
        benchmark.stopMeasurement()
    }
    // Requesting 10,000 lazy stubs in one call against allocating 10,000 in bulk (one sample =
    // 10,000 stubs; divide by 10,000). Both pools are fresh, as at a runtime's instantiation.
    let lazyRequestMetrics = Benchmark.Configuration(metrics: [.wallClock, .mallocCountTotal], maxDuration: .seconds(1), maxIterations: 200)
    Benchmark(name("10k stubs up front", "stubpool lazy request"), configuration: lazyRequestMetrics) { benchmark in
        let pool = try StubPool(.init(kind: .context, lazyBatches: true))
        let address = UInt(bitPattern: target)
        let lazy = try pool.lazyStubs(of: UInt.self) { requests in
            requests.map { LazyResolution(targetAddress: address, context: $0.spec) }
        }
        let specs = (0..<10_000).map { UInt($0) }
        benchmark.startMeasurement()
        blackHole(try lazy.request(specs))
        benchmark.stopMeasurement()
    }
    Benchmark(name("10k stubs up front", "stubpool bulk"), configuration: lazyRequestMetrics) { benchmark in
        let pool = try StubPool(.init(kind: .context, lazyBatches: true))
        benchmark.startMeasurement()
        blackHole(try pool.allocate(count: 10_000, target: target))
        benchmark.stopMeasurement()
    }
    Benchmark(name("10k stubs up front", "page per stub"),
              configuration: .init(metrics: [.wallClock], maxDuration: .seconds(1), maxIterations: 50)) { benchmark in
        benchmark.startMeasurement()
        let pages = (0..<10_000).map { _ in PagePerStubPeer.make(target: target) }
        benchmark.stopMeasurement()
        pages.forEach(PagePerStubPeer.free)
    }

    // MARK: Allocate + release on one and two threads (100,000 pairs per sample per thread)

    for threads in [1, 2] {
        Benchmark(name("allocate+release", "stubpool, \(threads) thread\(threads == 1 ? "" : "s")"),
                  configuration: .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(2), maxIterations: 50)) { benchmark in
            let pool = try StubPool()
            let address = UInt(bitPattern: target)
            benchmark.startMeasurement()
            DispatchQueue.concurrentPerform(iterations: threads) { _ in
                let target = UnsafeRawPointer(bitPattern: address)!
                var batch: [Stub] = []
                batch.reserveCapacity(1_000)
                for _ in 0..<100 {
                    for _ in 0..<1_000 { batch.append(try! pool.allocate(target: target)) }
                    for stub in batch { try! pool.release(stub) }
                    batch.removeAll(keepingCapacity: true)
                }
            }
            benchmark.stopMeasurement()
        }
    }
}
