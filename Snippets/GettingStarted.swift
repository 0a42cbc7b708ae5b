//! Create a pool, allocate stubs one at a time and in bulk, call them, retarget, release, reclaim.

// snippet.hide
import StubPool

// snippet.show
// snippet.target
// Any C-callable function can be a stub's target.
typealias BinaryOp = @convention(c) (Int64, Int64) -> Int64
let add: BinaryOp = { $0 + $1 }
let multiply: BinaryOp = { $0 * $1 }
let addAddress = unsafeBitCast(add, to: UnsafeRawPointer.self)
let multiplyAddress = unsafeBitCast(multiply, to: UnsafeRawPointer.self)
// snippet.end

// snippet.allocate
let pool = try StubPool(.init(kind: .forward))
let stub = try pool.allocate(target: addAddress)
let call = stub.function(as: BinaryOp.self)      // a C function pointer to the stub
precondition(call(20, 22) == 42)                  // enters the stub, jumps to `add`
// snippet.end

// snippet.retarget
try pool.retarget(stub, to: multiplyAddress)     // writes one data word; code never changes
precondition(call(6, 7) == 42)                    // the same pointer now multiplies
// snippet.end

// snippet.bulk
let many = try pool.allocate(count: 10_000, target: addAddress)   // all or nothing
precondition(many.count == 10_000)
precondition(many[9_999].function(as: BinaryOp.self)(1, 2) == 3)
try pool.retarget(many, to: multiplyAddress, context: 0)           // the whole range at once
precondition(many[0].function(as: BinaryOp.self)(3, 4) == 12)
// snippet.end

// snippet.release
try pool.release(stub)        // calling `call` now reports the released stub and aborts
try pool.release(many)
// ... later, once no thread can still be inside a released stub (see "Release and reclaim"):
let reclaimed = pool.reclaim()
precondition(reclaimed == 10_001)
let statistics = pool.statistics()
print("live \(statistics.liveStubs), chunks \(statistics.chunks), resident \(statistics.residentBytes) B")
// snippet.end
// snippet.hide
precondition(statistics.liveStubs == 0)
print("GettingStarted: ok")
