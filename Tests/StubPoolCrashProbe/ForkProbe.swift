// `fork`: arena blobs and pool stubs across fork(), both directions, sequenced through pipes.
// Prints `key=value` lines (parent and child) for ForkTests; exits 0 if the probe itself ran.
// `fork-lazy`: lazy stubs whose generator commits arena bodies, materialized before the fork,
// and pending across it and materialized on both sides, each side's bodies its own.
// `fork-latency`: fork() + child exit + waitpid with a 1 MB and a 64 MB arena, and the cost of the
// first arena write after a fork (the private copy), in microseconds.
import CTestHelpers
import StubPool
import Synchronization

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

    /// Added to every spec by the lazy generator: which process generated a body.
    static let generatorTag = Atomic<UInt64>(1_000)

    static func lazy() throws {
        let arena = CodeArena()
        let pool = try StubPool(.init(kind: .forward, lazyBatches: true))
        let lazy = try pool.lazyStubs(of: UInt64.self) { batch in
            let tag = generatorTag.load(ordering: .relaxed)
            let blobs = try arena.commit(batch.map { constant(tag + $0.spec) })
            return blobs.map { LazyResolution(targetAddress: $0.address, context: 0) }
        }
        func allReturn(_ stubs: StubRange, _ base: UInt64, from first: UInt64) -> Bool {
            stubs.enumerated().allSatisfy { ct_call0($0.element.entry) == base + first + UInt64($0.offset) }
        }
        let early = try lazy.request((0..<100).map { UInt64($0) })
        report("early_before_fork", allReturn(early, 1_000, from: 0))
        let pending = try lazy.request((100..<1_100).map { UInt64($0) })
        report("pending_before_fork", lazy.statistics().pending)
        var toChild: [Int32] = [0, 0], toParent: [Int32] = [0, 0]
        guard pipe(&toChild) == 0, pipe(&toParent) == 0 else { throw ProbeFailure("pipe") }
        let child = fork()
        if child == 0 {
            // The child materializes the pending batch first, with its own bodies.
            generatorTag.store(2_000, ordering: .relaxed)
            report("child_pending", allReturn(pending, 2_000, from: 100))
            report("child_early", allReturn(early, 1_000, from: 0))
            let more = try lazy.request((5_000..<5_010).map { UInt64($0) })
            report("child_more", allReturn(more, 2_000, from: 5_000))
            report("child_batches", lazy.statistics().batches)
            signal(toParent[1])
            // The parent materializes its own pending batch meanwhile: the child's stay.
            wait(toChild[0])
            report("child_pending_after_parent", allReturn(pending, 2_000, from: 100))
            _exit(0)
        }
        wait(toParent[0])
        report("parent_pending", allReturn(pending, 1_000, from: 100))
        report("parent_early", allReturn(early, 1_000, from: 0))
        report("parent_batches", lazy.statistics().batches)
        report("parent_live_blobs", arena.statistics().liveBlobs)
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
