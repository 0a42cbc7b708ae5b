// Child process for the tests that watch StubPool abort:
// - `<kind> <strategy> [landing-pads] [payload-data]`: allocates three stubs, releases the middle one, prints
//   "<id> <address in hex>" of it on stdout, then calls it. The released-stub trap must abort.
// - `full-chunk <kind> <placement> [landing-pads]`: fills one chunk (every slot the placement
//   uses), releases the stub nearest the chunk's anchor, prints "<id> <address in hex>" of it and
//   calls it. The released-stub trap, which the anchor's data slot leads to, must abort.
// - `lazy-failure`: requests a lazy stub whose generator throws, prints "<id> <address in hex>",
//   then calls it. The default lazy failure handler must abort naming the stub and the error.
// - `fault-walk`: the fault-injection walk (FaultWalk.swift).
// - `exhaustion`: allocation under a lowered RLIMIT_AS (ResourceExhaustion.swift).
// - `fork`, `fork-lazy`, `fork-latency`: arenas, lazy stubs and pools across fork() (ForkProbe.swift).
// - `fork-stress FORKS`: forks while three threads work a pool, an arena and lazy stubs (ForkStressProbe.swift).
// - `perf-workload SECONDS`: time spent in named stubs and arena bodies (PerfWorkload.swift).
// - `gdb-workload`: a stop inside a named arena body, under gdb (GDBWorkload.swift).
// - `cxx-exception cfi|none`: a C++ exception across an arena body, with or without its frame (FrameProbe.swift).
// - `unwind`: backtraces from inside pool chunks, with or without unwind registration (UnwindProbe.swift).
// - `arena-limits`: an arena under RLIMIT_NOFILE = 64 and at 100 MB (ArenaLimitsProbe.swift).
// - `image-save PATH`, `image-restore PATH`: a pool image across processes (ImageProbe.swift).
import CTestHelpers
import StubPool

#if canImport(Glibc)
import Glibc
#endif

func writeError(_ text: String) {
    var text = text
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

let arguments = CommandLine.arguments

struct ProbeGeneratorError: Error, CustomStringConvertible {
    var description: String { "the probe's generator refuses" }
}

if arguments.count == 2 && arguments[1] == "exhaustion" {
    ResourceExhaustion.run()
    exit(0)
}

if arguments.count == 2 && ["fork", "fork-lazy", "fork-latency", "arena-limits", "gdb-workload", "unwind"].contains(arguments[1]) {
    do {
        switch arguments[1] {
        case "fork": try ForkProbe.run()
        case "fork-lazy": try ForkProbe.lazy()
        case "fork-latency": try ForkProbe.latency()
        case "gdb-workload": try GDBWorkload.run()
        case "unwind": try UnwindProbe.run()
        default: try ArenaLimitsProbe.run()
        }
        exit(0)
    } catch {
        writeError("probe failed: \(error)\n")
        exit(3)
    }
}

if arguments.count == 3 && arguments[1] == "cxx-exception" {
    do {
        try FrameProbe.run(withFrame: arguments[2] == "cfi")
        exit(0)
    } catch {
        writeError("probe failed: \(error)\n")
        exit(3)
    }
}

if arguments.count == 3 && arguments[1] == "fork-stress", let forks = Int(arguments[2]) {
    do {
        try ForkStressProbe.run(forks: forks)
        exit(0)
    } catch {
        writeError("probe failed: \(error)\n")
        exit(3)
    }
}

if arguments.count == 3 && ["image-save", "image-restore"].contains(arguments[1]) {
    do {
        if arguments[1] == "image-save" { try ImageProbe.save(arguments[2]) } else { try ImageProbe.restore(arguments[2]) }
        exit(0)
    } catch {
        writeError("probe failed: \(error)\n")
        exit(3)
    }
}

if arguments.count == 3 && arguments[1] == "perf-workload" {
    do {
        try PerfWorkload.run(seconds: Double(arguments[2]) ?? 1)
        exit(0)
    } catch {
        writeError("perf workload failed: \(error)\n")
        exit(3)
    }
}

if arguments.count == 2 && arguments[1] == "fault-walk" {
    FaultWalk.run()
    exit(0)
}

if arguments.count == 2 && arguments[1] == "lazy-failure" {
    do {
        let pool = try StubPool(.init(kind: .context, lazyBatches: true))
        let lazy = try pool.lazyStubs(of: Int.self) { _ in throw ProbeGeneratorError() }
        let stub = try lazy.request(1)
        var line = "\(stub.id) \(String(stub.address, radix: 16))\n"
        line.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
        _ = ct_call0(stub.entry)
        writeError("returned from a failed lazy stub\n")
        exit(0)
    } catch {
        writeError("probe failed: \(error)\n")
        exit(3)
    }
}
if arguments.count >= 4 && arguments[1] == "full-chunk", let kind = StubKind(rawValue: arguments[2]) {
    let placements: [String: Placement] = ["packed": .packed, "pageStart": .pageStart, "staggered": .staggered]
    guard let placement = placements[arguments[3]] else {
        writeError("usage: StubPoolCrashProbe full-chunk <kind> packed|pageStart|staggered [landing-pads]\n")
        exit(2)
    }
    do {
        let pool = try StubPool(.init(kind: kind, placement: placement, landingPads: arguments.count > 4 && arguments[4] == "landing-pads",
                                      shards: 1))
        let target = unsafeBitCast(ct_weighted3 as @convention(c) (Int64, Int64, Int64) -> Int64, to: UnsafeRawPointer.self)
        // A chunk holds a stub per code page (64 of 4 KiB) with these placements, or up to
        // 16,383 packed: enough for the first chunk to be full.
        let stubs = try pool.allocate(count: placement == .packed ? 20_000 : 200, target: target, context: 7)
        guard let chunk = pool.mappedRegions().first(where: { $0.executable.contains(stubs.first!.address) }),
              let last = stubs.filter({ chunk.executable.contains($0.address) }).max(by: { $0.address < $1.address }) else {
            writeError("probe failed: no chunk\n")
            exit(3)
        }
        try pool.release(last)
        var line = "\(last.id) \(String(last.address, radix: 16))\n"
        line.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
        _ = ct_call3(last.entry, 1, 2, 3)
        writeError("returned from a released stub\n")
        exit(0)
    } catch {
        writeError("probe failed: \(error)\n")
        exit(3)
    }
}

guard arguments.count >= 3, let kind = StubKind(rawValue: arguments[1]), let strategy = CodeStrategy(rawValue: arguments[2]) else {
    writeError("usage: StubPoolCrashProbe <kind> <strategy> [landing-pads] [payload-data]\n")
    exit(2)
}
let landingPads = arguments.dropFirst(3).contains("landing-pads")
// payload-data: the data slots inside 32-byte payloads, at offset 8.
let payloadData = arguments.dropFirst(3).contains("payload-data")
do {
    let pool = try StubPool(.init(kind: kind, landingPads: landingPads, strategy: strategy,
                                  payloadSize: payloadData ? 32 : 0, payloadDataOffset: payloadData ? 8 : nil))
    let target = unsafeBitCast(ct_weighted3 as @convention(c) (Int64, Int64, Int64) -> Int64, to: UnsafeRawPointer.self)
    let stubs = try (0..<3).map { _ in try pool.allocate(target: target, context: 7) }
    try pool.release(stubs[1])
    var line = "\(stubs[1].id) \(String(stubs[1].address, radix: 16))\n"
    line.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
    _ = ct_call3(stubs[1].entry, 1, 2, 3)
    writeError("returned from a released stub\n")
    exit(0)
} catch {
    writeError("probe failed: \(error)\n")
    exit(3)
}
