// Resource exhaustion, in this child process: RLIMIT_AS is lowered to a little above what the
// process uses, then stubs are allocated until reserving a chunk fails. The failure must be a
// typed error, leave no half-built chunk (process mappings and pool statistics as before), and a
// bulk allocation that cannot be satisfied in full must allocate nothing.
// Prints "EXHAUSTION chunks=<mapped before failing> single=<ok|problem> bulk=<ok|problem>".
import StubPool
import StubPoolTestSupport

#if canImport(Glibc)
import Glibc
#endif

enum ResourceExhaustion {
    /// Bytes of address space the process has mapped (read before the limit is lowered).
    static func addressSpaceInUse() -> Int {
        ProcessMaps.read().reduce(0) { $0 + Int($1.range.upperBound - $1.range.lowerBound) }
    }

    static func describe(_ error: any Error, operation: PoolOperation) -> String? {
        guard case .system(let system, during: let during)? = error as? StubPoolError else { return "untyped error \(error)" }
        guard during == operation, system.operation == .mmap else { return "wrong error \(error)" }
        return nil
    }

    static func run() {
        let pool: StubPool
        do { pool = try StubPool(.init(kind: .forward, shards: 1)) } catch { print("EXHAUSTION setup failed: \(error)"); return }
        let target = FaultWalk.weighted3
        // Fill the first chunk; reserve on the heap everything needed later, before the limit.
        guard let capacity = try? TemplateInspection(architecture: .host, variant: .init(kind: .forward)).geometry.anchorSlot else { return }
        var stubs: [Stub] = []
        stubs.reserveCapacity(4 * capacity)
        guard let full = try? pool.allocate(count: capacity, target: target) else { print("EXHAUSTION setup failed"); return }
        stubs += full
        let chunkBytes = pool.statistics().codeBytesMapped + pool.statistics().dataBytesMapped
        // Room for exactly one more chunk, plus a little for the heap.
        var limit = rlimit(rlim_cur: rlim_t(addressSpaceInUse() + chunkBytes + (256 << 10)), rlim_max: rlim_t.max)
        setrlimit(Int32(RLIMIT_AS.rawValue), &limit)

        // A bulk request needing two more chunks maps the first, fails on the second, and must
        // leave nothing behind.
        var bulk = "no failure"
        do {
            let before = FaultWalk.Mappings.now(), statistics = pool.statistics()
            do {
                _ = try pool.allocate(count: capacity + capacity / 2, target: target)
            } catch {
                var problems = [describe(error, operation: .allocateBulk)].compactMap { $0 }
                if FaultWalk.Mappings.now() != before { problems.append("mappings \(before) → \(FaultWalk.Mappings.now())") }
                if pool.statistics() != statistics { problems.append("statistics changed") }
                bulk = problems.isEmpty ? "ok" : problems.joined(separator: "; ")
            }
        }
        // Single allocations fill one more chunk, then reserving the next fails.
        var single = "no failure"
        while stubs.count < stubs.capacity {
            let before = FaultWalk.Mappings.now(), statistics = pool.statistics()
            do {
                stubs.append(try pool.allocate(target: target))
            } catch {
                var problems = [describe(error, operation: .allocate)].compactMap { $0 }
                if FaultWalk.Mappings.now() != before { problems.append("mappings \(before) → \(FaultWalk.Mappings.now())") }
                if pool.statistics() != statistics { problems.append("statistics changed") }
                single = problems.isEmpty ? "ok" : problems.joined(separator: "; ")
                break
            }
        }
        let chunks = pool.statistics().chunks
        let releasedOne = (try? pool.release(stubs.removeLast())) != nil
        let works = releasedOne && pool.reclaim() == 1 && (try? pool.allocate(target: target)) != nil
        print("EXHAUSTION chunks=\(chunks) bulk=\(bulk) single=\(single) still-works=\(works)")
    }
}
