//! Replacing a stub that other threads are calling: unpublish, wait for a safepoint, release, reclaim.

// snippet.hide
import Dispatch
import StubPool
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

typealias BinaryOp = @convention(c) (Int64, Int64) -> Int64
let add: BinaryOp = { $0 + $1 }
let multiply: BinaryOp = { $0 * $1 }
let targets = [add, multiply].map { unsafeBitCast($0, to: UnsafeRawPointer.self) }

// snippet.show
// snippet.runtime
/// One mutator thread's safepoint: the last epoch it saw while holding no stub address.
final class Mutator: Sendable {
    let seenEpoch = Atomic<Int>(0)
    let calls = Atomic<Int>(0)
}

/// What the runtime's threads share: the stub a call site currently uses, and the epoch.
final class Runtime: Sendable {
    let callSite = Atomic<UInt>(0)
    let epoch = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
    let mutators = [Mutator(), Mutator()]

    /// A mutator: call through the call site, then pass a safepoint (no stub address held).
    func run(_ mutator: Mutator) {
        while !stop.load(ordering: .acquiring) {
            let address = callSite.load(ordering: .acquiring)
            let result = unsafeBitCast(UnsafeRawPointer(bitPattern: address)!, to: BinaryOp.self)(6, 7)
            precondition(result == 13 || result == 42)
            mutator.calls.add(1, ordering: .relaxed)
            mutator.seenEpoch.store(epoch.load(ordering: .acquiring), ordering: .releasing)   // safepoint
        }
    }

    /// Returns once every mutator has passed a safepoint after this call began.
    func waitForSafepoint() {
        let target = epoch.add(1, ordering: .acquiringAndReleasing).newValue
        for mutator in mutators {
            while mutator.seenEpoch.load(ordering: .acquiring) < target { sched_yield() }
        }
    }
}
// snippet.end

// snippet.replace
let pool = try StubPool(.init(kind: .forward))
let runtime = Runtime()
var current = try pool.allocate(target: targets[0])
runtime.callSite.store(current.address, ordering: .releasing)
let group = DispatchGroup()
for mutator in runtime.mutators {
    DispatchQueue.global().async(group: group) { runtime.run(mutator) }
}
for round in 1...200 {
    let next = try pool.allocate(target: targets[round % 2])
    runtime.callSite.store(next.address, ordering: .releasing)   // 1. unpublish the old stub
    runtime.waitForSafepoint()      // 2. no thread holds its address or is inside its code
    try pool.release(current)       // 3. a stray call from here on traps with a message
    pool.reclaim()                  // 4. its slot may now be handed out again
    current = next
}
runtime.stop.store(true, ordering: .releasing)
group.wait()
// snippet.end
// snippet.hide
precondition(pool.statistics().liveStubs == 1 && pool.statistics().quarantinedStubs == 0)
print("ReleaseAtSafepoint: ok, \(runtime.mutators.map { $0.calls.load(ordering: .relaxed) }.reduce(0, +)) calls across 200 replacements")
