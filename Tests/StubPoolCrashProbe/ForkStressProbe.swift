// `fork-stress FORKS`: fork() while three threads keep a pool, an arena and lazy stubs busy, and a
// fourth creates and destroys pools (and so the locks the fork handlers take).
//
// Worker threads loop without pause: the pool thread allocates, calls, retargets and releases
// stubs (reclaiming now and then); the arena thread commits, calls and frees blobs; the lazy thread
// requests lazy stubs whose generator commits arena bodies, and calls them (a batch per call).
// Meanwhile the main thread forks FORKS times. Each child (20 s alarm) must find the stubs and code
// made before the workers started unchanged, then use every inherited object and make new ones: a
// new stub, a new blob, a new lazy stub materialized by its own generator run. The parent does
// the same once before the workers start. The parent checks
// its own stubs and code once all children are reaped. Prints `key=value` lines for ForkTests.
import CTestHelpers
import StubPool
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

enum ForkStressProbe {
    /// Child exit statuses: what went wrong in the child.
    enum ChildFailure: Int32 {
        case inheritedChanged = 10, poolFailed, arenaFailed, lazyFailed
    }

    final class Shared: @unchecked Sendable {
        let pool: StubPool
        let arena: CodeArena
        let lazyArena: CodeArena
        let lazyPool: StubPool
        let lazy: LazyStubs<UInt64>
        let stop = Atomic<Bool>(false)
        let rounds = Atomic<Int>(0)
        /// Made before the workers start; nobody changes them.
        let fixedStub: Stub
        let fixedBlob: CodeBlob
        let fixedLazy: Stub

        init() throws {
            arena = CodeArena()
            lazyArena = CodeArena()
            pool = try StubPool(.init(kind: .forward))
            lazyPool = try StubPool(.init(kind: .forward, lazyBatches: true))
            let lazyArena = self.lazyArena
            lazy = try lazyPool.lazyStubs(of: UInt64.self) { batch in
                let blobs = try lazyArena.commit(batch.map { ForkProbe.constant(7_000 + $0.spec) })
                return blobs.map { LazyResolution(targetAddress: $0.address, context: 0) }
            }
            fixedBlob = try arena.commit([ForkProbe.constant(4_242)])[0]
            fixedStub = try pool.allocate(target: UnsafeRawPointer(bitPattern: fixedBlob.address)!)
            fixedLazy = try lazy.request(1)
            _ = ct_call0(fixedLazy.entry)
        }

        /// The stubs and code made before the workers: true if unchanged.
        func fixedIntact() -> Bool {
            ct_call0(fixedStub.entry) == 4_242 && ForkProbe.call(fixedBlob.address) == 4_242
                && ct_call0(fixedLazy.entry) == 7_001
        }
    }

    static func worker(_ shared: Shared, _ body: @escaping @Sendable (Shared, Int) throws -> Void) -> pthread_t {
        final class Box: @unchecked Sendable {
            let run: @Sendable () -> Void
            init(_ run: @escaping @Sendable () -> Void) { self.run = run }
        }
        let box = Box {
            var round = 0
            while !shared.stop.load(ordering: .relaxed) {
                do { try body(shared, round) } catch {
                    writeError("worker failed: \(error)\n")
                    exit(4)
                }
                round += 1
                shared.rounds.add(1, ordering: .relaxed)
            }
        }
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, Unmanaged.passRetained(box).toOpaque())
        precondition(status == 0)
        return thread
    }

    static func poolRound(_ shared: Shared, _ round: Int) throws {
        let target = UnsafeRawPointer(bitPattern: shared.fixedBlob.address)!
        var stubs: [Stub] = []
        for _ in 0..<16 { stubs.append(try shared.pool.allocate(target: target)) }
        for stub in stubs where ct_call0(stub.entry) != 4_242 { throw ProbeFailure("pool stub") }
        for stub in stubs { try shared.pool.retarget(stub, to: target) }
        for stub in stubs { try shared.pool.release(stub) }
        if round % 64 == 0 { shared.pool.reclaim() }
    }

    /// A pool made, used and dropped: its locks join and leave the fork handlers' set while
    /// forks happen.
    static func poolLifeRound(_ shared: Shared, _ round: Int) throws {
        let pool = try StubPool(.init(kind: .forward, shards: 1))
        let stub = try pool.allocate(target: UnsafeRawPointer(bitPattern: shared.fixedBlob.address)!)
        guard ct_call0(stub.entry) == 4_242 else { throw ProbeFailure("short-lived pool stub") }
        try pool.release(stub)
    }

    static func arenaRound(_ shared: Shared, _ round: Int) throws {
        let value = UInt64(round % 1_000)
        let blobs = try shared.arena.commit([ForkProbe.constant(value), ForkProbe.constant(value + 1)])
        guard ForkProbe.call(blobs[1].address) == value + 1 else { throw ProbeFailure("arena blob") }
        for blob in blobs { try shared.arena.free(blob) }
    }

    static func lazyRound(_ shared: Shared, _ round: Int) throws {
        let spec = UInt64(2 + round % 1_000)
        let stubs = try shared.lazy.request([spec, spec + 1])
        guard ct_call0(stubs[1].entry) == 7_000 + spec + 1 else { throw ProbeFailure("lazy stub") }
        // One call materialized both (one batch): free their bodies with the stubs.
        let bodies = try stubs.map { stub throws(StubPoolError) in UInt(bitPattern: try shared.lazyPool.target(of: stub)) }
        try shared.lazyPool.release(stubs)
        for body in bodies { try shared.lazyArena.free(address: body) }
        if round % 64 == 0 { shared.lazyPool.reclaim() }
    }

    /// What a child does with everything it inherited: nil if all went right.
    static func exercise(_ shared: Shared) -> ChildFailure? {
        guard shared.fixedIntact() else { return .inheritedChanged }
        do {
            let blob = try shared.arena.commit([ForkProbe.constant(31)])[0]
            guard ForkProbe.call(blob.address) == 31 else { return .arenaFailed }
            try shared.arena.free(blob)
        } catch { return .arenaFailed }
        do {
            let target = UnsafeRawPointer(bitPattern: shared.fixedBlob.address)!
            let stubs = try (0..<600).map { _ throws(StubPoolError) in try shared.pool.allocate(target: target) }
            guard stubs.allSatisfy({ ct_call0($0.entry) == 4_242 }) else { return .poolFailed }
            try shared.pool.retarget(shared.fixedStub, to: target)
            for stub in stubs { try shared.pool.release(stub) }
            shared.pool.reclaim()
        } catch { return .poolFailed }
        do {
            let fresh = try shared.lazy.request(5_000)
            guard ct_call0(fresh.entry) == 12_000 else { return .lazyFailed }
            _ = try shared.lazy.materializeAll()
            try shared.lazyPool.release(fresh)
        } catch { return .lazyFailed }
        return shared.fixedIntact() ? nil : .inheritedChanged
    }

    /// A child: ``exercise(_:)`` (milliseconds of work) under a 20-second alarm — generous, so
    /// that a child starved on a loaded machine is not taken for a hung one; the exit status says
    /// what failed. A child the alarm catches writes where it was stuck to standard error (its
    /// frames, `hung child <pid>:` first) before it dies of SIGALRM.
    static func child(_ shared: Shared) -> Never {
        ct_report_hang_on_alarm()
        alarm(20)
        _exit(exercise(shared)?.rawValue ?? 0)
    }

    static func run(forks: Int) throws {
        let shared = try Shared()
        // One rehearsal in the parent first: the Swift runtime instantiates the type metadata
        // the child's code needs under its own locks and once-flags, which no library's fork
        // handlers can take; a child forked while another thread instantiates metadata could
        // wait on them forever (seen under ThreadSanitizer, whose runtime is slower to warm up).
        if let failure = exercise(shared) { throw ProbeFailure("rehearsal in the parent: \(failure)") }
        let threads = [worker(shared, poolRound), worker(shared, arenaRound), worker(shared, lazyRound),
                       worker(shared, poolLifeRound)]
        // Let every worker get going before the first fork.
        while shared.rounds.load(ordering: .relaxed) < 30 { usleep(100) }
        var outcomes: [String: Int] = [:]
        for _ in 0..<forks {
            let child = fork()
            if child == 0 { Self.child(shared) }
            guard child > 0 else { throw ProbeFailure("fork: errno \(errno)") }
            // The child's alarm, and a watchdog here for children whose alarm is never delivered
            // (ThreadSanitizer defers signals until a thread reaches a point it controls).
            var status: Int32 = 0
            var waited = 0
            var killed = false
            while true {
                let reaped = waitpid(child, &status, WNOHANG)
                if reaped == child || (reaped < 0 && errno != EINTR) { break }
                if waited >= 25_000 && !killed {
                    kill(child, SIGKILL)
                    killed = true
                }
                usleep(1_000)
                waited += 1
            }
            let key: String
            if killed {
                key = "hung"
            } else if status & 0x7f == 0 {
                let code = (status >> 8) & 0xff
                key = code == 0 ? "ok" : (ChildFailure(rawValue: code).map { "\($0)" } ?? "exit\(code)")
            } else {
                key = (status & 0x7f) == SIGALRM ? "hung" : "signal\(status & 0x7f)"
            }
            outcomes[key, default: 0] += 1
        }
        shared.stop.store(true, ordering: .relaxed)
        for thread in threads { pthread_join(thread, nil) }
        ForkProbe.report("forks", forks)
        for key in ["ok", "hung", "inheritedChanged", "poolFailed", "arenaFailed", "lazyFailed"] {
            ForkProbe.report("children_\(key)", outcomes.removeValue(forKey: key) ?? 0)
        }
        ForkProbe.report("children_other", outcomes.values.reduce(0, +))
        ForkProbe.report("worker_rounds", shared.rounds.load(ordering: .relaxed))
        ForkProbe.report("parent_intact", shared.fixedIntact())
    }
}
