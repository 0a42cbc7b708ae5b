import Foundation
import Synchronization
import Testing
@testable import StubPool

/// The fork handlers' registry: locks join and leave it without a lock, and a dropped lock's
/// registration serves the next one.
@Suite struct ForkLocksTests {
    /// 4 threads each make and drop 5,000 locks of one rank, each used once: every lock is
    /// live while it exists and gone after; the registry grows by what was live at once (at most
    /// one block of 64 per thread here), not by the 20,000 made.
    @Test func droppedLocksRegistrationsAreReused() {
        // A rank no other test makes locks of: its one lock, the profiling recorder, made first.
        let rank = LockRank.profiling
        _ = Profiling.recorder
        let before = ForkLocks.registrations(of: rank)
        let threads = 4, rounds = 5_000
        let wrong = Atomic<Int>(0)
        // Locks that live through the churn: each keeps its registration to the end (a lock given
        // back twice once freed another's, which a third then shared).
        let lasting = (0..<threads).map { Locked($0, rank: rank) }
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for round in 0..<rounds {
                let lock = Locked(round, rank: rank, waiting: thread % 2 == 0 ? .spin : .block)
                if lock.withLock({ $0 }) != round || !lock.isRegisteredForFork { wrong.add(1, ordering: .relaxed) }
            }
        }
        #expect(lasting.allSatisfy { $0.isRegisteredForFork })
        let after = ForkLocks.registrations(of: rank)
        withExtendedLifetime(lasting) {}
        #expect(wrong.load(ordering: .relaxed) == 0)
        #expect(after.live == before.live + threads, "\(after.live - before.live - threads) registrations of dropped locks live")
        #expect(after.total - before.total <= threads * 64,
                "the registry grew by \(after.total - before.total) for \(threads * rounds) short-lived locks")
    }
}
