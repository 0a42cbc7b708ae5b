// Bulk allocation of 1M stubs with gdb names off and on (ProfilingOutputs.gdb), four runs each,
// median printed, three rounds: the harness behind the gdb figures in Benchmarks/README.md
// (the headline's alloc_bulk_gdb_ns_per_stub row measures the same with other rows around it).
//   swift build -c release
//   B=.build/release; swiftc -O Benchmarks/harness/gdb_bulk.swift -o /tmp/gdb_bulk -I $B/Modules \
//     -Xcc -fmodule-map-file=$B/CStubPoolShim.build/module.modulemap $B/StubPool.build/*.o $B/CStubPoolShim.build/*.o
//   /tmp/gdb_bulk            (or: /tmp/gdb_bulk on | off)
import Foundation
import StubPool

func now() -> Double { var t = timespec(); clock_gettime(CLOCK_MONOTONIC, &t); return Double(t.tv_sec) * 1e9 + Double(t.tv_nsec) }
let target = UnsafeRawPointer(bitPattern: 0x401000)!
let count = 1_000_000
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gdb-bulk-\(getpid())").path

func run(_ outputs: ProfilingOutputs?) throws -> Double {
    if let outputs { try Profiling.start(outputs, directory: directory) }
    defer { if outputs != nil { try? Profiling.stop() } }
    var samples: [Double] = []
    for _ in 0..<4 {
        let start = now()
        let pool = try StubPool()
        let stubs = try pool.allocate(count: count, target: target)
        samples.append((now() - start) / Double(count))
        withExtendedLifetime((pool, stubs)) {}
        if outputs != nil { try Profiling.flush() }
    }
    return samples.sorted()[samples.count / 2]
}

let mode = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "both"
for _ in 0..<3 {
    if mode != "on" { print("off", String(format: "%.1f ns per stub", try run(nil))) }
    if mode != "off" { print("gdb", String(format: "%.1f ns per stub", try run(.gdb))) }
}
try? FileManager.default.removeItem(atPath: directory)
