import Foundation
import Testing
@testable import StubPool

@Suite struct LockedTests {
    /// The calling thread's CPU time, in nanoseconds.
    private static func threadCPUTime() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// A thread waiting for a `.block` lock sleeps: while the holder keeps it for 300 ms (asleep
    /// itself, as a holder waiting on a system call would be), the waiter uses a few milliseconds
    /// of CPU at most (a spinning waiter uses most of the 300 ms on an idle machine, and still a
    /// large share on a busy one). The waiter then gets the lock, and the counts stay exact.
    @Test func aBlockingLockPutsItsWaitersToSleep() throws {
        let lock = Locked(0, rank: .leaf, waiting: .block)
        let holding = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var waiterCPU: UInt64 = 0
        let holder = Thread {
            lock.withLock { value in
                holding.signal()
                usleep(300_000)
                value += 1
            }
            done.signal()
        }
        holder.start()
        holding.wait()
        let waiter = Thread {
            let start = Self.threadCPUTime()
            lock.withLock { $0 += 1 }
            waiterCPU = Self.threadCPUTime() - start
            done.signal()
        }
        waiter.start()
        done.wait()
        done.wait()
        #expect(lock.withLock { $0 } == 2)
        #expect(waiterCPU < 30_000_000, "the waiter used \(waiterCPU / 1_000_000) ms of CPU waiting 300 ms")
    }

    /// Many threads hammering a `.block` lock (each critical section yields, to force contention
    /// and sleeping waiters): no increment is lost and nobody sleeps forever.
    @Test func contendedBlockingLockLosesNoUpdate() {
        let lock = Locked(0, rank: .leaf, waiting: .block)
        let threads = 4, rounds = 5_000
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            for round in 0..<rounds {
                lock.withLock { value in
                    value += 1
                    if round % 64 == 0 { sched_yield() }
                }
            }
        }
        #expect(lock.withLock { $0 } == threads * rounds)
    }
}
