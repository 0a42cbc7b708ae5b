//! Names for profilers and debuggers, and a pool's and an arena's layout as text or JSON.

// snippet.hide
import StubPool
#if canImport(Glibc)
import Glibc
#endif

typealias Negate = @convention(c) (Int64) -> Int64
let negate: Negate = { -$0 }
let directory = "/tmp/stubpool-snippet-\(getpid())"

// snippet.show
// snippet.profile
// perf: a jitdump (perf inject --jit turns it into named code); gdb: its JIT interface.
try Profiling.start([.jitdump, .gdb], directory: directory)
let pool = try StubPool(.init(kind: .forward, name: "wasm-entry"))
let entry = try pool.allocate(target: unsafeBitCast(negate, to: UnsafeRawPointer.self))
try pool.setName("wasm-entry:fib", for: entry)          // perf and gdb show this name
let arena = CodeArena()
let adapters = try arena.commit([CodeEmitter.returnConstant(1, architecture: .host)], names: ["adapter:one"])
try Profiling.flush()
precondition(Profiling.jitdumpPath != nil)
// snippet.end

// snippet.inspect
let report = pool.inspect()            // chunks, occupancy, every stub's name and target
print(report)
let blobs = arena.inspect()            // size classes, mappings and blobs
precondition(report.live == 1 && blobs.liveBlobs == 1)
// snippet.end
// snippet.hide
let dump = Profiling.jitdumpPath
try Profiling.stop()
_ = adapters
if let dump { unlink(dump) }
rmdir(directory)
print("ProfilingAndInspection: ok")
