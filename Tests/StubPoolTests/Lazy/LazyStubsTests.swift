import CTestHelpers
import Foundation
import Synchronization
import Testing
@testable import StubPool

/// Lazy stubs: one batch per first call, racing first calls, requests from inside the generator,
/// failures and retries, release and retarget of pending stubs.
@Suite struct LazyStubsTests {
    static func lazyPool(landingPads: Bool = false) throws -> StubPool {
        try StubPool(.init(kind: .context, landingPads: landingPads, shards: 1, lazyBatches: true))
    }

    /// A generator that resolves every request to `ct_return_context_register` with context
    /// `spec`, recording the size of each batch.
    final class Recorder: Sendable {
        let batches = Locked<[Int]>([])
        func generator(_ requests: LazyBatch<UInt>) -> [LazyResolution] {
            batches.withLock { $0.append(requests.count) }
            return requests.map { LazyResolution(target: CTargets.returnContextRegister, context: $0.spec) }
        }
    }

    @Test(arguments: [false, true])
    func firstCallMaterializesEveryPendingStubInOneBatch(landingPads: Bool) throws {
        let pool = try Self.lazyPool(landingPads: landingPads)
        let recorder = Recorder()
        let lazy = try pool.lazyStubs(of: UInt.self, generator: recorder.generator)
        let stubs = try lazy.request((0..<10_000).map { UInt($0) * 3 + 1 })
        #expect(recorder.batches.withLock { $0 }.isEmpty, "nothing generated before the first call")
        #expect(lazy.statistics().pending == 10_000)
        #expect(ct_call0(stubs[4_321].entry) == 4_321 * 3 + 1)
        #expect(recorder.batches.withLock { $0 } == [10_000])
        for (index, stub) in stubs.enumerated() {
            #expect(try pool.target(of: stub) == CTargets.returnContextRegister)
            if index % 7 == 0 { #expect(ct_call0(stub.entry) == UInt64(index) * 3 + 1) }
        }
        let statistics = lazy.statistics()
        #expect(statistics.batches == 1 && statistics.materialized == 10_000 && statistics.largestBatch == 10_000)
        #expect(statistics.pending == 0 && statistics.failedBatches == 0)
        #expect(recorder.batches.withLock { $0 } == [10_000], "resolved stubs never reach the resolver again")
    }

    @Test func batchLimitSplitsBatchesAndTheCalledStubComesFirst() throws {
        let pool = try Self.lazyPool()
        let recorder = Recorder()
        let lazy = try pool.lazyStubs(of: UInt.self, batchLimit: 100, generator: recorder.generator)
        let stubs = try lazy.request((0..<250).map { UInt($0) })
        #expect(ct_call0(stubs[200].entry) == 200)
        #expect(recorder.batches.withLock { $0 } == [100])
        #expect(lazy.statistics().pending == 150)
        #expect(try lazy.materializeAll() == 150)
        #expect(recorder.batches.withLock { $0 } == [100, 100, 50])
        #expect(stubs.allSatisfy { ct_call0($0.entry) == UInt64(stubs.firstIndex(of: $0)!) })
    }

    @Test func racingFirstCallsProduceOneBatch() throws {
        let pool = try Self.lazyPool()
        let generatorCalls = Atomic<Int>(0)
        let lazy = try pool.lazyStubs(of: UInt.self) { requests in
            generatorCalls.add(1, ordering: .relaxed)
            usleep(50_000)  // long enough for every thread to arrive while the batch runs
            return requests.map { LazyResolution(target: CTargets.returnContextRegister, context: $0.spec) }
        }
        let stubs = try lazy.request((0..<2_000).map { UInt($0) + 100 })
        let wrong = Atomic<Int>(0)
        let start = Atomic<Bool>(false)
        let threads = (0..<4).map { thread in
            Thread {
                while !start.load(ordering: .acquiring) {}
                for index in stride(from: thread, to: stubs.count, by: 4) where ct_call0(stubs[index].entry) != UInt64(index) + 100 {
                    wrong.add(1, ordering: .relaxed)
                }
            }
        }
        threads.forEach { $0.start() }
        start.store(true, ordering: .releasing)
        while threads.contains(where: { !$0.isFinished }) { usleep(1_000) }
        #expect(wrong.load(ordering: .relaxed) == 0)
        #expect(generatorCalls.load(ordering: .relaxed) == 1)
        #expect(lazy.statistics().batches == 1)
    }

    @Test func requestsFromInsideTheGeneratorJoinTheNextBatch() throws {
        let pool = try Self.lazyPool()
        let recorder = Recorder()
        let inner = Locked<[Stub]>([])
        let lazyBox = Locked<LazyStubs<UInt>?>(nil)
        let lazy = try pool.lazyStubs(of: UInt.self) { requests in
            // Each batch asks for one more lazy stub while it runs.
            if let lazy = lazyBox.withLock({ $0 }) {
                let stub = try lazy.request(UInt(1_000 + requests.count))
                inner.withLock { $0.append(stub) }
            }
            return recorder.generator(requests)
        }
        lazyBox.withLock { $0 = lazy }
        let outer = try lazy.request([1, 2, 3])
        #expect(ct_call0(outer[0].entry) == 1)
        let first = try #require(inner.withLock { $0.first })
        #expect(lazy.statistics().pending == 1)
        #expect(ct_call0(first.entry) == 1_003)
        #expect(recorder.batches.withLock { $0 } == [3, 1])
    }

    @Test func callingAPendingStubFromItsOwnGeneratorFailsInsteadOfDeadlocking() throws {
        let pool = try Self.lazyPool()
        let failures = Locked<[LazyBatchError]>([])
        let stubsBox = Locked<[Stub]>([])
        let lazy = try pool.lazyStubs(of: UInt.self, generator: { requests in
            let stubs = stubsBox.withLock { $0 }
            if requests.count == 2 { _ = ct_call0(stubs[1].entry) }  // in this very batch
            return requests.map { LazyResolution(target: CTargets.returnContextRegister, context: $0.spec) }
        }, onFailure: { failure in
            failures.withLock { $0.append(failure.error as! LazyBatchError) }
            return LazyResolution(target: CTargets.constant(5), context: 0)
        })
        let stubs = try lazy.request([10, 20])
        stubsBox.withLock { $0 = Array(stubs) }
        #expect(ct_call0(stubs[0].entry) == 10)
        #expect(failures.withLock { $0 } == [.calledFromGenerator])
        #expect(ct_call0(stubs[1].entry) == 20)
    }

    struct GeneratorFailure: Error, Equatable {}

    @Test func failingGeneratorLeavesStubsPendingAndALaterCallRetries() throws {
        let pool = try Self.lazyPool()
        let attempts = Atomic<Int>(0)
        let failures = Locked<[String]>([])
        let lazy = try pool.lazyStubs(of: UInt.self, generator: { requests in
            switch attempts.add(1, ordering: .relaxed).newValue {
            case 1: throw GeneratorFailure()
            case 2: return []  // wrong count
            default: return requests.map { LazyResolution(target: CTargets.returnContextRegister, context: $0.spec) }
            }
        }, onFailure: { failure in
            failures.withLock { $0.append("\(failure.stub.id): \(failure.error)") }
            return LazyResolution(target: CTargets.constant(7), context: 0)  // e.g. an interpreter entry
        })
        let stubs = try lazy.request([41, 42, 43])
        #expect(ct_call0(stubs[1].entry) == 7, "a failed batch sends the call to the failure handler")
        #expect(lazy.statistics().pending == 3 && lazy.statistics().failedBatches == 1)
        #expect(throws: LazyBatchError.wrongResultCount(expected: 3, got: 0)) { try lazy.materializeAll() }
        #expect(lazy.statistics().pending == 3 && lazy.statistics().failedBatches == 2)
        #expect(ct_call0(stubs[2].entry) == 43, "the retry succeeds")
        #expect(stubs.map { ct_call0($0.entry) } == [41, 42, 43])
        #expect(failures.withLock { $0.count } == 1)
        #expect(lazy.statistics().batches == 1 && lazy.statistics().pending == 0)
    }

    @Test func releasedOrRetargetedPendingStubsAreNotResurrectedByABatch() throws {
        let pool = try Self.lazyPool()
        let recorder = Recorder()
        let lazy = try pool.lazyStubs(of: UInt.self, generator: recorder.generator)
        let stubs = try lazy.request([1, 2, 3])
        try pool.release(stubs[0])
        try pool.retarget(stubs[1], to: CTargets.constant(6))
        #expect(ct_call0(stubs[2].entry) == 3)
        #expect(recorder.batches.withLock { $0 } == [1])
        #expect(ct_call0(stubs[1].entry) == 6)
        #expect(throws: StubPoolError.released(id: stubs[0].id)) { try pool.retarget(stubs[0], to: CTargets.constant(1)) }
    }

    @Test func batchesTakeRequestsInOrderAcrossRequestCalls() throws {
        let pool = try Self.lazyPool()
        let seen = Locked<[[UInt]]>([])
        let lazy = try pool.lazyStubs(of: UInt.self, batchLimit: 2) { batch in
            seen.withLock { $0.append(batch.map(\.spec)) }
            return batch.map { LazyResolution(target: CTargets.returnContextRegister, context: $0.spec) }
        }
        let first = try lazy.request([1, 2, 3])
        let second = try lazy.request([4, 5])
        #expect(ct_call0(second[1].entry) == 5)
        #expect(ct_call0(first[2].entry) == 3)
        #expect(ct_call0(second[0].entry) == 4)
        #expect(seen.withLock { $0 } == [[5, 1], [3, 2], [4]], "the called stub first, then requests in order")
        #expect(lazy.statistics().pending == 0)
    }

    /// A failed batch's stubs wait first in line; if they are released meanwhile and their
    /// request's bookkeeping is reused by a new request, the retry skips them.
    @Test func retriesSkipStubsReleasedAfterAFailedBatch() throws {
        let pool = try Self.lazyPool()
        let fail = Atomic<Bool>(true)
        let seen = Locked<[[UInt]]>([])
        let lazy = try pool.lazyStubs(of: UInt.self, generator: { batch in
            seen.withLock { $0.append(batch.map(\.spec)) }
            if fail.load(ordering: .relaxed) { throw GeneratorFailure() }
            return batch.map { LazyResolution(target: CTargets.returnContextRegister, context: $0.spec) }
        }, onFailure: { _ in LazyResolution(target: CTargets.constant(7), context: 0) })
        let old = try lazy.request([1, 2])
        #expect(ct_call0(old[0].entry) == 7)
        try pool.release(old)
        _ = pool.reclaim()
        fail.store(false, ordering: .relaxed)
        let new = try lazy.request([3, 4])
        #expect(ct_call0(new[1].entry) == 4)
        #expect(ct_call0(new[0].entry) == 3)
        #expect(seen.withLock { $0 } == [[1, 2], [4, 3]])
        #expect(lazy.statistics().pending == 0 && lazy.statistics().materialized == 2)
    }

    /// Specs are kept as the caller's arrays and dropped once their request has settled: a spec
    /// holding an object does not keep it alive after materialization or release.
    @Test func specsAreDroppedOnceTheirRequestSettles() throws {
        final class Body: Sendable { let value: UInt; init(_ value: UInt) { self.value = value } }
        weak var materialized: Body?
        weak var released: Body?
        let pool = try Self.lazyPool()
        let lazy = try pool.lazyStubs(of: Body.self) { batch in
            batch.map { LazyResolution(target: CTargets.returnContextRegister, context: $0.spec.value) }
        }
        let (first, second): (StubRange, StubRange) = try {
            let a = Body(11), b = Body(22)
            materialized = a
            released = b
            return (try lazy.request([a]), try lazy.request([b]))
        }()
        #expect(materialized != nil && released != nil)
        try pool.release(second)
        #expect(released == nil)
        #expect(ct_call0(first[0].entry) == 11)
        #expect(materialized == nil)
    }

    @Test func badConfigurationsAreTypedErrors() throws {
        let plain = try StubPool(.init(kind: .context))
        #expect(throws: StubPoolError.self) { try plain.lazyStubs(of: UInt.self) { _ in [] } }
        let pool = try Self.lazyPool()
        #expect(throws: StubPoolError.self) { try pool.lazyStubs(of: UInt.self, batchLimit: 0) { _ in [] } }
        let lazy = try pool.lazyStubs(of: UInt.self) { _ in [] }
        #expect(throws: StubPoolError.self) { try pool.lazyStubs(of: UInt.self) { _ in [] } }
        #expect(throws: StubPoolError.invalidCount(0)) { try lazy.request([]) }
        #expect(pool.statistics().liveStubs == 0)
    }
}

extension LazyStubsTests {
    /// The default failure handler aborts with a diagnostic naming the stub and the error.
    @Test func defaultFailureHandlerAbortsNamingStubAndError() throws {
        let outcome = try ChildProcess.run("StubPoolCrashProbe", arguments: ["lazy-failure"])
        let fields = outcome.standardOutput.split(whereSeparator: \.isWhitespace)
        try #require(fields.count == 2, "probe output: \(outcome.standardOutput) \(outcome.standardError)")
        #expect(outcome.terminatedBySignal && outcome.terminationStatus == SIGABRT, "\(outcome.standardError)")
        #expect(outcome.standardError.contains("lazy stub #\(fields[0]) at 0x\(fields[1]) could not be materialized: the probe's generator refuses"),
                "stderr: \(outcome.standardError)")
    }
}
