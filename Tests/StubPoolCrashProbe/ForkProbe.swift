// `fork`: arena blobs and pool stubs across fork(), both directions, sequenced through pipes.
// Prints `key=value` lines (parent and child) for ForkTests; exits 0 if the probe itself ran.
// `fork-latency`: fork() + child exit + waitpid with a 1 MB and a 64 MB arena, and the cost of the
// first arena write after a fork (the private copy), in microseconds.
import CTestHelpers
import StubPool

#if canImport(Glibc)
import Glibc
#endif

enum ForkProbe {
    static func report(_ key: String, _ value: Any) {
        var line = "\(key)=\(value)\n"
        line.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
    }

    static func constant(_ value: UInt64) -> [UInt8] { CodeEmitter.returnConstant(value, architecture: .host) }
    static func call(_ address: UInt) -> UInt64 { ct_call0(UnsafeRawPointer(bitPattern: address)!) }

    static func signal(_ fd: Int32) { var byte: UInt8 = 1; _ = write(fd, &byte, 1) }
    static func wait(_ fd: Int32) { var byte: UInt8 = 0; _ = read(fd, &byte, 1) }

    static func run() throws {
        let arena = CodeArena()
        let pool = try StubPool(.init(kind: .forward))
        let blobs = try arena.commit([constant(111), constant(555), constant(444)])
        let (a, b, d) = (blobs[0], blobs[1], blobs[2])
        let stub = try pool.allocate(target: UnsafeRawPointer(bitPattern: a.address)!)
        var toChild: [Int32] = [0, 0], toParent: [Int32] = [0, 0]
        guard pipe(&toChild) == 0, pipe(&toParent) == 0 else { throw ProbeFailure("pipe") }
        let child = fork()
        if child == 0 {
            // Child: free A and commit in its place, rewrite B, retarget the stub.
            try arena.free(a)
            let c = try arena.commit([constant(222)])[0]
            try arena.write(constant(666), into: b, at: 0)
            try pool.retarget(stub, to: UnsafeRawPointer(bitPattern: c.address)!)
            report("child_reused_slot", c.address == a.address)
            report("child_new_blob", call(c.address))
            report("child_b", call(b.address))
            report("child_stub", ct_call0(stub.entry))
            signal(toParent[1])
            // Parent rewrites D and frees/recommits meanwhile; the child's D must not change.
            wait(toChild[0])
            report("child_d_after_parent_write", call(d.address))
            let e = try arena.commit([constant(999)])[0]
            report("child_commit_after_fork", call(e.address))
            report("child_private_copies", arena.statistics().privateCopiesAfterFork)
            _exit(0)
        }
        wait(toParent[0])
        report("parent_a", call(a.address))
        report("parent_b", call(b.address))
        report("parent_stub", ct_call0(stub.entry))
        try arena.write(constant(888), into: d, at: 0)
        try arena.free(b)
        let f = try arena.commit([constant(777)])[0]
        report("parent_d", call(d.address))
        report("parent_commit_after_fork", call(f.address))
        report("parent_private_copies", arena.statistics().privateCopiesAfterFork)
        signal(toChild[1])
        var status: Int32 = 0
        waitpid(child, &status, 0)
        report("child_status", status)
    }

    static func microseconds(_ body: () throws -> Void) rethrows -> Double {
        var start = timespec(), end = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        try body()
        clock_gettime(CLOCK_MONOTONIC, &end)
        return Double(end.tv_sec - start.tv_sec) * 1e6 + Double(end.tv_nsec - start.tv_nsec) / 1e3
    }

    static func latency() throws {
        for megabytes in [1, 64] {
            let arena = CodeArena()
            _ = try arena.commit(Array(repeating: constant(1) + Array(repeating: 0x90, count: 4000), count: megabytes * 256))
            var forks: [Double] = [], firstWrites: [Double] = []
            for _ in 0..<11 {
                forks.append(microseconds {
                    let child = fork()
                    if child == 0 { _exit(0) }
                    var status: Int32 = 0
                    waitpid(child, &status, 0)
                })
                firstWrites.append(try microseconds { _ = try arena.commit([constant(2)]) })
            }
            report("fork_us_\(megabytes)mb", forks.sorted()[5])
            report("first_commit_after_fork_us_\(megabytes)mb", firstWrites.sorted()[5])
            report("regions_\(megabytes)mb", arena.statistics().regions)
            report("mappings_\(megabytes)mb", arena.statistics().mappings)
        }
    }
}

struct ProbeFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
