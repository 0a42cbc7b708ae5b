//! Lazy stubs: request thousands at once, build them all on the first call of any.

// snippet.hide
import StubPool
import Synchronization

typealias Scale = @convention(c) (Int64) -> Int64
typealias ScaleWithFactor = @convention(c) (UInt, Int64) -> Int64
let scale: ScaleWithFactor = { factor, value in Int64(factor) * value }
let scaleAddress = UInt(bitPattern: unsafeBitCast(scale, to: UnsafeRawPointer.self))

// snippet.show
// snippet.request
// A lazy C closure per "function index": nothing is built until one of them is called.
let pool = try StubPool(.init(kind: .bindFirstArgument, lazyBatches: true))
let lazy = try pool.lazyStubs(of: Int.self) { batch in
    // Runs once for all pending requests, on the calling thread, with no pool lock held.
    batch.map { request in LazyResolution(targetAddress: scaleAddress, context: UInt(request.spec)) }
}
let functions = try lazy.request(Array(0..<10_000))    // 10,000 callable addresses, at once
precondition(lazy.statistics().pending == 10_000)
precondition(functions[7].function(as: Scale.self)(6) == 42)   // builds all 10,000, then calls
precondition(lazy.statistics().batches == 1 && lazy.statistics().materialized == 10_000)
// snippet.end

// snippet.failure
// A generator that fails leaves its stubs pending and sends the call to the failure handler.
let failing = Atomic<Bool>(true)
let double: Scale = { $0 * 2 }
let doubleAddress = UInt(bitPattern: unsafeBitCast(double, to: UnsafeRawPointer.self))
let fallback: Scale = { _ in -1 }
let fallbackAddress = UInt(bitPattern: unsafeBitCast(fallback, to: UnsafeRawPointer.self))
struct Unavailable: Error {}
let retrying = try StubPool(.init(kind: .forward, lazyBatches: true))
let guarded = try retrying.lazyStubs(of: Int.self, generator: { batch in
    if failing.load(ordering: .acquiring) { throw Unavailable() }
    return batch.map { _ in LazyResolution(targetAddress: doubleAddress, context: 0) }
}, onFailure: { failure in
    // Where this one call goes instead; `failure.stub` and `failure.error` say what failed.
    LazyResolution(targetAddress: fallbackAddress, context: 0)
})
let pending = try guarded.request(1)
precondition(pending.function(as: Scale.self)(5) == -1)    // the batch failed: the fallback ran
precondition(guarded.statistics().failedBatches == 1 && guarded.statistics().pending == 1)
failing.store(false, ordering: .releasing)
let retried = try guarded.materializeAll()                 // retried now instead of on a call
precondition(retried == 1)
precondition(pending.function(as: Scale.self)(5) == 10)
// snippet.end
// snippet.hide
print("LazyBatches: ok")
