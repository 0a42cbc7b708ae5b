//! Generated code in a W^X arena: batch commits, patches, templates, free.

// snippet.hide
import StubPool

typealias Constant = @convention(c) () -> UInt64

// snippet.show
// snippet.commit
let arena = CodeArena()
// One commit: every body copied through the writable view, one cache-maintenance pass.
let bodies = (0..<1_000).map { CodeEmitter.returnConstant(UInt64($0), architecture: .host) }
let blobs = try arena.commit(bodies)
precondition(blobs[42].function(as: Constant.self)() == 42)
precondition(arena.statistics().commits == 1 && arena.statistics().cacheMaintenancePasses == 1)
// snippet.end

// snippet.patch
// Patching live code: within the blob's bounds; many patches share one maintenance pass.
let seven = CodeEmitter.returnConstant(7, architecture: .host)
precondition(seven.count == blobs[0].size)
try arena.write([CodePatch(blob: blobs[0], offset: 0, bytes: seven),
                 CodePatch(blob: blobs[1], offset: 0, bytes: seven)])
precondition(blobs[0].function(as: Constant.self)() == 7 && blobs[1].function(as: Constant.self)() == 7)
// snippet.end

// snippet.template
// A template: one body with holes, checked once, filled per instance in one commit.
let template = CodeEmitter.returnValue(.parameter(0), architecture: .host)
let instances = try arena.instantiate(template, arguments: (0..<1_000).map { [.constant(UInt64($0) * 3)] })
precondition(instances[14].function(as: Constant.self)() == 42)
// snippet.end

// snippet.free
// Freeing refills the bytes with traps before the space can be reused.
try arena.free(blobs[999])
precondition(arena.blob(at: blobs[999].address) == nil)
let statistics = arena.statistics()
print("\(statistics.liveBlobs) blobs, \(statistics.mappings) mappings, \(statistics.fileDescriptors) descriptor")
// snippet.end
// snippet.hide
precondition(statistics.liveBlobs == 1_999)
print("CodeArena: ok")
