// Retargeting 1,024 context stubs, 5,000 rounds, five timings: the loop of the headline's
// retarget_ns row run alone, behind the retarget figures in Benchmarks/README.md.
//   swift build -c release
//   B=.build/release; swiftc -O Benchmarks/harness/retarget_loop.swift -o /tmp/retarget_loop -I $B/Modules \
//     -Xcc -fmodule-map-file=$B/CStubPoolShim.build/module.modulemap $B/StubPool.build/*.o $B/CStubPoolShim.build/*.o
//   /tmp/retarget_loop
import Foundation
import StubPool

func now() -> Double { var t = timespec(); clock_gettime(CLOCK_MONOTONIC, &t); return Double(t.tv_sec) * 1e9 + Double(t.tv_nsec) }
let target = UnsafeRawPointer(bitPattern: 0x401000)!
let pool = try StubPool(.init(kind: .context))
var stubs: [Stub] = []
for _ in 0..<1_024 { stubs.append(try pool.allocate(target: target)) }
let rounds = 5_000
for _ in 0..<5 {
    let start = now()
    for round in 0..<rounds { for stub in stubs { try pool.retarget(stub, to: target, context: UInt(round)) } }
    print(String(format: "%.2f ns", (now() - start) / Double(rounds * stubs.count)))
}
