// `perf-workload`: spends its time in named StubPool code for the profiling test, which runs it
// under `perf record` with STUBPOOL_PERF=jitdump. A spin loop committed to an arena as
// `wasm-body:spin` is called through a stub named `wasm-entry:spin`; an arena body that only
// returns (`wasm-body:ret`) is called through a stub named `wasm-thunk:ret` in a tight C loop, so
// the stub's own jump collects samples too; one stub of a bulk range keeps its default name.
import CTestHelpers
import StubPool

#if canImport(Glibc)
import Glibc
#endif

enum PerfWorkload {
    /// A loop that counts its first argument down to zero, then returns.
    static var spinBody: [UInt8] {
        switch Architecture.host {
        case .x86_64: [0x48, 0xFF, 0xCF, 0x75, 0xFB, 0xC3]  // dec rdi; jnz .-3; ret
        case .arm64: [0x00, 0x04, 0x00, 0xF1, 0xE1, 0xFF, 0xFF, 0x54, 0xC0, 0x03, 0x5F, 0xD6]  // subs x0, x0, #1; b.ne .-4; ret
        }
    }

    static var returnBody: [UInt8] {
        switch Architecture.host {
        case .x86_64: [0xC3]
        case .arm64: [0xC0, 0x03, 0x5F, 0xD6]
        }
    }

    static func run(seconds: Double) throws {
        let arena = CodeArena()
        let bodies = try arena.commit([spinBody, returnBody], names: ["wasm-body:spin", "wasm-body:ret"])
        let pool = try StubPool(.init(kind: .forward, name: "probe-pool"))
        let entry = try pool.allocate(target: bodies[0].entry)
        try pool.setName("wasm-entry:spin", for: entry)
        let thunk = try pool.allocate(target: bodies[1].entry)
        try pool.setName("wasm-thunk:ret", for: thunk)
        let bulk = try pool.allocate(count: 1_000, target: bodies[1].entry)
        let unnamed = bulk[500]
        print("default-name \(pool.name(of: unnamed)) \(unnamed.address)")
        print("jitdump \(Profiling.jitdumpPath ?? "none")")
        typealias Spin = @convention(c) (Int) -> Void
        let spin = entry.function(as: Spin.self)
        // Three phases per round, each for a share of the time rather than a number of calls, so
        // that each keeps its share of the samples on any machine: the spin loop (40%), calls
        // through the named thunk from a tight C loop (40%), through the default-named stub (20%).
        var start = timespec(), now = timespec()
        func elapsed() -> Double {
            clock_gettime(CLOCK_MONOTONIC, &now)
            return Double(now.tv_sec - start.tv_sec) + Double(now.tv_nsec - start.tv_nsec) / 1e9
        }
        clock_gettime(CLOCK_MONOTONIC, &start)
        let round = 0.01
        var phaseEnd = 0.0
        repeat {
            phaseEnd += 0.4 * round
            while elapsed() < phaseEnd { spin(200_000) }
            phaseEnd += 0.4 * round
            while elapsed() < phaseEnd { ct_call_repeatedly(thunk.entry, 20_000) }
            phaseEnd += 0.2 * round
            while elapsed() < phaseEnd { ct_call_repeatedly(unnamed.entry, 20_000) }
        } while elapsed() < seconds
        try Profiling.flush()
    }
}
