//! The three stub kinds and landing pads.

// snippet.hide
import StubPool

// snippet.show
// snippet.forward
// forward: the callee sees exactly the caller's registers.
typealias Negate = @convention(c) (Int64) -> Int64
let negate: Negate = { -$0 }
let forwardPool = try StubPool(.init(kind: .forward))
let forward = try forwardPool.allocate(target: unsafeBitCast(negate, to: UnsafeRawPointer.self))
precondition(forward.function(as: Negate.self)(5) == -5)
// snippet.end

// snippet.context
// context: the callee finds the context in r10 (x86-64) or x17 (AArch64), libffi's closure
// registers; C code reads it from assembly or a small entry shim. The caller's arguments are intact.
let contextPool = try StubPool(.init(kind: .context))
let withContext = try contextPool.allocate(target: unsafeBitCast(negate, to: UnsafeRawPointer.self), context: 0xC0FFEE)
let storedContext = try contextPool.context(of: withContext)
precondition(storedContext == 0xC0FFEE)
precondition(withContext.function(as: Negate.self)(5) == -5)
// snippet.end

// snippet.bind
// bindFirstArgument: a C closure. The callee gets the context first, the caller's arguments after.
typealias Scale = @convention(c) (Int64) -> Int64                 // what callers see
typealias ScaleWithFactor = @convention(c) (UInt, Int64) -> Int64 // what the target receives
let scale: ScaleWithFactor = { factor, value in Int64(factor) * value }
let closures = try StubPool(.init(kind: .bindFirstArgument))
let triple = try closures.allocate(target: unsafeBitCast(scale, to: UnsafeRawPointer.self), context: 3)
let double = try closures.allocate(target: unsafeBitCast(scale, to: UnsafeRawPointer.self), context: 2)
precondition(triple.function(as: Scale.self)(14) == 42)
precondition(double.function(as: Scale.self)(21) == 42)
// snippet.end

// snippet.landing
// Landing pads: every entry begins with endbr64 / bti c, for code built with CET or BTI.
let guarded = try StubPool(.init(kind: .context, landingPads: true))
let padded = try guarded.allocate(target: unsafeBitCast(negate, to: UnsafeRawPointer.self))
precondition(padded.function(as: Negate.self)(-8) == 8)
// snippet.end

// snippet.inspect
// The code of any kind, on either architecture, from any host.
let listing = try TemplateInspection(architecture: .arm64, variant: StubVariant(kind: .bindFirstArgument))
print(listing.slotSize, listing.geometry.anchorSlot)   // 64 B per stub, 4,095 stubs per 256 KiB chunk
// snippet.end
// snippet.hide
precondition(listing.slotSize == 64)
print("StubKinds: ok")
