// Image restore against building the same state one call at a time (100,000 stubs + 10,000
// adapters, as the headline's image rows): a restore from the encoded bytes, and a decode alone,
// 20 interleaved rounds, the fastest of each printed: the harness behind the image figures in Benchmarks/README.md.
//   swift build -c release
//   B=.build/release; swiftc -O Benchmarks/harness/image_restore.swift -o /tmp/image_restore -I $B/Modules \
//     -Xcc -fmodule-map-file=$B/CStubPoolShim.build/module.modulemap $B/StubPool.build/*.o $B/CStubPoolShim.build/*.o
//   /tmp/image_restore
import Foundation
import StubPool

func now() -> Double { var t = timespec(); clock_gettime(CLOCK_MONOTONIC, &t); return Double(t.tv_sec) * 1e9 + Double(t.tv_nsec) }
let llabs = UnsafeRawPointer(bitPattern: UInt(bitPattern: unsafeBitCast(Glibc.llabs as @convention(c) (Int64) -> Int64, to: UnsafeRawPointer.self)))!

func buildOneByOne() throws -> [AnyObject] {
    let forward = try StubPool(.init(kind: .forward))
    let bound = try StubPool(.init(kind: .bindFirstArgument))
    let arena = CodeArena()
    var adapters: [CodeBlob] = []
    for index in 0..<10_000 {
        let body = try CodeEmitter.bindConstants([.constant(UInt64(index))], afterArguments: 1,
                                                 target: .address(UInt(bitPattern: llabs)), architecture: .host)
        adapters.append(try arena.commit([body])[0])
    }
    for index in 0..<50_000 {
        _ = try forward.allocate(target: index % 2 == 0 ? llabs : adapters[index % 10_000].entry)
        _ = try bound.allocate(target: llabs, context: UInt(index))
    }
    return [forward, bound, arena]
}

let original = try buildOneByOne()
let bytes = try StubImage.snapshot(pools: [.init(original[0] as! StubPool), .init(original[1] as! StubPool)],
                                   arena: (original[2] as! CodeArena)).encoded()
var best = (decode: Double.infinity, restore: Double.infinity, oneByOne: Double.infinity)
for _ in 0..<20 {
    var start = now()
    let image = try StubImage(decoding: bytes)
    best.decode = min(best.decode, now() - start)
    withExtendedLifetime(image) {}
    start = now()
    let restored = try StubImage.restore(encoded: bytes)
    best.restore = min(best.restore, now() - start)
    withExtendedLifetime(restored) {}
    start = now()
    let built = try buildOneByOne()
    best.oneByOne = min(best.oneByOne, now() - start)
    withExtendedLifetime(built) {}
}
print(String(format: "decode alone %.2f ms; restore from the bytes %.2f ms, one by one %.2f ms: %.2fx", best.decode / 1e6,
             best.restore / 1e6, best.oneByOne / 1e6, best.oneByOne / best.restore))
