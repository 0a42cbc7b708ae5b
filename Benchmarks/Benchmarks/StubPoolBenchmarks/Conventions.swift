import Benchmark
import StubPool
import StubPoolPeers

/// Every benchmark names its operation and its subject: `"<operation>: <subject>"`, so the
/// peers of one operation sit next to each other in the output.
func name(_ operation: String, _ subject: String) -> String { "\(operation): \(subject)" }

/// Benchmarks that time `scalingFactor` operations per sample report per-operation figures.
var perOperation: Benchmark.Configuration {
    .init(metrics: [.wallClock, .throughput, .mallocCountTotal], scalingFactor: .kilo,
          maxDuration: .seconds(1), maxIterations: 2_000)
}

/// The target of every stub: ``benchmarkTarget`` (returns the sum of its three arguments).
var target: UnsafeRawPointer { benchmarkTargetAddress }

/// Releases `stubs` and reclaims their slots (outside any measurement).
func releaseAndReclaim(_ stubs: some Sequence<Stub>, in pool: StubPool) throws {
    for stub in stubs { try pool.release(stub) }
    _ = pool.reclaim()
}
