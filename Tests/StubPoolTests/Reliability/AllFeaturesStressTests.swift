import CTestHelpers
import Dispatch
import Foundation
import Synchronization
import Testing
@testable import StubPool

/// Every feature at once on more threads than cores, bounded in time: plain and lazy stubs
/// allocated, called, retargeted, released and reclaimed; lazy first calls whose generator commits
/// bodies to a shared code arena; arena commits, calls and frees. At the end every stub ever
/// handed out is accounted for (live, quarantined or reclaimed), every live stub calls its current
/// target, and the arena and lazy statistics agree with what the threads did.
@Suite struct AllFeaturesStressTests {
    struct Tally {
        var handedOut = 0, released = 0, reclaimed = 0
        var committed = 0, freed = 0, lazyRequested = 0
        var operations = 0, failures: [String] = []
    }

    @Test func everythingAtOnceStaysAccountedFor() throws {
        let pool = try StubPool(.init(kind: .context, shards: 2, lazyBatches: true))
        let arena = CodeArena()
        let generatedBodies = Atomic<Int>(0)
        let lazy = try pool.lazyStubs(of: UInt64.self) { requests in
            let blobs = try arena.commit(requests.map { CodeEmitter.returnConstant($0.spec, architecture: .host) })
            generatedBodies.add(blobs.count, ordering: .relaxed)
            return blobs.map { LazyResolution(target: $0.entry, context: 0) }
        }
        let nextValue = Atomic<UInt64>(1)
        let threads = max(4, 2 * ProcessInfo.processInfo.activeProcessorCount)
        let deadline = ContinuousClock.now + .seconds(2)
        let tally = Locked(Tally())
        let survivors = Locked<[(Stub, UInt64)]>([])
        let blobsLeft = Locked<[(CodeBlob, UInt64)]>([])

        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var random = SplitMix64(seed: 0xA11F_EA7 &+ UInt64(thread))
            var mine = Tally()
            // Stubs this thread owns and the value a call must return.
            var stubs: [(Stub, UInt64)] = []
            var blobs: [(CodeBlob, UInt64)] = []
            func fresh() -> UInt64 { nextValue.add(1, ordering: .relaxed).oldValue }
            func fail(_ text: String) { mine.failures.append("thread \(thread): \(text)") }

            while mine.operations < 40_000 && ContinuousClock.now < deadline {
                mine.operations += 1
                switch random.next() % 10 {
                case 0, 1:
                    let value = fresh()
                    do {
                        stubs.append((try pool.allocate(target: CTargets.returnContextRegister, context: UInt(value)), value))
                        mine.handedOut += 1
                    } catch { fail("allocate: \(error)") }
                case 2:
                    // Lazy stubs: requested now, materialized by whichever call comes first
                    // (this thread's below, or another thread's batch that picks them up).
                    let values = (0..<(1 + Int(random.next() % 8))).map { _ in fresh() }
                    do {
                        let lazyStubs = try lazy.request(values)
                        stubs += zip(lazyStubs, values).map { ($0, $1) }
                        mine.handedOut += values.count
                        mine.lazyRequested += values.count
                    } catch { fail("lazy request: \(error)") }
                case 3 where !stubs.isEmpty:
                    let index = Int(random.next() % UInt64(stubs.count))
                    let value = fresh()
                    do {
                        try pool.retarget(stubs[index].0, to: CTargets.returnContextRegister, context: UInt(value))
                        stubs[index].1 = value
                    } catch { fail("retarget: \(error)") }
                case 4 where !stubs.isEmpty:
                    let index = Int(random.next() % UInt64(stubs.count))
                    do {
                        try pool.release(stubs[index].0)
                        stubs.swapAt(index, stubs.count - 1)
                        stubs.removeLast()
                        mine.released += 1
                    } catch { fail("release: \(error)") }
                case 5 where random.next() % 16 == 0:
                    // Safe: a thread releases only its own stubs and never calls them afterwards.
                    mine.reclaimed += pool.reclaim()
                case 6:
                    let values = (0..<(1 + Int(random.next() % 4))).map { _ in fresh() }
                    do {
                        let committed = try arena.commit(values.map { CodeEmitter.returnConstant($0, architecture: .host) })
                        for (blob, value) in zip(committed, values) where ct_call0(blob.entry) != value { fail("fresh blob") }
                        blobs += zip(committed, values).map { ($0, $1) }
                        mine.committed += values.count
                    } catch { fail("commit: \(error)") }
                case 7 where !blobs.isEmpty:
                    let index = Int(random.next() % UInt64(blobs.count))
                    do {
                        try arena.free(blobs[index].0)
                        blobs.swapAt(index, blobs.count - 1)
                        blobs.removeLast()
                        mine.freed += 1
                    } catch { fail("free: \(error)") }
                default:
                    if !stubs.isEmpty {
                        let (stub, value) = stubs[Int(random.next() % UInt64(stubs.count))]
                        let result = ct_call0(stub.entry)
                        if result != value { fail("\(stub) returned \(result), expected \(value)") }
                    }
                    if !blobs.isEmpty {
                        let (blob, value) = blobs[Int(random.next() % UInt64(blobs.count))]
                        if ct_call0(blob.entry) != value { fail("\(blob) returned the wrong value") }
                    }
                }
            }
            survivors.withLock { $0 += stubs }
            blobsLeft.withLock { $0 += blobs }
            tally.withLock {
                $0.handedOut += mine.handedOut; $0.released += mine.released; $0.reclaimed += mine.reclaimed
                $0.committed += mine.committed; $0.freed += mine.freed; $0.lazyRequested += mine.lazyRequested
                $0.operations += mine.operations; $0.failures += mine.failures
            }
        }

        let total = tally.withLock { $0 }
        let live = survivors.withLock { $0 }
        for failure in total.failures.prefix(20) { Issue.record("\(failure)") }
        #expect(total.failures.isEmpty)
        // Every stub ever handed out is live, quarantined or reclaimed.
        let statistics = pool.statistics()
        #expect(statistics.liveStubs == live.count)
        #expect(live.count + total.released == total.handedOut)
        #expect(statistics.quarantinedStubs + total.reclaimed == total.released)
        // Every live stub (lazy ones still pending included: this call materializes them) calls
        // its current target.
        for (stub, value) in live where ct_call0(stub.entry) != value {
            Issue.record("\(stub) does not reach its current target")
        }
        let lazyStatistics = lazy.statistics()
        #expect(lazyStatistics.pending == 0)
        #expect(lazyStatistics.failedBatches == 0)
        let bodies = generatedBodies.load(ordering: .relaxed)
        #expect(lazyStatistics.materialized <= bodies && bodies <= total.lazyRequested)
        // The arena holds the threads' blobs plus one body per stub a generator was asked for
        // (a stub released while its batch ran gets a body that is never published).
        let arenaStatistics = arena.statistics()
        #expect(arenaStatistics.liveBlobs == total.committed - total.freed + bodies)
        for (blob, value) in blobsLeft.withLock({ $0 }) where ct_call0(blob.entry) != value {
            Issue.record("\(blob) lost its body")
        }
        print("all-features stress: \(total.operations) operations on \(threads) threads; \(total.handedOut) stubs handed out (\(total.lazyRequested) lazy, \(lazyStatistics.materialized) materialized in \(lazyStatistics.batches) batches), \(total.released) released, \(total.reclaimed) reclaimed, \(total.committed) blobs committed, \(total.freed) freed")
    }
}
