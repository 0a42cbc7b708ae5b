// Decodes bytes into a sequence of pool, lazy and arena operations, well-formed and not, and
// checks the invariants after every one. Any violation traps (libFuzzer records the input).
import CStubPoolShim
import CTestHelpers
import StubPool
import StubPoolTestSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

final class FuzzDriver {
    /// What a call through the fallback target returns (a lazy batch that failed).
    static let fallbackValue: UInt64 = 0xFA11_BAC4
    static var returnContext: UnsafeRawPointer {
        unsafeBitCast(ct_return_context_register as @convention(c) () -> UInt64, to: UnsafeRawPointer.self)
    }
    static let injectable: [stubpool_syscall_t] = [
        STUBPOOL_SYS_MMAP, STUBPOOL_SYS_MUNMAP, STUBPOOL_SYS_MPROTECT, STUBPOOL_SYS_MEMFD_CREATE,
        STUBPOOL_SYS_FTRUNCATE, STUBPOOL_SYS_FCNTL, STUBPOOL_SYS_MEMBARRIER,
    ]

    /// Whether the shim was built with fault injection (debug builds, or -DSTUBPOOL_FAULT_INJECTION).
    static let faultInjectionAvailable: Bool = {
        defer { stubpool_fault_disarm() }
        return stubpool_fault_arm(STUBPOOL_SYS_MMAP, 1_000_000, ENOMEM) == 0
    }()

    let pool: StubPool
    let arena = CodeArena()
    let lazy: LazyStubs<UInt64>
    /// Bodies the lazy generator committed to the arena (one per stub it was asked for).
    final class Counter: Sendable { let value = Atomic<Int>(0) }
    let generatedBodies = Counter()
    /// Stubs handed out and still live, with the value a call must return.
    var live: [(stub: Stub, value: UInt64)] = []
    /// Bulk allocations kept whole (every stub live, all returning one value), for the range API.
    var ranges: [(stubs: StubRange, value: UInt64)] = []
    var liveCount: Int { ranges.reduce(live.count) { $0 + $1.stubs.count } }
    /// Released and not yet reclaimed. (Handles of reclaimed stubs are stale: their slots may be
    /// handed out again, and using them is the caller's error, as documented.)
    var quarantined: [Stub] = []
    var releasedTotal = 0
    var reclaimed = 0
    var blobs: [(blob: CodeBlob, value: UInt64)] = []
    var freedAddresses: [UInt] = []
    var operations = 0
    var nextValue: UInt64 = 1

    init() throws {
        pool = try StubPool(.init(kind: .context, shards: 1, lazyBatches: true))
        let arena = self.arena, generated = generatedBodies
        let fallback = LazyResolution(target: Self.returnContext, context: UInt(Self.fallbackValue))
        lazy = try pool.lazyStubs(of: UInt64.self, batchLimit: 8, generator: { requests in
            let blobs = try arena.commit(requests.map { CodeEmitter.returnConstant($0.spec, architecture: .host) })
            generated.value.add(blobs.count, ordering: .relaxed)
            return blobs.map { LazyResolution(target: $0.entry, context: 0) }
        }, onFailure: { _ in fallback })
    }

    static func run(_ bytes: UnsafeRawBufferPointer) -> Int {
        if ImageFuzz.accepts(bytes) {
            ImageFuzz.run(bytes)
            return 1
        }
        do {
            let driver = try FuzzDriver()
            var input = FuzzInput(bytes)
            while !input.isAtEnd && driver.operations < 1_024 { driver.step(&input) }
            driver.finish()
            return driver.operations
        } catch {
            violation("setup failed: \(error)")
        }
    }

    static func violation(_ text: String) -> Never {
        fatalError("fuzz invariant violated: \(text)")
    }

    func fresh() -> UInt64 { defer { nextValue += 1 }; return nextValue }

    func index(_ input: inout FuzzInput, _ count: Int) -> Int? { count == 0 ? nil : input.below(count) }

    func expectTyped(_ body: () throws -> Void, _ what: String) {
        do {
            try body()
            Self.violation("\(what) succeeded")
        } catch is StubPoolError {
        } catch is CodeArenaError {
        } catch {
            Self.violation("\(what) threw an untyped error \(error)")
        }
    }

    func step(_ input: inout FuzzInput) {
        operations += 1
        // Optionally make one system call of the coming operation fail.
        let armed = input.byte() % 8 == 7
        if armed {
            let type = Self.injectable[input.below(Self.injectable.count)]
            _ = stubpool_fault_arm(type, UInt32(1 + input.below(4)), ENOMEM)
        }
        defer { stubpool_fault_disarm() }
        let before = pool.statistics()
        let arenaBefore = arena.statistics()
        switch input.below(17) {
        case 0:
            let value = fresh()
            do {
                live.append((try pool.allocate(target: Self.returnContext, context: UInt(value)), value))
            } catch {
                expectUnchanged(before, arenaBefore, after: "failed allocate (\(error))")
            }
        case 1:
            let count = input.below(70) - 3  // includes 0 and negative counts: invalid
            let value = fresh()
            do {
                let stubs = try pool.allocate(count: count, target: Self.returnContext, context: UInt(value))
                if stubs.count != count { Self.violation("bulk returned \(stubs.count) of \(count)") }
                if input.byte() % 2 == 0 { live += stubs.map { ($0, value) } } else { ranges.append((stubs, value)) }
            } catch {
                expectUnchanged(before, arenaBefore, after: "failed bulk of \(count) (\(error))")
            }
        case 2:
            guard let i = index(&input, live.count) else { break }
            let value = fresh()
            do {
                try pool.retarget(live[i].stub, to: Self.returnContext, context: UInt(value))
                live[i].value = value
            } catch {
                Self.violation("retarget of a live stub failed: \(error)")
            }
        case 3:
            guard let i = index(&input, live.count) else { break }
            do {
                try pool.release(live[i].stub)
                quarantined.append(live.remove(at: i).stub)
                releasedTotal += 1
            } catch {
                Self.violation("release of a live stub failed: \(error)")
            }
        case 4:
            let count = pool.reclaim()
            if count != quarantined.count { Self.violation("reclaim took \(count) of \(quarantined.count) quarantined stubs") }
            reclaimed += count
            quarantined.removeAll()
        case 5:
            lookUp(&input)
        case 6:
            let specs = (0..<(1 + input.below(6))).map { _ in fresh() }
            do {
                let stubs = try lazy.request(specs)
                live += zip(stubs, specs).map { ($0, $1) }
            } catch {
                expectUnchanged(before, arenaBefore, after: "failed lazy request (\(error))")
            }
        case 7:
            guard let i = index(&input, live.count) else { break }
            let result = ct_call0(live[i].stub.entry)
            // A lazy stub whose batch failed (an injected fault in the generator's commit) goes
            // to the fallback and stays pending.
            if result != live[i].value && !(armed && result == Self.fallbackValue) {
                Self.violation("\(live[i].stub) returned \(result), expected \(live[i].value)")
            }
        case 8:
            let values = (0..<(1 + input.below(3))).map { _ in fresh() }
            let padding = [0, 20, 300, 5_000][input.below(4)]
            let bodies = values.map { CodeEmitter.returnConstant($0, architecture: .host) + Architecture.host.trapBytes(padding) }
            do {
                let committed = try arena.commit(bodies)
                blobs += zip(committed, values).map { ($0, $1) }
            } catch {
                expectUnchanged(before, arenaBefore, after: "failed commit (\(error))")
            }
        case 9:
            guard let i = index(&input, blobs.count) else { break }
            let blob = blobs[i].blob
            let offset = input.below(blob.size + 8) - 4
            let value = fresh()
            let body = CodeEmitter.returnConstant(value, architecture: .host)
            if offset == 0 {
                do {
                    try arena.write(body, into: blob, at: 0)
                    blobs[i].value = value
                } catch {
                    if body.count <= blob.size { Self.violation("in-bounds write failed: \(error)") }
                }
            } else if offset < 0 || offset + body.count > blob.size {
                expectTyped({ try arena.write(body, into: blob, at: offset) }, "out-of-bounds write at \(offset)")
                expectUnchanged(before, arenaBefore, after: "rejected write")
            }
        case 10:
            guard let i = index(&input, blobs.count) else { break }
            do {
                try arena.free(blobs[i].blob)
                freedAddresses.append(blobs.remove(at: i).blob.address)
            } catch {
                Self.violation("free of a live blob failed: \(error)")
            }
        case 11:
            // Operations on stubs that are no longer live, and on blobs already freed.
            if let i = index(&input, quarantined.count) {
                let stub = quarantined[i]
                expectTyped({ try pool.release(stub) }, "second release")
                expectTyped({ try pool.retarget(stub, to: Self.returnContext, context: 1) }, "retarget after release")
            }
            if let i = index(&input, freedAddresses.count) {
                let address = freedAddresses[i]
                // The address may hold a new blob by now (the driver's or a lazy body).
                if arena.blob(at: address) == nil {
                    expectTyped({ try arena.free(address: address) }, "second free")
                }
            }
            expectUnchanged(before, arenaBefore, after: "rejected operations")
        case 12:
            let value = fresh()
            expectTyped({ _ = try pool.allocate(target: UnsafeRawPointer(bitPattern: 1)!, context: UInt(value)) },
                        "allocate with target 0x1")
            expectTyped({ _ = try arena.commit([[]]) }, "commit of an empty blob")
            expectUnchanged(before, arenaBefore, after: "rejected bad input")
        case 13:
            _ = try? lazy.materializeAll()
        case 14:
            rangeOperation(&input, before, arenaBefore)
        case 15:
            threadExit(&input)
        default:
            extremeIntegers(&input, before, arenaBefore)
        }
        stubpool_fault_disarm()
        checkAccounting()
        // Spot-check a few live stubs and blobs after every operation.
        for _ in 0..<2 {
            if let i = index(&input, live.count) { callChecked(live[i]) }
            if let i = index(&input, ranges.count) { callChecked((ranges[i].stubs[input.below(ranges[i].stubs.count)], ranges[i].value)) }
            if let i = index(&input, blobs.count), ct_call0(blobs[i].blob.entry) != blobs[i].value {
                Self.violation("\(blobs[i].blob) lost its body")
            }
        }
    }

    /// Retargets or releases a whole range, or releases one of its stubs first so that releasing
    /// the range must fail and change nothing (its other stubs then become single live stubs).
    func rangeOperation(_ input: inout FuzzInput, _ before: StubPoolStatistics, _ arenaBefore: CodeArenaStatistics) {
        guard let i = index(&input, ranges.count) else { return }
        let (stubs, _) = ranges[i]
        switch input.below(3) {
        case 0:
            let value = fresh()
            do {
                try pool.retarget(stubs, to: Self.returnContext, context: UInt(value))
                ranges[i].value = value
            } catch {
                Self.violation("retarget of a live range failed: \(error)")
            }
        case 1:
            do {
                try pool.release(stubs)
                quarantined += stubs
                releasedTotal += stubs.count
                ranges.remove(at: i)
            } catch {
                Self.violation("release of a live range failed: \(error)")
            }
        default:
            let victim = input.below(stubs.count)
            do { try pool.release(stubs[victim]) } catch { Self.violation("release of a range member failed: \(error)") }
            quarantined.append(stubs[victim])
            releasedTotal += 1
            let (value, afterSingle, arenaAfterSingle) = (ranges[i].value, pool.statistics(), arena.statistics())
            expectTyped({ try pool.release(stubs) }, "release of a range with a released member")
            expectTyped({ try pool.retarget(stubs, to: Self.returnContext, context: 1) }, "retarget of a range with a released member")
            expectUnchanged(afterSingle, arenaAfterSingle, after: "rejected range operations")
            for (position, stub) in stubs.enumerated() where position != victim {
                callChecked((stub, value))  // all-or-none: none was retargeted
                live.append((stub, value))
            }
            ranges.remove(at: i)
        }
    }

    /// A thread allocates through its own slot cache, releases some, and exits: its cached free
    /// slots go back to the shards and its queued releases to the quarantine.
    func threadExit(_ input: inout FuzzInput) {
        let count = 1 + input.below(40)
        let releasing = input.below(count + 1)
        let values = (0..<count).map { _ in fresh() }
        let pool = self.pool
        let cachedBefore = pool.statistics().cachedSlots
        let made = Mutex<Result<[Stub], StubPoolError>?>(nil)
        onExitingThread {
            do throws(StubPoolError) {
                var stubs: [Stub] = []
                for value in values { stubs.append(try pool.allocate(target: Self.returnContext, context: UInt(value))) }
                for stub in stubs.prefix(releasing) { try pool.release(stub) }
                made.withLock { $0 = .success(stubs) }
            } catch {
                made.withLock { $0 = .failure(error) }
            }
        }
        switch made.withLock({ $0 })! {
        case .success(let stubs):
            quarantined += stubs.prefix(releasing)
            releasedTotal += releasing
            live += zip(stubs, values).dropFirst(releasing).map { ($0, $1) }
        case .failure(let error):
            // Faults are injected on the fuzzing thread only: nothing may fail here.
            Self.violation("allocation on an exiting thread failed: \(error)")
        }
        let cachedAfter = pool.statistics().cachedSlots
        if cachedAfter != cachedBefore { Self.violation("\(cachedAfter) slots cached after a thread exited, \(cachedBefore) before it started") }
    }

    /// Integers at the edges on every entry point that takes one: typed errors, nothing changed.
    func extremeIntegers(_ input: inout FuzzInput, _ before: StubPoolStatistics, _ arenaBefore: CodeArenaStatistics) {
        let integers = [Int.min, Int.min + 1, -1, 0, Int(Int32.max) + 1, Int.max - 16, Int.max]
        let addresses: [UInt] = [0, 1, UInt.max, UInt.max - 15, 1 << 63, UInt(bitPattern: Int.max)]
        let integer = integers[input.below(integers.count)]
        let address = addresses[input.below(addresses.count)]
        if integer <= 0 || integer > StubPool.maximumBulkCount {
            expectTyped({ _ = try pool.allocate(count: integer, target: Self.returnContext) }, "bulk of \(integer)")
        }
        expectTyped({ _ = try pool.stub(entry: address) }, "stub(entry: 0x\(String(address, radix: 16)))")
        expectTyped({ try pool.release(address: address) }, "release(address: 0x\(String(address, radix: 16)))")
        expectTyped({ try arena.free(address: address) }, "arena free at 0x\(String(address, radix: 16))")
        if pool.stub(containing: address) != nil || arena.blob(at: address) != nil {
            Self.violation("0x\(String(address, radix: 16)) resolved to a stub or blob")
        }
        if let i = index(&input, blobs.count), integer != 0 {
            let blob = blobs[i].blob
            expectTyped({ try arena.write([0xC3], into: blob, at: integer) }, "write at \(integer)")
            expectTyped({ try arena.write([CodePatch(blob: blob, offset: integer, bytes: [0xC3])]) }, "patch at \(integer)")
        }
        if integer < 1 {
            expectTyped({ _ = try pool.lazyStubs(of: Int.self, batchLimit: integer, generator: { _ in [] }) }, "batch limit \(integer)")
        }
        expectTyped({ _ = try ChunkGeometry(pageSize: integer, slotSize: integer, codeSize: integer) }, "geometry of \(integer)")
        expectTyped({ _ = try StubPool(.init(codeSize: integer)) }, "pool with code size \(integer)")
        expectTyped({ _ = try StubPool(.init(shards: integer)) }, "pool with \(integer) shards")
        expectTyped({ _ = try StubPool(.init(payloadSize: integer == 0 ? 4 : integer)) }, "pool with payload \(integer == 0 ? 4 : integer)")
        do {
            _ = try CodeEmitter.bindConstants([1], afterArguments: integer, target: 0x1000, architecture: .host)
            if integer < 0 || integer >= CodeEmitter.argumentRegisterCount(.host) { Self.violation("bindConstants after \(integer) arguments succeeded") }
        } catch {}
        let inspection = try! TemplateInspection(architecture: .host, variant: .init(kind: .context))
        expectTyped({ _ = try inspection.slot(integer == 0 ? -1 : integer) }, "template slot \(integer)")
        expectUnchanged(before, arenaBefore, after: "extreme integers")
    }

    func lookUp(_ input: inout FuzzInput) {
        let address: UInt
        switch input.below(3) {
        case 0 where !live.isEmpty:
            let stub = live[input.below(live.count)].stub
            let offset = UInt(input.below(16))
            address = stub.address + offset
            guard let found = pool.stub(containing: address) else { Self.violation("\(stub) + \(offset) not found") }
            if found != stub { Self.violation("\(stub) + \(offset) resolves to \(found)") }
            return
        case 1 where !quarantined.isEmpty:
            address = quarantined[input.below(quarantined.count)].address
        default:
            address = UInt(input.word())
        }
        // Any other address: nothing, or a live stub whose slot really contains it.
        if let found = pool.stub(containing: address) {
            guard live.contains(where: { $0.stub == found }) else { Self.violation("lookup of 0x\(String(address, radix: 16)) found \(found), not live") }
            if address < found.address || address >= found.address + 64 { Self.violation("lookup of 0x\(String(address, radix: 16)) found distant \(found)") }
        }
        _ = arena.blob(at: address)
    }

    func callChecked(_ entry: (stub: Stub, value: UInt64)) {
        let result = ct_call0(entry.stub.entry)
        if result != entry.value { Self.violation("\(entry.stub) returned \(result), expected \(entry.value)") }
    }

    func expectUnchanged(_ before: StubPoolStatistics, _ arenaBefore: CodeArenaStatistics, after what: String) {
        let now = pool.statistics(), arenaNow = arena.statistics()
        if now.liveStubs != before.liveStubs || now.quarantinedStubs != before.quarantinedStubs || now.chunks != before.chunks {
            Self.violation("pool statistics changed after \(what)")
        }
        if arenaNow.liveBlobs != arenaBefore.liveBlobs || arenaNow.regions != arenaBefore.regions {
            Self.violation("arena statistics changed after \(what)")
        }
    }

    func checkAccounting() {
        let statistics = pool.statistics()
        if statistics.liveStubs != liveCount { Self.violation("pool counts \(statistics.liveStubs) live stubs, \(liveCount) handed out") }
        if statistics.quarantinedStubs != quarantined.count || quarantined.count + reclaimed != releasedTotal {
            Self.violation("\(statistics.quarantinedStubs) quarantined + \(reclaimed) reclaimed ≠ \(releasedTotal) released")
        }
        let bodies = generatedBodies.value.load(ordering: .relaxed)
        if arena.statistics().liveBlobs != blobs.count + bodies {
            Self.violation("arena holds \(arena.statistics().liveBlobs) blobs, expected \(blobs.count) + \(bodies) lazy bodies")
        }
    }

    /// Every live stub and blob, at the end of the input.
    func finish() {
        for entry in live { callChecked(entry) }
        for (stubs, value) in ranges { for stub in stubs { callChecked((stub, value)) } }
        for (blob, value) in blobs where ct_call0(blob.entry) != value { Self.violation("\(blob) lost its body") }
        if lazy.statistics().pending != 0 { Self.violation("lazy stubs still pending after every live stub was called") }
        checkAccounting()
    }
}
