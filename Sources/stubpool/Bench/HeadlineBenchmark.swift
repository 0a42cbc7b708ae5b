import Foundation
import TextTable
import CBenchFloor
import Dispatch
import StubPool
import StubPoolPeers

/// The headline comparison: StubPool against libffi closures and one page per stub.
struct HeadlineBenchmark {
    let memoryStubs: Int
    /// Stubs per single-allocation and release round; pages per page-per-stub round; stubs per bulk allocation.
    private let singles = 100_000, pages = 5_000, bulk = 1_000_000

    struct Results {
        var metrics: [(name: String, values: [(subject: String, value: Double)])] = []

        mutating func record(_ name: String, _ subject: String, _ value: Double) {
            if let index = metrics.firstIndex(where: { $0.name == name }) {
                metrics[index].values.append((subject, value))
            } else {
                metrics.append((name, [(subject, value)]))
            }
        }

        func value(_ name: String, _ subject: String) -> Double? {
            metrics.first { $0.name == name }?.values.first { $0.subject == subject }?.value
        }

        static let subjects = ["stubpool", "stubpool_context", "stubpool_bind", "floor", "libffi", "page_per_stub", "direct"]

        /// StubPool's value over the floor's (for the two-thread row: the share of the machine's
        /// two-thread ceiling StubPool reaches), for the rows that have a floor.
        func floorRatio(_ name: String) -> Double? {
            guard let mine = value(name, "stubpool"), let floor = value(name, "floor"), floor > 0 else { return nil }
            return mine / floor
        }

        /// The results as JSON: `{"metrics": {metric: {subject: value}}, "floorRatios": {metric:
        /// stubpool ÷ floor}}`, values rounded to three decimals, keys sorted (`JSONEncoder`).
        func json() throws -> String {
            struct Document: Encodable { var metrics: [String: [String: Double]]; var floorRatios: [String: Double] }
            var document = Document(metrics: [:], floorRatios: [:])
            let rounded = { (value: Double) in (value * 1_000).rounded() / 1_000 }
            for metric in metrics {
                document.metrics[metric.name] = Dictionary(metric.values.map { ($0.subject, rounded($0.value)) },
                                                           uniquingKeysWith: { first, _ in first })
                if let ratio = floorRatio(metric.name) { document.floorRatios[metric.name] = rounded(ratio) }
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            return String(decoding: try encoder.encode(document), as: UTF8.self)
        }

        /// The results as a table (TextTable): a row per metric, a column per subject measured,
        /// then StubPool's distance to the floor and the libffi and page-per-stub ratios to StubPool.
        func table() -> String {
            let columns = Self.subjects.filter { subject in metrics.contains { $0.values.contains { $0.subject == subject } } }
            let cell = { (value: Double?) in value.map { format($0, decimals: $0 < 100 ? 2 : 0) } ?? "–" }
            let table = TextTable<(name: String, values: [(subject: String, value: Double)])> { metric in
                let mine = metric.values.first { $0.subject == "stubpool" }?.value
                let ratio = { (peer: String) -> String in
                    guard let mine, mine > 0, let theirs = metric.values.first(where: { $0.subject == peer })?.value else { return "–" }
                    return format(theirs / mine, decimals: 1) + "×"
                }
                return [Column(title: "metric", value: metric.name)]
                    + columns.map { column in
                        Column(title: column, value: cell(metric.values.first { $0.subject == column }?.value), align: .right)
                    }
                    + [Column(title: "stubpool ÷ floor", value: floorRatio(metric.name).map { format($0, decimals: 2) + "×" } ?? "–",
                              align: .right),
                       Column(title: "libffi ÷ stubpool", value: ratio("libffi"), align: .right),
                       Column(title: "page ÷ stubpool", value: ratio("page_per_stub"), align: .right)]
            }
            return table.string(for: metrics) ?? ""
        }
    }

    func run() throws -> Results {
        var results = Results()
        let target = benchmarkTargetAddress
        try measureAllocation(&results)
        try measureBulkAllocation(&results)
        try measureRelease(&results)
        try measureRetarget(&results)
        try measureLazyRequests(&results)
        try measureLazyBatch(&results)
        try measureCalls(&results)
        try measureMemory(&results)
        try measureArena(&results)

        progress("images and templates…")
        try ImageBenchmark.run(into: &results)

        progress("libffi closure life cycle (fresh processes)…")
        try ClosureLifeCycle.run(into: &results)

        progress("preloading the drop-in into processes that make no closure, and one that makes one…")
        PreloadCost.run(into: &results)

        progress("two threads…")
        results.record("alloc_two_thread_speedup", "stubpool", try twoThreadSpeedup(target: target))
        results.record("alloc_two_thread_speedup", "floor", floorTwoThreadSpeedup(target: target))

        progress("bulk allocation while profiling…")
        results.record("alloc_bulk_profiled_ns_per_stub", "stubpool", try profiledBulk(count: bulk, target: target))
        results.record("alloc_bulk_unwind_ns_per_stub", "stubpool", try profiledBulk(count: bulk, target: target, outputs: .unwind))
        results.record("alloc_bulk_gdb_ns_per_stub", "stubpool", try profiledBulk(count: bulk, target: target, outputs: .gdb))
        return results
    }

    /// Allocating one stub (libffi: one closure allocated and prepared) into warm memory, against the floor and a page per stub.
    private func measureAllocation(_ results: inout Results) throws {
        progress("allocate one stub…")
        let libffi = LibffiPeer()
        let target = benchmarkTargetAddress
        // Allocation alone, timed, into warm memory for both: each round keeps every result in an
        // array, then releases (and for StubPool reclaims) them untimed. A libffi closure is
        // usable once prepared, so its allocation is ffi_closure_alloc + ffi_prep_closure_loc.
        do {
            let pool = try StubPool()
            var stubs: [Stub] = []
            stubs.reserveCapacity(singles)
            results.record("alloc_single_ns", "stubpool", try nanosecondsPerOperation(operations: singles, untimed: {
                for stub in stubs { try pool.release(stub) }
                pool.reclaim()
                stubs.removeAll(keepingCapacity: true)
            }) {
                for _ in 0..<singles { stubs.append(try pool.allocate(target: target)) }
            })
            var closures: [UnsafeMutableRawPointer] = []
            closures.reserveCapacity(singles)
            results.record("alloc_single_ns", "libffi", nanosecondsPerOperation(operations: singles, untimed: {
                closures.forEach(libffi.free)
                closures.removeAll(keepingCapacity: true)
            }) {
                for _ in 0..<singles { closures.append(libffi.make().0) }
            })
            closures.forEach(libffi.free)
        }
        do {
            let floor = floor_pool_create(singles)!
            defer { floor_pool_destroy(floor) }
            results.record("alloc_single_ns", "floor", nanosecondsPerOperation(operations: singles, untimed: {
                floor_release(floor, singles)
            }) {
                floor_allocate(floor, singles, UInt(bitPattern: target), 0)
            })
        }
        results.record("alloc_single_ns", "page_per_stub", nanosecondsPerOperation(operations: pages, repeats: 3) {
            let made = (0..<pages).map { _ in PagePerStubPeer.make(target: target) }
            made.forEach(PagePerStubPeer.free)
        })
    }

    /// A million stubs in one call into a fresh pool, against the floor.
    private func measureBulkAllocation(_ results: inout Results) throws {
        progress("bulk allocation…")
        let target = benchmarkTargetAddress
        // Pool creation, chunk mapping, page faults and the returned range are timed; tearing the
        // pool down afterwards (unmapping 16 MB) is not.
        var bulkPools: [(pool: StubPool, stubs: StubRange)] = []
        results.record("alloc_bulk_ns_per_stub", "stubpool", try nanosecondsPerOperation(
            operations: bulk, repeats: 3, untimed: { bulkPools.removeAll() }
        ) {
            let pool = try StubPool()
            bulkPools.append((pool, try pool.allocate(count: bulk, target: target)))
        })
        var bulkFloor: UnsafeMutableRawPointer?
        results.record("alloc_bulk_ns_per_stub", "floor", nanosecondsPerOperation(
            operations: bulk, repeats: 3, untimed: { floor_bulk_free(bulkFloor, bulk) }
        ) {
            bulkFloor = floor_bulk(bulk, UInt(bitPattern: target))
        })
    }

    /// Releasing one stub of 100,000, against the floor, libffi and a page per stub.
    private func measureRelease(_ results: inout Results) throws {
        progress("release…")
        let libffi = LibffiPeer()
        let target = benchmarkTargetAddress
        do {
            var samples: [Double] = []
            for _ in 0..<5 {
                let pool = try StubPool(.init(shards: 1))
                let stubs = try pool.allocate(count: singles, target: target)
                let start = ContinuousClock.now
                for stub in stubs { try pool.release(stub) }
                samples.append(nanoseconds(ContinuousClock.now - start) / Double(singles))
            }
            results.record("release_ns", "stubpool", median(samples))
            let floor = floor_pool_create(singles)!
            defer { floor_pool_destroy(floor) }
            floor_allocate(floor, singles, UInt(bitPattern: target), 0)
            results.record("release_ns", "floor", nanosecondsPerOperation(operations: singles, untimed: {
                floor_allocate(floor, singles, UInt(bitPattern: target), 0)
            }) {
                floor_release(floor, singles)
            })
            let closures = (0..<singles).map { _ in libffi.make().0 }
            let start = ContinuousClock.now
            closures.forEach(libffi.free)
            results.record("release_ns", "libffi", nanoseconds(ContinuousClock.now - start) / Double(singles))
            let made = (0..<pages).map { _ in PagePerStubPeer.make(target: target) }
            let pageStart = ContinuousClock.now
            made.forEach(PagePerStubPeer.free)
            results.record("release_ns", "page_per_stub", nanoseconds(ContinuousClock.now - pageStart) / Double(pages))
        }
    }

    /// Retargeting a live context stub, against the floor and a page per stub.
    private func measureRetarget(_ results: inout Results) throws {
        progress("retarget…")
        let target = benchmarkTargetAddress
        do {
            let pool = try StubPool(.init(kind: .context))
            let stubs = try pool.allocate(count: 1024, target: target)
            let rounds = 10_000
            results.record("retarget_ns", "stubpool", try nanosecondsPerOperation(operations: rounds * stubs.count) {
                for round in 0..<rounds { for stub in stubs { try pool.retarget(stub, to: target, context: UInt(round)) } }
            })
            let floor = floor_pool_create(stubs.count)!
            defer { floor_pool_destroy(floor) }
            floor_allocate(floor, stubs.count, UInt(bitPattern: target), 0)
            results.record("retarget_ns", "floor", nanosecondsPerOperation(operations: rounds * stubs.count) {
                floor_retarget(floor, stubs.count, rounds, UInt(bitPattern: target))
            })
            let pages = (0..<64).map { _ in PagePerStubPeer.make(target: target) }
            results.record("retarget_ns", "page_per_stub", nanosecondsPerOperation(operations: 100 * pages.count) {
                for _ in 0..<100 { for page in pages { PagePerStubPeer.retarget(page, to: target) } }
            })
            pages.forEach(PagePerStubPeer.free)
        }
    }

    /// Requesting 10,000 lazy stubs against allocating 10,000 in bulk.
    private func measureLazyRequests(_ results: inout Results) throws {
        progress("lazy requests…")
        let target = benchmarkTargetAddress
        do {
            // Requesting 10,000 lazy stubs against allocating 10,000 in bulk, per stub.
            let count = 10_000
            let address = UInt(bitPattern: target)
            let specs = (0..<count).map { UInt($0) }
            results.record("bulk_10k_ns_per_stub", "stubpool", try nanosecondsPerOperation(operations: count) {
                let pool = try StubPool(.init(kind: .context, lazyBatches: true))
                blackHole(try pool.allocate(count: count, target: target))
            })
            results.record("lazy_request_10k_ns_per_stub", "stubpool", try nanosecondsPerOperation(operations: count) {
                let pool = try StubPool(.init(kind: .context, lazyBatches: true))
                let lazy = try pool.lazyStubs(of: UInt.self) { requests in
                    requests.map { LazyResolution(targetAddress: address, context: $0.spec) }
                }
                blackHole(try lazy.request(specs))
            })
        }
    }

    /// The first call of one of 10,000 pending lazy stubs, per stub.
    private func measureLazyBatch(_ results: inout Results) throws {
        progress("lazy batch…")
        let target = benchmarkTargetAddress
        do {
            // The first call of any of 10,000 pending lazy stubs runs one batch that materializes
            // all of them (generator included), then continues the call: per stub.
            let pending = 10_000
            var samples: [Double] = []
            for _ in 0..<5 {
                let pool = try StubPool(.init(kind: .context, lazyBatches: true))
                let address = UInt(bitPattern: target)
                let lazy = try pool.lazyStubs(of: UInt.self) { requests in
                    requests.map { LazyResolution(targetAddress: address, context: $0.spec) }
                }
                let stubs = try lazy.request((0..<pending).map { UInt($0) })
                let start = ContinuousClock.now
                blackHole(callLoop(stubs[pending / 2].entry, count: 1))
                samples.append(nanoseconds(ContinuousClock.now - start) / Double(pending))
            }
            results.record("lazy_first_call_ns_per_stub", "stubpool", median(samples))
        }
    }

    /// A hot call through each kind of stub, a libffi closure, a page per stub and directly.
    private func measureCalls(_ results: inout Results) throws {
        progress("hot calls…")
        let libffi = LibffiPeer()
        let target = benchmarkTargetAddress
        let calls = 20_000_000
        results.record("call_ns", "direct", nanosecondsPerOperation(operations: calls) { blackHole(callLoop(target, count: calls)) })
        for (kind, subject) in [(StubKind.forward, "stubpool"), (.context, "stubpool_context")] {
            let pool = try StubPool(.init(kind: kind))
            let stub = try pool.allocate(target: target, context: 1)
            results.record("call_ns", subject, nanosecondsPerOperation(operations: calls) { blackHole(callLoop(stub.entry, count: calls)) })
        }
        do {
            // bindFirstArgument: the target sees (context, a, b) of the caller's (a, b, c).
            let pool = try StubPool(.init(kind: .bindFirstArgument))
            let stub = try pool.allocate(target: target, context: 1)
            results.record("call_ns", "stubpool_bind", nanosecondsPerOperation(operations: calls) { blackHole(callLoop(stub.entry, count: calls)) })
            let (closure, code) = libffi.make()
            results.record("call_ns", "libffi", nanosecondsPerOperation(operations: calls / 4) { blackHole(callLoop(code, count: calls / 4)) })
            libffi.free(closure)
            let page = PagePerStubPeer.make(target: target)
            results.record("call_ns", "page_per_stub", nanosecondsPerOperation(operations: calls) { blackHole(callLoop(page, count: calls)) })
            PagePerStubPeer.free(page)
        }
    }

    /// Resident bytes and mappings per stub at `memoryStubs` stubs, and what release, reclaim and trim give back.
    private func measureMemory(_ results: inout Results) throws {
        progress("memory at \(memoryStubs) stubs…")
        let libffi = LibffiPeer()
        let target = benchmarkTargetAddress
        do {
            let mappingsBefore = processMappingCount()
            let residentBefore = processResidentBytes()
            let pool = try StubPool(.init(shards: 1))
            let stubs = try pool.allocate(count: memoryStubs, target: target)
            let statistics = pool.statistics()
            let residentDelta = processResidentBytes() - residentBefore
            let handles = stubs.runs.count * MemoryLayout<StubRange.Run>.stride
            // The pool's own resident bytes; the returned range belongs to the caller.
            results.record("resident_bytes_per_stub", "stubpool", Double(statistics.residentBytes) / Double(memoryStubs))
            progress("  stubpool: pool statistics \(statistics.residentBytes) B; process RSS grew \(residentDelta) B, of which \(handles) B are the returned range (\(stubs.runs.count) runs)")
            results.record("mappings_per_million", "stubpool",
                           Double(processMappingCount() - mappingsBefore) * 1_000_000 / Double(memoryStubs))
            // Memory given back: release all, reclaim, trim; what stays resident beyond before.
            try pool.release(stubs)
            pool.reclaim()
            pool.trim()
            let after = processResidentBytes() - residentBefore
            results.record("rss_after_release_reclaim_mb", "stubpool", Double(after) / 1_048_576)
            progress("  stubpool: after release+reclaim+trim the process holds \(after) B more than before; \(pool.statistics().returnedChunks) chunks returned")
        }
        do {
            let mappingsBefore = processMappingCount()
            let residentBefore = processResidentBytes()
            let closures = (0..<memoryStubs).map { _ in libffi.make().0 }
            let array = closures.count * MemoryLayout<UnsafeMutableRawPointer>.stride
            results.record("resident_bytes_per_stub", "libffi", Double(processResidentBytes() - residentBefore - array) / Double(memoryStubs))
            results.record("mappings_per_million", "libffi", Double(processMappingCount() - mappingsBefore) * 1_000_000 / Double(memoryStubs))
            closures.forEach(libffi.free)
        }
        do {
            // One page per stub cannot reach a million under vm.max_map_count (65530): measured at
            // 20,000 stubs and extrapolated linearly.
            let count = 20_000
            let mappingsBefore = processMappingCount()
            let residentBefore = processResidentBytes()
            let made = (0..<count).map { _ in PagePerStubPeer.make(target: target) }
            results.record("resident_bytes_per_stub", "page_per_stub", Double(processResidentBytes() - residentBefore) / Double(count))
            results.record("mappings_per_million", "page_per_stub", Double(processMappingCount() - mappingsBefore) * 1_000_000 / Double(count))
            made.forEach(PagePerStubPeer.free)
        }
    }

    /// Arena commits and frees of 10,000 small bodies: warm, framed, in one batch, and into a fresh arena.
    private func measureArena(_ results: inout Results) throws {
        progress("arena commits…")
        do {
            // A batch of 10,000 16-byte bodies committed in one call (copy, trap fill, bookkeeping,
            // the one cache maintenance pass and membarrier), into a warm arena: the batch is
            // freed untimed after each run. And the same batch into a fresh arena (memory file,
            // first piece, page faults included).
            let count = 10_000
            let bodies = (0..<count).map { index -> [UInt8] in
                let body = CodeEmitter.returnConstant(UInt64(index), architecture: .host)
                return body + [UInt8](repeating: 0x90, count: max(0, 16 - body.count))
            }
            let arena = CodeArena()
            // Then the batch's frees, timed; and both again with a frame per body: one unwind
            // registration per commit, an FDE per blob taken out at its free.
            let framed = bodies.map { CodeBody(bytes: $0, frame: .frameless) }
            for (suffix, commit) in [("", { try arena.commit(bodies) }), ("framed_", { try arena.commit(framed) })] as [(String, () throws -> [CodeBlob])] {
                let (committing, freeing) = try commitThenFree(count: count, in: arena, commit)
                results.record("arena_commit_\(suffix)10k_ns_per_blob", "stubpool", committing)
                results.record("arena_free_\(suffix)10k_ns_per_blob", "stubpool", freeing)
            }
            // The same 10,000 freed in one call.
            var batch = try arena.commit(bodies)
            results.record("arena_batch_free_10k_ns_per_blob", "stubpool", try nanosecondsPerOperation(operations: count, untimed: {
                batch = try arena.commit(bodies)
            }) {
                try arena.free(batch)
            })
            try arena.free(batch)
            // Kept until the untimed step so that tearing the arena down is not timed.
            var fresh: [CodeArena] = []
            results.record("arena_commit_fresh_10k_ns_per_blob", "stubpool", try nanosecondsPerOperation(
                operations: count, untimed: { fresh.removeAll() }
            ) {
                let arena = CodeArena()
                _ = try arena.commit(bodies)
                fresh.append(arena)
            })
        }
    }

    /// Nanoseconds per blob of `commit` (a batch of `count` blobs into `arena`, freed untimed after
    /// each run), then of freeing such a batch one blob at a time (committed untimed before each).
    func commitThenFree(count: Int, in arena: CodeArena, _ commit: () throws -> [CodeBlob]) throws -> (commit: Double, free: Double) {
        var committed: [CodeBlob] = []
        let committing = try nanosecondsPerOperation(operations: count, untimed: {
            for blob in committed { try arena.free(blob) }
        }) {
            committed = try commit()
        }
        // Each timed run (the first one a warm-up) frees what the step before it committed.
        committed = try commit()
        let freeing = try nanosecondsPerOperation(operations: count, untimed: { committed = try commit() }) {
            for blob in committed { try arena.free(blob) }
        }
        for blob in committed { try arena.free(blob) }
        return (committing, freeing)
    }

    /// Bulk allocation of `count` stubs into a fresh pool (as `alloc_bulk_ns_per_stub`) with
    /// profiling on: by default every stub gets a jitdump code-load record under its default name
    /// (written to a temporary directory, removed afterwards); with `.unwind`, every chunk is
    /// registered with the unwinder; with `.gdb`, every chunk's stubs are named in a symbol file
    /// for gdb. Last, so that no other figure is recorded.
    func profiledBulk(count: Int, target: UnsafeRawPointer, outputs: ProfilingOutputs = .jitdump) throws -> Double {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stubpool-bench-jit-\(getpid())")
        try Profiling.start(outputs, directory: directory.path)
        defer {
            try? Profiling.stop()
            try? FileManager.default.removeItem(at: directory)
        }
        var pools: [(pool: StubPool, stubs: StubRange)] = []
        return try nanosecondsPerOperation(operations: count, repeats: 3, untimed: {
            pools.removeAll()
            try Profiling.flush()
        }) {
            let pool = try StubPool()
            pools.append((pool, try pool.allocate(count: count, target: target)))
        }
    }

    /// Throughput of allocate+release on two threads over one thread. The one- and two-thread
    /// samples alternate (each on its own warmed pool) and the median of the per-round ratios is
    /// reported, so drift on this shared machine (single-thread samples of one process varied
    /// 26–49 ns/op between runs) moves both sides of a ratio alike.
    func twoThreadSpeedup(target: UnsafeRawPointer) throws -> Double {
        let address = UInt(bitPattern: target)
        let pools = [try StubPool(), try StubPool()]
        return speedup(work: { threads, _ in
            let pool = pools[threads - 1]
            let target = UnsafeRawPointer(bitPattern: address)!
            var batch: [Stub] = []
            batch.reserveCapacity(1_000)
            for _ in 0..<(Self.twoThreadRounds) {
                for _ in 0..<1_000 { batch.append(try! pool.allocate(target: target)) }
                for stub in batch { try! pool.release(stub) }
                batch.removeAll(keepingCapacity: true)
            }
        }, after: { threads in pools[threads - 1].reclaim() })
    }

    /// The machine's two-thread ceiling: the floor's allocate+release, each thread on a floor
    /// pool of its own (nothing shared), sampled as ``twoThreadSpeedup(target:)``.
    func floorTwoThreadSpeedup(target: UnsafeRawPointer) -> Double {
        let address = UInt(bitPattern: target)
        // [threads - 1][thread], as bit patterns: each pool is touched by one thread at a time.
        let pools = (1...2).map { threads in (0..<threads).map { _ in UInt(bitPattern: floor_pool_create(1_000)) } }
        defer { for pool in pools.joined() { floor_pool_destroy(OpaquePointer(bitPattern: pool)) } }
        return speedup(work: { threads, thread in
            let pool = OpaquePointer(bitPattern: pools[threads - 1][thread])
            for _ in 0..<(Self.twoThreadRounds) {
                floor_allocate(pool, 1_000, address, 0)
                floor_release(pool, 1_000)
            }
        })
    }

    /// Rounds of 1,000 allocations and 1,000 releases per thread in a two-thread sample.
    static let twoThreadRounds = 200

    /// Two-thread over one-thread throughput of `work(threads, thread)`, which does one thread's
    /// share of a sample (`after(threads)` runs once the sample is timed): one warm-up of each,
    /// then the median ratio of 9 alternating rounds.
    func speedup(work: @escaping @Sendable (Int, Int) -> Void, after: (Int) -> Void = { _ in }) -> Double {
        func sample(threads: Int) -> Double {
            let start = ContinuousClock.now
            DispatchQueue.concurrentPerform(iterations: threads) { thread in work(threads, thread) }
            let throughput = Double(threads * Self.twoThreadRounds * 1_000) / nanoseconds(ContinuousClock.now - start)
            after(threads)
            return throughput
        }
        _ = (sample(threads: 1), sample(threads: 2))  // warm both sides' memory and caches
        var ratios: [Double] = []
        for _ in 0..<9 {
            let one = sample(threads: 1)
            ratios.append(sample(threads: 2) / one)
        }
        return median(ratios)
    }
}

func nanoseconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) * 1e9 + Double(attoseconds) / 1e9
}

func format(_ value: Double, decimals: Int) -> String {
    var text = String(Int((value * pow10(decimals)).rounded()))
    guard decimals > 0 else { return text }
    let negative = text.hasPrefix("-")
    if negative { text.removeFirst() }
    while text.count <= decimals { text = "0" + text }
    text.insert(".", at: text.index(text.endIndex, offsetBy: -decimals))
    return negative ? "-" + text : text
}

private func pow10(_ exponent: Int) -> Double { (0..<exponent).reduce(1.0) { value, _ in value * 10 } }
