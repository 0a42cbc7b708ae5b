import CTestHelpers
import Dispatch
import Synchronization
import Testing
@testable import StubPool

/// Threads allocate, call, retarget, release and reclaim concurrently (bounded in time and count);
/// every call must reach the target the calling thread last set.
@Suite struct StressTests {
    @Test func concurrentAllocateRetargetReleaseCall() throws {
        let pool = try StubPool(.init(kind: .context, shards: 2))
        let threads = 4
        let failures = Atomic<Int>(0)
        let operations = Atomic<Int>(0)
        let deadline = ContinuousClock.now + .seconds(2)
        let liveAtEnd = Locked<Int>(0)
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var random = SplitMix64(seed: UInt64(thread) &* 0x9E37_79B9)
            var mine: [(Stub, UInt)] = []
            var count = 0
            while count < 200_000 && ContinuousClock.now < deadline {
                count += 1
                switch random.next() % 8 {
                case 0, 1, 2:
                    let context = UInt(random.next() >> 1)
                    guard let stub = try? pool.allocate(target: CTargets.returnContextRegister, context: context) else {
                        failures.add(1, ordering: .relaxed); continue
                    }
                    mine.append((stub, context))
                case 3 where !mine.isEmpty:
                    let index = Int(random.next() % UInt64(mine.count))
                    let context = UInt(random.next() >> 1)
                    if (try? pool.setContext(context, for: mine[index].0)) == nil { failures.add(1, ordering: .relaxed) }
                    mine[index].1 = context
                case 4 where !mine.isEmpty:
                    let index = Int(random.next() % UInt64(mine.count))
                    if (try? pool.release(mine[index].0)) == nil { failures.add(1, ordering: .relaxed) }
                    mine.swapAt(index, mine.count - 1)
                    mine.removeLast()
                case 5 where random.next() % 64 == 0:
                    // Safe: no thread ever calls a stub after releasing it.
                    pool.reclaim()
                default:
                    guard !mine.isEmpty else { continue }
                    let (stub, context) = mine[Int(random.next() % UInt64(mine.count))]
                    if ct_call0(stub.entry) != UInt64(context) { failures.add(1, ordering: .relaxed) }
                }
                operations.add(1, ordering: .relaxed)
            }
            for (stub, context) in mine where ct_call0(stub.entry) != UInt64(context) { failures.add(1, ordering: .relaxed) }
            liveAtEnd.withLock { $0 += mine.count }
        }
        print("stress: \(operations.load(ordering: .relaxed)) operations on \(threads) threads")
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(pool.statistics().liveStubs == liveAtEnd.withLock { $0 })
    }
}
