// The fault-injection walk, run in this child process so that its mapping counts are not
// disturbed by tests running in parallel. For each operation and each system call it may make,
// the Nth call (N = 1, 2, … until the operation no longer reaches it) fails with ENOMEM; then:
// a typed error names the operation, the process has exactly the mappings it had before (the
// shim's ledger of StubPool's own mapped bytes, and the process's mapping count except under a
// sanitizer, whose runtime maps memory at will), the pool's statistics are unchanged, and the
// pool (or arena) still works. Prints one line per
// operation: "WALK <operation> points=<failures injected> violations=<broken invariants>".
import CStubPoolShim
import CTestHelpers
import StubPool
import StubPoolTestSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

enum FaultWalk {
    /// System calls a failure can be injected into (close only runs on cleanup paths).
    static let injectable: [stubpool_syscall_t] = [
        STUBPOOL_SYS_MMAP, STUBPOOL_SYS_MUNMAP, STUBPOOL_SYS_MPROTECT, STUBPOOL_SYS_MEMFD_CREATE,
        STUBPOOL_SYS_FTRUNCATE, STUBPOOL_SYS_FCNTL, STUBPOOL_SYS_MEMBARRIER,
    ]

    /// What "no mapping leaked" compares: StubPool's own mapped bytes (the shim's ledger) and,
    /// outside sanitizer runs, the number of mappings in the whole process.
    struct Mappings: Equatable, CustomStringConvertible {
        let ownBytes: Int
        let processCount: Int?

        static func now() -> Mappings {
            Mappings(ownBytes: stubpool_mapped_bytes(), processCount: ct_sanitizer_active() != 0 ? nil : processMappingCount())
        }

        var description: String {
            "\(ownBytes) B own" + (processCount.map { ", \($0) mappings in the process" } ?? "")
        }
    }

    static func processMappingCount() -> Int {
        guard let file = fopen("/proc/self/maps", "r") else { return -1 }
        defer { fclose(file) }
        var count = 0
        while true {
            let character = fgetc(file)
            if character == EOF { return count }
            if character == 10 { count += 1 }
        }
    }

    static var weighted3: UnsafeRawPointer {
        unsafeBitCast(ct_weighted3 as @convention(c) (Int64, Int64, Int64) -> Int64, to: UnsafeRawPointer.self)
    }

    /// Walks one operation. `attempt(type)` prepares fresh state, runs the operation with the
    /// injection armed (by the `arm` callback, right before the operation), and returns nil if
    /// the operation succeeded or a list of violated invariants if it failed.
    static func walk(_ name: String, _ attempt: (stubpool_syscall_t, _ arm: () -> Void) -> [String]?) {
        var points = 0, violations = 0
        for type in injectable {
            var n: UInt32 = 1
            while n < 64 {
                let problems = attempt(type) { _ = stubpool_fault_arm(type, n, ENOMEM) }
                stubpool_fault_disarm()
                guard let problems else { break }
                points += 1
                violations += problems.count
                for problem in problems { print("VIOLATION \(name) syscall \(type.rawValue) #\(n): \(problem)") }
                n += 1
            }
        }
        print("WALK \(name) points=\(points) violations=\(violations)")
    }

    static func poolStillWorks(_ pool: StubPool) -> Bool {
        guard let stub = try? pool.allocate(target: weighted3, context: 9) else { return false }
        defer { try? pool.release(stub) }
        // bindFirstArgument stubs call weighted3(context, 1, 2).
        let expected: Int64 = pool.configuration.kind == .bindFirstArgument ? 9 + 3 + 14 : 1 + 6 + 21
        return ct_call3(stub.entry, 1, 2, 3) == expected
    }

    static func check(_ error: any Error, operation: PoolOperation, mappings: Mappings, problems: inout [String]) {
        if case .system(let system, during: let during)? = error as? StubPoolError {
            if during != operation { problems.append("error names \(during), not \(operation)") }
            if system.errno != ENOMEM { problems.append("errno \(system.errno), not ENOMEM") }
        } else {
            problems.append("untyped or wrong error: \(error)")
        }
        let now = Mappings.now()
        if now != mappings { problems.append("mappings \(mappings) → \(now)") }
    }

    /// Runs `operation` on `pool` with the injection armed; nil if it succeeded, else the
    /// invariants it broke.
    static func attempt(on pool: StubPool, operation: PoolOperation, arm: () -> Void,
                        _ body: () throws -> Void) -> [String]? {
        let before = Mappings.now(), statistics = pool.statistics()
        arm()
        do {
            try body()
            return nil
        } catch {
            stubpool_fault_disarm()
            var problems: [String] = []
            check(error, operation: operation, mappings: before, problems: &problems)
            if pool.statistics() != statistics { problems.append("statistics changed") }
            if !poolStillWorks(pool) { problems.append("pool unusable afterwards") }
            return problems
        }
    }

    static func run() {
        guard stubpool_fault_arm(STUBPOOL_SYS_MMAP, 1_000_000, ENOMEM) == 0 else {
            print("FAULT-INJECTION unavailable (release build)")
            return
        }
        stubpool_fault_disarm()
        // Creating a pool builds its code template (memfd, ftruncate, mmap, munmap, seals). A
        // template is cached once built, so each system call type walks its own configuration.
        walk("createPool") { type, arm in
            let codeSize = 64 * 1024 * (1 + injectable.firstIndex(of: type)!)
            let before = Mappings.now()
            let settings = StubPool.Configuration(kind: .bindFirstArgument, landingPads: true, codeSize: codeSize)
            arm()
            do {
                _ = try StubPool(settings)
                return nil
            } catch {
                stubpool_fault_disarm()
                var problems: [String] = []
                check(error, operation: .createPool, mappings: before, problems: &problems)
                if let pool = try? StubPool(settings), !poolStillWorks(pool) { problems.append("pool unusable afterwards") }
                return problems
            }
        }
        for strategy in [StubPool.Configuration().strategy, .privateCopy] {
            walk("allocate(\(strategy))") { _, arm in
                guard let pool = try? StubPool(.init(kind: .context, strategy: strategy, shards: 1)) else { return ["setup"] }
                return attempt(on: pool, operation: .allocate, arm: arm) { _ = try pool.allocate(target: weighted3) }
            }
        }
        walk("allocateBulk") { _, arm in
            guard let pool = try? StubPool(.init(kind: .forward, shards: 1)),
                  let first = try? pool.allocate(target: weighted3) else { return ["setup"] }
            defer { _ = try? pool.release(first) }
            return attempt(on: pool, operation: .allocateBulk, arm: arm) {
                _ = try pool.allocate(count: 50_000, target: weighted3)  // four more chunks
            }
        }
        // Operations that make no system call: any armed failure stays unconsumed.
        for name in ["retarget", "release", "reclaim", "lazyBatch", "retargetRange", "releaseRange"] {
            walk(name) { type, arm in
                guard let pool = try? StubPool(.init(kind: .context, shards: 1, lazyBatches: true)),
                      let stub = try? pool.allocate(target: weighted3, context: 2),
                      let range = try? pool.allocate(count: 300, target: weighted3, context: 2) else { return ["setup"] }
                let lazy = try? pool.lazyStubs(of: Int.self) { requests in
                    requests.map { LazyResolution(targetAddress: UInt(bitPattern: weighted3), context: UInt($0.spec)) }
                }
                let pending = try? lazy?.request([1, 2, 3])
                let countBefore = stubpool_syscall_count(type)
                arm()
                switch name {
                case "retarget": _ = try? pool.retarget(stub, to: weighted3, context: 3)
                case "release": _ = try? pool.release(stub)
                case "reclaim": _ = try? pool.release(stub); pool.reclaim()
                case "retargetRange": _ = try? pool.retarget(range, to: weighted3, context: 3)
                case "releaseRange": _ = try? pool.release(range); pool.reclaim()
                default: _ = ct_call3(pending![1].entry, 1, 1, 1)
                }
                return stubpool_syscall_count(type) == countBefore ? nil : ["made a system call"]
            }
        }
        // A thread that allocated and released through its slot cache exits with a failure armed
        // on it: retiring its cache (free slots back to the shards, queued releases to the
        // quarantine) must need no system call, and the pool's accounting must come out whole.
        // (The retirement runs in a TLS destructor after the thread's body: its system call count
        // cannot be read there, so each call type is armed once and the effects are checked.)
        var threadExitArmed: Set<UInt32> = []
        walk("threadExit") { type, _ in
            guard threadExitArmed.insert(type.rawValue).inserted else { return nil }
            guard let pool = try? StubPool(.init(kind: .context, shards: 1)),
                  let warm = try? pool.allocate(count: 2_000, target: weighted3) else { return ["setup"] }
            _ = try? pool.release(warm)
            pool.reclaim()
            onExitingThread {}  // glibc keeps an exited thread's stack mapped for the next thread
            let before = Mappings.now(), statistics = pool.statistics()
            let outcome = Mutex<[Stub]>([])
            onExitingThread {
                var stubs: [Stub] = []
                for context in 0..<200 { if let stub = try? pool.allocate(target: weighted3, context: UInt(context)) { stubs.append(stub) } }
                for stub in stubs.prefix(150) { _ = try? pool.release(stub) }
                outcome.withLock { $0 = stubs }
                _ = stubpool_fault_arm(type, 1, ENOMEM)
            }
            var problems: [String] = []
            let stubs = outcome.withLock { $0 }
            let after = pool.statistics()
            if stubs.count != 200 { problems.append("only \(stubs.count) of 200 allocated") }
            if after.cachedSlots != statistics.cachedSlots { problems.append("cached slots \(statistics.cachedSlots) → \(after.cachedSlots)") }
            if after.liveStubs != 50 || after.quarantinedStubs != 150 { problems.append("live \(after.liveStubs), quarantined \(after.quarantinedStubs): expected 50, 150") }
            if Mappings.now() != before { problems.append("mappings \(before) → \(Mappings.now())") }
            for (context, stub) in stubs.enumerated().dropFirst(150) where ct_call3(stub.entry, 1, 2, 3) != 1 + 6 + 21 {
                problems.append("stub \(context) broken")
            }
            if pool.reclaim() != 150 { problems.append("reclaim did not free the exited thread's releases") }
            if !poolStillWorks(pool) { problems.append("pool unusable afterwards") }
            return problems
        }
        // A lazy batch whose generator commits the stubs' bodies to an arena: a failing system
        // call inside the commit fails the batch. The call goes to the failure handler, the stubs
        // stay pending, nothing is mapped, and the next call materializes them.
        walk("lazyBatch(arena)") { _, arm in
            guard let pool = try? StubPool(.init(kind: .context, shards: 1, lazyBatches: true)) else { return ["setup"] }
            let arena = CodeArena()
            let failures = Mutex<[LazyFailure]>([])
            let fallback = LazyResolution(target: weighted3, context: 0)
            guard let lazy = try? pool.lazyStubs(of: UInt64.self, generator: { requests in
                let blobs = try arena.commit(requests.map { CodeEmitter.returnConstant($0.spec, architecture: .host) })
                return blobs.map { LazyResolution(target: $0.entry, context: 0) }
            }, onFailure: { failure in
                failures.withLock { $0.append(failure) }
                return fallback
            }), let stubs = try? lazy.request([41, 42, 43]) else { return ["setup"] }
            let before = Mappings.now(), arenaStatistics = arena.statistics(), lazyStatistics = lazy.statistics()
            arm()
            let result = ct_call3(stubs[1].entry, 1, 2, 3)
            stubpool_fault_disarm()
            let recorded = failures.withLock { $0 }
            guard let failure = recorded.first else {
                return result == 42 ? nil : ["batch succeeded but the call returned \(result)"]
            }
            var problems: [String] = []
            if recorded.count != 1 { problems.append("\(recorded.count) failure handler calls") }
            if failure.stub != stubs[1] { problems.append("failure names \(failure.stub), not the called stub") }
            if case .system(let system, during: .commit)? = failure.error as? CodeArenaError {
                if system.errno != ENOMEM { problems.append("errno \(system.errno)") }
            } else {
                problems.append("untyped or wrong error: \(failure.error)")
            }
            if result != 1 + 6 + 21 { problems.append("the call did not continue at the fallback (\(result))") }
            if Mappings.now() != before { problems.append("mappings \(before) → \(Mappings.now())") }
            if arena.statistics() != arenaStatistics { problems.append("arena statistics changed") }
            var expected = lazyStatistics
            expected.failedBatches += 1
            var seen = lazy.statistics()
            seen.generatorNanoseconds = expected.generatorNanoseconds
            if seen != expected { problems.append("lazy statistics \(lazyStatistics) → \(lazy.statistics())") }
            if stubs.map({ ct_call3($0.entry, 0, 0, 0) }) != [41, 42, 43] { problems.append("stubs not materialized on retry") }
            return problems
        }
        // Restoring an image maps chunks for every pool (bulk allocation, lazy requests) and an
        // arena for its blobs: any failure drops everything the restore made.
        if let image = try? imageForWalk() {
            _ = try? restoreForWalk(image)  // templates built, outside the walk
            walk("imageRestore") { _, arm in
                let before = Mappings.now()
                arm()
                do throws(StubImageError) {
                    let restored = try restoreForWalk(image)
                    stubpool_fault_disarm()
                    return ct_call3(restored.stubs[0].entry, 1, 2, 3) == 1 + 6 + 21 ? nil : ["restored stub broken"]
                } catch {
                    stubpool_fault_disarm()
                    var problems: [String] = []
                    switch error {
                    case .pool(.system(let system, _)), .arena(.system(let system, _)):
                        if system.errno != ENOMEM { problems.append("errno \(system.errno)") }
                    default: problems.append("wrong error: \(error)")
                    }
                    if Mappings.now() != before { problems.append("mappings \(before) → \(Mappings.now())") }
                    if (try? restoreForWalk(image)) == nil { problems.append("restore fails afterwards") }
                    return problems
                }
            }
        } else {
            print("VIOLATION imageRestore: no image to walk")
        }
        // A first commit creates the arena's memory file and its first piece; a commit that
        // overflows a piece maps the next one (the file grows).
        for (name, prefill) in [("arenaCommit(first)", 0), ("arenaCommit(piece)", 63)] {
            walk(name) { _, arm in
                let arena = CodeArena()
                let big = [UInt8](repeating: 0xC3, count: CodeArena.maximumBlobSize)
                guard prefill == 0 || (try? arena.commit(Array(repeating: big, count: prefill))) != nil else { return ["setup"] }
                let before = Mappings.now(), statistics = arena.statistics()
                // A new class (a new region) and a page-granular blob that no longer fits the piece.
                let blobs: [[UInt8]] = [[UInt8](repeating: 0xC3, count: 700), big]
                arm()
                do {
                    _ = try arena.commit(blobs)
                    return nil
                } catch {
                    stubpool_fault_disarm()
                    var problems: [String] = []
                    if case .system(let system, during: .commit)? = error as? CodeArenaError {
                        if system.errno != ENOMEM { problems.append("errno \(system.errno)") }
                    } else {
                        problems.append("untyped or wrong error: \(error)")
                    }
                    if Mappings.now() != before { problems.append("mappings \(before) → \(Mappings.now())") }
                    if arena.statistics() != statistics { problems.append("statistics \(statistics) → \(arena.statistics())") }
                    if (try? arena.commit(blobs)) == nil { problems.append("arena unusable afterwards") }
                    return problems
                }
            }
        }
        // The first commit, write or free after a fork gives the arena a memory file of its own
        // (memfd, ftruncate, a writable view per piece, each executable view replaced): each of
        // those calls fails in turn, in a forked child. Two pieces, so that a failure after the
        // first executable view was replaced must put the old file back under it.
        for operation in [CodeArenaError.ArenaOperation.commit, .write, .free] {
            walk("arenaAfterFork(\(operation.rawValue))") { _, arm in
                let arena = CodeArena()
                let big = [UInt8](repeating: 0xC3, count: CodeArena.maximumBlobSize)
                guard (try? arena.commit(Array(repeating: big, count: 64))) != nil,
                      let blobs = try? arena.commit([ForkProbe.constant(1), ForkProbe.constant(2)]),
                      arena.statistics().mappings == 4 else { return ["setup"] }
                return inForkedChild {
                    let before = Mappings.now(), statistics = arena.statistics()
                    func run() throws(CodeArenaError) {
                        switch operation {
                        case .commit: _ = try arena.commit([ForkProbe.constant(3)])
                        case .write: try arena.write(ForkProbe.constant(4), into: blobs[0], at: 0)
                        case .free: try arena.free(blobs[1])
                        }
                    }
                    arm()
                    do throws(CodeArenaError) {
                        try run()
                        return nil
                    } catch {
                        stubpool_fault_disarm()
                        var problems: [String] = []
                        if case .system(let system, during: let during) = error {
                            if during != operation { problems.append("error names \(during), not \(operation)") }
                            if system.errno != ENOMEM { problems.append("errno \(system.errno)") }
                        } else {
                            problems.append("wrong error: \(error)")
                        }
                        if Mappings.now() != before { problems.append("mappings \(before) → \(Mappings.now())") }
                        // A private copy made before a later call failed (the commit's membarrier)
                        // stays: it changes no code and no address.
                        var after = arena.statistics()
                        after.privateCopiesAfterFork = statistics.privateCopiesAfterFork
                        if after != statistics { problems.append("statistics \(statistics) → \(after)") }
                        if ForkProbe.call(blobs[0].address) != 1 || ForkProbe.call(blobs[1].address) != 2 {
                            problems.append("live code changed")
                        }
                        do throws(CodeArenaError) { try run() } catch { problems.append("retry failed: \(error)") }
                        if arena.statistics().privateCopiesAfterFork != 1 { problems.append("no private copy on retry") }
                        return problems
                    }
                }
            }
        }
    }

    /// Runs `body` in a forked child and returns its result: nil (the operation succeeded) or
    /// the problems it found, passed back through a pipe one per line.
    static func inForkedChild(_ body: () -> [String]?) -> [String]? {
        var channel: [Int32] = [0, 0]
        guard pipe(&channel) == 0 else { return ["pipe"] }
        let child = fork()
        if child == 0 {
            close(channel[0])
            let lines = body().map { ["FAILED"] + $0 } ?? ["SUCCEEDED"]
            var text = lines.joined(separator: "\n") + "\n"
            text.withUTF8 { _ = write(channel[1], $0.baseAddress, $0.count) }
            _exit(0)
        }
        close(channel[1])
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while true {
            let count = read(channel[0], &buffer, buffer.count)
            if count <= 0 { break }
            output += buffer[0..<count]
        }
        close(channel[0])
        var status: Int32 = 0
        waitpid(child, &status, 0)
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
        guard status == 0, let first = lines.first else { return ["child died (status \(status))"] }
        return first == "SUCCEEDED" ? nil : Array(lines.dropFirst())
    }

    /// An image with every part a restore builds: two pools (one with pending lazy stubs) and
    /// arena blobs that refer to a stub.
    static func imageForWalk() throws -> StubImage {
        let pool = try StubPool(.init(kind: .forward))
        let stubs = try pool.allocate(count: 3_000, target: weighted3)
        let lazyPool = try StubPool(.init(kind: .context, lazyBatches: true))
        let lazy = try lazyPool.lazyStubs(of: Int.self) { batch in batch.map { _ in LazyResolution(target: weighted3, context: 0) } }
        _ = try lazy.request(Array(0..<100))
        let arena = CodeArena()
        _ = try arena.commit((0..<50).map { _ in
            try CodeEmitter.bindConstants([], afterArguments: 0, target: .address(stubs[0].address), architecture: .host)
        })
        return try StubImage.snapshot(pools: [.init(pool), .init(lazy, encode: { [UInt8(truncatingIfNeeded: $0)] })], arena: arena)
    }

    static func restoreForWalk(_ image: StubImage) throws(StubImageError) -> RestoredImage {
        try image.restore(lazy: { _, pool in
            let lazy = try pool.lazyStubs(of: Int.self) { batch in batch.map { _ in LazyResolution(target: weighted3, context: 0) } }
            return StubImage.LazySink(lazy) { Int($0.first ?? 0) }
        })
    }
}
