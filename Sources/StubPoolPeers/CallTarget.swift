/// The C signature every call benchmark uses: three integers in, one out.
public typealias Target3 = @convention(c) (Int64, Int64, Int64) -> Int64

/// A plain C-convention target for every call benchmark: returns `a + b + c`.
public let benchmarkTarget: Target3 = { a, b, c in a &+ b &+ c }

/// The address of ``benchmarkTarget``.
public var benchmarkTargetAddress: UnsafeRawPointer { unsafeBitCast(benchmarkTarget, to: UnsafeRawPointer.self) }

/// Calls the ``Target3`` at `address` `count` times through an opaque pointer and returns the sum,
/// so the calls cannot be elided: a hot indirect-call loop.
@inline(never)
public func callLoop(_ address: UnsafeRawPointer, count: Int) -> Int64 {
    let function = unsafeBitCast(address, to: Target3.self)
    var sum: Int64 = 0
    for index in 0..<count { sum &+= function(Int64(index), 1, 2) }
    return sum
}
