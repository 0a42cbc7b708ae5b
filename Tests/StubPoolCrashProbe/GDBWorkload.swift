// `gdb-workload`: stops inside a named arena body, for the debugger test, which runs it under
// `gdb -batch` with STUBPOOL_PERF=gdb. A body that traps (`int3` / `brk #0`) is committed as
// `wasm-body:trap` and called through a stub of the pool `probe-pool`, with the stub's address,
// the address of a blob that reused a freed blob's slot and the address of a stub named with
// setName as its three arguments, so gdb's `info symbol $rdi` / `$rsi` / `$rdx` (`$x0` / `$x1` /
// `$x2`) can name them at the stop.
import StubPool

#if canImport(Glibc)
import Glibc
#endif

enum GDBWorkload {
    static var trapBody: [UInt8] {
        switch Architecture.host {
        case .x86_64: [0xCC, 0x90, 0xC3]  // int3; nop; ret
        case .arm64: [0x00, 0x00, 0x20, 0xD4, 0xC0, 0x03, 0x5F, 0xD6]  // brk #0; ret
        }
    }

    static func run() throws {
        let arena = CodeArena()
        let first = try arena.commit([PerfWorkload.returnBody, trapBody, PerfWorkload.returnBody],
                                     names: ["wasm-body:gone", "wasm-body:trap", "wasm-body:kept"])
        try arena.free(first[0])
        // Packed placement reuses the freed slot: gdb must now name it `wasm-body:later`.
        let later = try arena.commit([PerfWorkload.returnBody], names: ["wasm-body:later"])[0]
        print("reused \(later.address == first[0].address) later 0x\(String(later.address, radix: 16))")
        let pool = try StubPool(.init(kind: .forward, name: "probe-pool"))
        _ = try pool.allocate(count: 100, target: first[2].entry)
        let stub = try pool.allocate(target: first[1].entry)
        let named = try pool.allocate(target: first[2].entry)
        try pool.setName("wasm-exit:renamed", for: named)
        print("stub \(pool.name(of: stub)) 0x\(String(stub.address, radix: 16))")
        fflush(nil)  // stdout, before the trap stops the program
        callThrough(stub, later.address, named.address)
    }

    @inline(never)
    static func callThrough(_ stub: Stub, _ argument: UInt, _ third: UInt) {
        typealias Body = @convention(c) (UInt, UInt, UInt) -> Void
        stub.function(as: Body.self)(stub.address, argument, third)
    }
}
