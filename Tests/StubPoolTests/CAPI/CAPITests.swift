import CStubPoolAPI
import CTestHelpers
import Dispatch
import XCTest

/// The C API called in process (so the sanitizer runs cover it): every family, bad input as
/// status plus message with nothing changed, lazy failures, threads.
final class CAPITests: XCTestCase {
    /// Returns the context register: a call through a context stub returns the stub's context.
    private let target = CTargets.returnContextRegister

    private func makePool(_ configure: (inout stubpool_config_t) -> Void = { _ in }) throws -> OpaquePointer {
        var config = stubpool_config_t()
        stubpool_config_init(&config)
        configure(&config)
        var pool: OpaquePointer?
        let status = stubpool_pool_create(&config, &pool)
        XCTAssertEqual(status, STUBPOOL_OK, String(cString: stubpool_last_error()))
        return try XCTUnwrap(pool)
    }

    private func expect(_ status: stubpool_status_t, _ expected: stubpool_status_t, mentioning text: String,
                        file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(String(cString: stubpool_status_name(status)), String(cString: stubpool_status_name(expected)), file: file, line: line)
        XCTAssertEqual(stubpool_last_error_code(), expected, file: file, line: line)
        XCTAssertTrue(String(cString: stubpool_last_error()).contains(text),
                      "\"\(String(cString: stubpool_last_error()))\" does not mention \(text)", file: file, line: line)
    }

    func testContextStubsCallRetargetAndLookUp() throws {
        let pool = try makePool { $0.kind = STUBPOOL_KIND_CONTEXT }
        defer { stubpool_pool_destroy(pool) }
        var stub: UnsafeMutableRawPointer?
        XCTAssertEqual(stubpool_pool_allocate(pool, target, 40, &stub), STUBPOOL_OK)
        let entry = try XCTUnwrap(stub)
        XCTAssertEqual(ct_call0(entry), 40)
        XCTAssertEqual(stubpool_pool_set_context(pool, entry, 100), STUBPOOL_OK)
        XCTAssertEqual(ct_call0(entry), 100)
        var current: UnsafeRawPointer?
        var context: UInt = 0
        XCTAssertEqual(stubpool_pool_get_target(pool, entry, &current, &context), STUBPOOL_OK)
        XCTAssertEqual(current, target)
        XCTAssertEqual(context, 100)
        var found: UnsafeMutableRawPointer?
        var id: UInt64 = .max
        XCTAssertEqual(stubpool_pool_lookup(pool, entry + 5, &found, &id), STUBPOOL_OK)
        XCTAssertEqual(found, entry)
        XCTAssertNotEqual(id, .max)
        var stats = sizedStats(stubpool_pool_stats_t.self)
        XCTAssertEqual(stubpool_pool_statistics(pool, &stats), STUBPOOL_OK)
        XCTAssertEqual(stats.live_stubs, 1)
        XCTAssertEqual(stats.mappings, stats.chunks * 2)
    }

    func testClosuresInABatchAreEachTheirOwnPayloadsStubs() throws {
        let pool = try makePool { $0.kind = STUBPOOL_KIND_CONTEXT; $0.payload_size = 56 }
        defer { stubpool_pool_destroy(pool) }
        let target = CTargets.returnContextRegister
        let count = 300
        var stubs = [UnsafeMutableRawPointer?](repeating: nil, count: count), payloads = stubs
        XCTAssertEqual(stubpool_pool_allocate_closures(pool, count, target, &stubs, &payloads), STUBPOOL_OK)
        XCTAssertEqual(Set(stubs).count, count)
        for (stub, payload) in zip(stubs, payloads) {
            XCTAssertEqual(ct_call0(try XCTUnwrap(stub)), UInt64(UInt(bitPattern: payload)), "a closure's context is its payload")
            var owner: UnsafeMutableRawPointer?
            XCTAssertEqual(stubpool_pool_payload_owner(pool, payload, &owner), STUBPOOL_OK)
            XCTAssertEqual(owner, stub)
        }
        XCTAssertEqual(stubpool_pool_payload_release(pool, payloads[17]), STUBPOOL_OK)
        var stats = sizedStats(stubpool_pool_stats_t.self)
        XCTAssertEqual(stubpool_pool_statistics(pool, &stats), STUBPOOL_OK)
        XCTAssertEqual(Int(stats.live_stubs), count - 1)
        // Refused batches allocate nothing and write nothing.
        let sentinel = UnsafeMutableRawPointer(bitPattern: 0x5EED)!
        var few = [UnsafeMutableRawPointer?](repeating: sentinel, count: 2), fewPayloads = few
        expect(stubpool_pool_allocate_closures(pool, 0, target, &few, &fewPayloads), STUBPOOL_E_INVALID_COUNT, mentioning: "invalid count 0")
        expect(stubpool_pool_allocate_closures(pool, 2, nil, &few, &fewPayloads), STUBPOOL_E_INVALID_TARGET, mentioning: "target")
        expect(stubpool_pool_allocate_closures(pool, 2, target, nil, &fewPayloads), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "out_stubs")
        expect(stubpool_pool_allocate_closures(pool, 2, target, &few, nil), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "out_payloads")
        let plain = try makePool { $0.kind = STUBPOOL_KIND_CONTEXT }
        defer { stubpool_pool_destroy(plain) }
        expect(stubpool_pool_allocate_closures(plain, 2, target, &few, &fewPayloads), STUBPOOL_E_INVALID_CONFIGURATION, mentioning: "payload")
        XCTAssertTrue((few + fewPayloads).allSatisfy { $0 == sentinel })
        XCTAssertEqual(stubpool_pool_statistics(pool, &stats), STUBPOOL_OK)
        XCTAssertEqual(Int(stats.live_stubs), count - 1)
        XCTAssertEqual(stubpool_pool_statistics(plain, &stats), STUBPOOL_OK)
        XCTAssertEqual(stats.live_stubs, 0)
    }

    func testPayloadsReleasedInABatchEachGetTheirStatus() throws {
        let pool = try makePool { $0.kind = STUBPOOL_KIND_CONTEXT; $0.payload_size = 56 }
        defer { stubpool_pool_destroy(pool) }
        let target = CTargets.returnContextRegister
        var stubs = [UnsafeMutableRawPointer?](repeating: nil, count: 3), payloads = stubs
        XCTAssertEqual(stubpool_pool_allocate_closures(pool, 3, target, &stubs, &payloads), STUBPOOL_OK)
        let batch: [UnsafeRawPointer?] = [UnsafeRawPointer(payloads[0]), UnsafeRawPointer(bitPattern: 64), UnsafeRawPointer(payloads[1]),
                                          UnsafeRawPointer(payloads[0])]
        var statuses = [stubpool_status_t](repeating: STUBPOOL_E_INVALID_ARGUMENT, count: batch.count)
        XCTAssertEqual(stubpool_pool_payload_release_each(pool, batch.count, batch, &statuses), STUBPOOL_OK)
        XCTAssertEqual(statuses, [STUBPOOL_OK, STUBPOOL_E_FOREIGN_STUB, STUBPOOL_OK, STUBPOOL_E_RELEASED])
        var stats = sizedStats(stubpool_pool_stats_t.self)
        XCTAssertEqual(stubpool_pool_statistics(pool, &stats), STUBPOOL_OK)
        XCTAssertEqual(stats.live_stubs, 1)
        XCTAssertEqual(stubpool_pool_reclaim(pool), 2)
        // Refused calls write no status and release nothing.
        var untouched = [stubpool_status_t](repeating: STUBPOOL_E_INVALID_ARGUMENT, count: 1)
        let last: [UnsafeRawPointer?] = [UnsafeRawPointer(payloads[2])]
        expect(stubpool_pool_payload_release_each(pool, 0, last, &untouched), STUBPOOL_E_INVALID_COUNT, mentioning: "invalid count 0")
        expect(stubpool_pool_payload_release_each(pool, 1, nil, &untouched), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "payloads")
        expect(stubpool_pool_payload_release_each(pool, 1, last, nil), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "out_statuses")
        expect(stubpool_pool_payload_release_each(nil, 1, last, &untouched), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "pool")
        XCTAssertEqual(untouched, [STUBPOOL_E_INVALID_ARGUMENT])
        XCTAssertEqual(stubpool_pool_statistics(pool, &stats), STUBPOOL_OK)
        XCTAssertEqual(stats.live_stubs, 1)
    }

    func testPayloadsAreWritableBytesBesideEachStub() throws {
        let pool = try makePool { $0.kind = STUBPOOL_KIND_CONTEXT; $0.payload_size = 48 }
        defer { stubpool_pool_destroy(pool) }
        var stub: UnsafeMutableRawPointer?, payload: UnsafeMutableRawPointer?
        XCTAssertEqual(stubpool_pool_allocate_with_payload(pool, target, 9, &stub, &payload), STUBPOOL_OK)
        let entry = try XCTUnwrap(stub), bytes = try XCTUnwrap(payload)
        XCTAssertEqual(ct_call0(entry), 9)
        XCTAssertEqual(UInt(bitPattern: bytes) % 16, 0)
        bytes.storeBytes(of: 0x1234, toByteOffset: 40, as: UInt64.self)
        var again: UnsafeMutableRawPointer?
        XCTAssertEqual(stubpool_pool_payload(pool, entry, &again), STUBPOOL_OK)
        XCTAssertEqual(again, bytes)
        XCTAssertEqual(again!.load(fromByteOffset: 40, as: UInt64.self), 0x1234)
        // A pool without payloads, or a stub of another pool: a status, nothing allocated.
        let plain = try makePool { $0.kind = STUBPOOL_KIND_CONTEXT }
        defer { stubpool_pool_destroy(plain) }
        expect(stubpool_pool_allocate_with_payload(plain, target, 0, &stub, &payload), STUBPOOL_E_INVALID_CONFIGURATION, mentioning: "payload")
        var stats = sizedStats(stubpool_pool_stats_t.self)
        XCTAssertEqual(stubpool_pool_statistics(plain, &stats), STUBPOOL_OK)
        XCTAssertEqual(stats.live_stubs, 0)
        expect(stubpool_pool_payload(plain, entry, &again), STUBPOOL_E_FOREIGN_STUB, mentioning: "not a stub of this pool")
        var own: UnsafeMutableRawPointer?
        XCTAssertEqual(stubpool_pool_allocate(plain, target, 0, &own), STUBPOOL_OK)
        expect(stubpool_pool_payload(plain, own, &again), STUBPOOL_E_INVALID_CONFIGURATION, mentioning: "payload")
        var config = stubpool_config_t()
        stubpool_config_init(&config)
        config.payload_size = 20  // not a multiple of 8
        var bad: OpaquePointer?
        expect(stubpool_pool_create(&config, &bad), STUBPOOL_E_INVALID_CONFIGURATION, mentioning: "payload size")
        XCTAssertNil(bad)
    }

    /// payload_data_offset: the stub's context and target words inside its payload; offsets that
    /// do not fit are a status and a message, no pool; a version-4 struct keeps the data region.
    func testPayloadDataSlotsFromC() throws {
        let pool = try makePool { $0.kind = STUBPOOL_KIND_CONTEXT; $0.payload_size = 32; $0.payload_data_offset = 8 }
        defer { stubpool_pool_destroy(pool) }
        var stub: UnsafeMutableRawPointer?, payload: UnsafeMutableRawPointer?
        XCTAssertEqual(stubpool_pool_allocate_with_payload(pool, target, 9, &stub, &payload), STUBPOOL_OK)
        let entry = try XCTUnwrap(stub), bytes = try XCTUnwrap(payload)
        XCTAssertEqual(ct_call0(entry), 9)
        XCTAssertEqual(bytes.load(fromByteOffset: 8, as: UInt.self), 9)
        XCTAssertEqual(bytes.load(fromByteOffset: 16, as: UInt.self), UInt(bitPattern: target))
        bytes.storeBytes(of: 11, toByteOffset: 8, as: UInt.self)
        XCTAssertEqual(ct_call0(entry), 11, "the payload's context word is the stub's")
        for (offset, size) in [(Int32(4), UInt32(32)), (24, 32), (-8, 32), (0, 0)] {
            var bad: OpaquePointer?
            let status = try makeConfig(payloadDataOffset: offset, payloadSize: size) { stubpool_pool_create(&$0, &bad) }
            expect(status, STUBPOOL_E_INVALID_CONFIGURATION, mentioning: "payload")
            XCTAssertNil(bad)
        }
        // A caller built against version 4 passes a struct that ends before payload_data_offset.
        var old = stubpool_config_t()
        stubpool_config_init(&old)
        old.kind = STUBPOOL_KIND_CONTEXT
        old.payload_size = 32
        old.payload_data_offset = 8
        old.struct_size = UInt32(MemoryLayout<stubpool_config_t>.offset(of: \stubpool_config_t.payload_data_offset)!)
        var legacy: OpaquePointer?
        XCTAssertEqual(stubpool_pool_create(&old, &legacy), STUBPOOL_OK)
        let created = try XCTUnwrap(legacy)
        defer { stubpool_pool_destroy(created) }
        XCTAssertEqual(stubpool_pool_allocate_with_payload(created, target, 5, &stub, &payload), STUBPOOL_OK)
        XCTAssertEqual(ct_call0(try XCTUnwrap(stub)), 5)
        XCTAssertEqual(try XCTUnwrap(payload).load(fromByteOffset: 8, as: UInt.self), 0, "the data region, not the payload")
    }

    private func makeConfig(payloadDataOffset: Int32, payloadSize: UInt32,
                            _ create: (inout stubpool_config_t) -> stubpool_status_t) throws -> stubpool_status_t {
        var config = stubpool_config_t()
        stubpool_config_init(&config)
        config.kind = STUBPOOL_KIND_CONTEXT
        config.payload_size = payloadSize
        config.payload_data_offset = payloadDataOffset
        return create(&config)
    }

    func testBadInputIsAStatusAndAMessageAndChangesNothing() throws {
        let pool = try makePool { $0.kind = STUBPOOL_KIND_CONTEXT }
        defer { stubpool_pool_destroy(pool) }
        let other = try makePool { $0.kind = STUBPOOL_KIND_CONTEXT }
        defer { stubpool_pool_destroy(other) }
        var stub: UnsafeMutableRawPointer?
        XCTAssertEqual(stubpool_pool_allocate(pool, target, 1, &stub), STUBPOOL_OK)
        let entry = try XCTUnwrap(stub)
        var out: UnsafeMutableRawPointer?

        expect(stubpool_pool_allocate(nil, target, 0, &out), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "stubpool_pool_allocate: pool is NULL")
        expect(stubpool_pool_allocate(pool, target, 0, nil), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "out_stub")
        expect(stubpool_pool_allocate(pool, nil, 0, &out), STUBPOOL_E_INVALID_TARGET, mentioning: "0x0")
        expect(stubpool_pool_allocate(pool, UnsafeRawPointer(bitPattern: 0xFFF), 0, &out), STUBPOOL_E_INVALID_TARGET, mentioning: "0xfff")
        var many = [UnsafeMutableRawPointer?](repeating: nil, count: 4)
        expect(stubpool_pool_allocate_n(pool, 0, target, 0, &many), STUBPOOL_E_INVALID_COUNT, mentioning: "invalid count 0")
        expect(stubpool_pool_allocate_n(pool, Int(bitPattern: UInt.max), target, 0, &many), STUBPOOL_E_INVALID_COUNT, mentioning: "count")
        expect(stubpool_pool_allocate_n(pool, stubpool_max_bulk_count() + 1, target, 0, &many), STUBPOOL_E_INVALID_COUNT, mentioning: "count")
        expect(stubpool_pool_retarget(other, entry, target, 5), STUBPOOL_E_FOREIGN_STUB, mentioning: "not a stub of this pool")
        expect(stubpool_pool_retarget(pool, entry + 1, target, 5), STUBPOOL_E_FOREIGN_STUB, mentioning: "not a stub")
        expect(stubpool_pool_set_context(pool, nil, 5), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "stub is NULL")
        expect(stubpool_pool_lookup(pool, UnsafeRawPointer(bitPattern: 0x1000), &out, nil), STUBPOOL_E_NOT_FOUND, mentioning: "0x1000")
        expect(stubpool_pool_statistics(pool, nil), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "out_stats")
        // A struct_size below the current layout's is refused and nothing written; a larger one
        // (a caller built against a later header) gets what this library knows.
        var small = sizedStats(stubpool_pool_stats_t.self)
        small.struct_size = 8
        small.live_stubs = 77
        expect(stubpool_pool_statistics(pool, &small), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "struct_size is 8")
        XCTAssertEqual(small.live_stubs, 77)
        let grown = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<stubpool_pool_stats_t>.size + 64, alignment: 8)
        defer { grown.deallocate() }
        grown.initializeMemory(as: UInt8.self, repeating: 0xEE, count: MemoryLayout<stubpool_pool_stats_t>.size + 64)
        grown.storeBytes(of: UInt32(MemoryLayout<stubpool_pool_stats_t>.size + 64), as: UInt32.self)
        XCTAssertEqual(stubpool_pool_statistics(pool, grown.assumingMemoryBound(to: stubpool_pool_stats_t.self)), STUBPOOL_OK)
        XCTAssertEqual(grown.load(as: stubpool_pool_stats_t.self).live_stubs, 1)
        XCTAssertEqual(grown.load(fromByteOffset: MemoryLayout<stubpool_pool_stats_t>.size, as: UInt8.self), 0xEE, "bytes past the layout left alone")
        XCTAssertEqual(ct_call0(entry), 1, "the stub is unchanged")

        XCTAssertEqual(stubpool_pool_release(pool, entry), STUBPOOL_OK)
        expect(stubpool_pool_release(pool, entry), STUBPOOL_E_RELEASED, mentioning: "already released")
        expect(stubpool_pool_retarget(pool, entry, target, 0), STUBPOOL_E_RELEASED, mentioning: "already released")
        XCTAssertEqual(stubpool_pool_reclaim(pool), 1)
        XCTAssertEqual(stubpool_pool_reclaim(nil), 0)
        stubpool_pool_destroy(nil)

        var config = stubpool_config_t()
        stubpool_config_init(&config)
        var created: OpaquePointer?
        config.shards = 65
        expect(stubpool_pool_create(&config, &created), STUBPOOL_E_INVALID_CONFIGURATION, mentioning: "shards")
        config.shards = 0
        config.kind = stubpool_kind_t(rawValue: 99)
        expect(stubpool_pool_create(&config, &created), STUBPOOL_E_INVALID_CONFIGURATION, mentioning: "unknown kind 99")
        config.kind = STUBPOOL_KIND_FORWARD
        config.code_size = 12_345
        expect(stubpool_pool_create(&config, &created), STUBPOOL_E_INVALID_CONFIGURATION, mentioning: "12345")
        config.code_size = 0
        config.struct_size = 4
        expect(stubpool_pool_create(&config, &created), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "struct_size")
        XCTAssertNil(created)
        expect(stubpool_lazy_attach(pool, 0, nil, nil, nil, nil), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "generator")
        var lazy: OpaquePointer?
        expect(stubpool_lazy_attach(pool, 0, { _, _, _, _ in 0 }, nil, nil, &lazy), STUBPOOL_E_INVALID_CONFIGURATION,
               mentioning: "lazyBatches")
        XCTAssertEqual(String(cString: stubpool_status_name(stubpool_status_t(rawValue: 1234))), "STUBPOOL_E_UNKNOWN")
    }

    func testLazyFailureReachesTheHandlerAndStaysPending() throws {
        let pool = try makePool {
            $0.kind = STUBPOOL_KIND_CONTEXT
            $0.lazy_batches = 1
        }
        defer { stubpool_pool_destroy(pool) }
        final class Box { var fail = true; var failures: [Int32] = []; var target: UnsafeRawPointer? }
        let box = Box()
        box.target = target
        var lazy: OpaquePointer?
        let status = stubpool_lazy_attach(
            pool, 0,
            { user, requests, count, results in
                let box = Unmanaged<Box>.fromOpaque(user!).takeUnretainedValue()
                if box.fail { return 7 }
                for index in 0..<count { results![index] = stubpool_lazy_resolution_t(target: box.target, context: requests![index].spec) }
                return 0
            },
            { user, _, status in
                let box = Unmanaged<Box>.fromOpaque(user!).takeUnretainedValue()
                box.failures.append(status)
                return stubpool_lazy_resolution_t(target: box.target, context: 1000)
            },
            Unmanaged.passUnretained(box).toOpaque(), &lazy)
        XCTAssertEqual(status, STUBPOOL_OK)
        let handle = try XCTUnwrap(lazy)
        var stubs = [UnsafeMutableRawPointer?](repeating: nil, count: 3)
        let specs: [UInt] = [10, 20, 30]
        XCTAssertEqual(stubpool_lazy_request_n(handle, 3, specs, &stubs), STUBPOOL_OK)
        var count = -1
        expect(stubpool_lazy_materialize_all(handle, &count), STUBPOOL_E_GENERATOR, mentioning: "returned 7")
        XCTAssertEqual(count, -1)
        XCTAssertEqual(ct_call0(stubs[1]!), 1000, "the failure handler's resolution")
        XCTAssertEqual(box.failures, [7])
        box.fail = false
        XCTAssertEqual(ct_call0(stubs[2]!), 30)
        XCTAssertEqual(ct_call0(stubs[0]!), 10)
        var stats = sizedStats(stubpool_lazy_stats_t.self)
        XCTAssertEqual(stubpool_lazy_statistics(handle, &stats), STUBPOOL_OK)
        XCTAssertEqual(stats.failed_batches, 2)
        XCTAssertEqual(stats.batches, 1)
        XCTAssertEqual(stats.pending, 0)
    }

    func testArenaBadInput() throws {
        var arena: OpaquePointer?
        XCTAssertEqual(stubpool_arena_create(STUBPOOL_ARENA_PACKED, &arena), STUBPOOL_OK)
        let handle = try XCTUnwrap(arena)
        defer { stubpool_arena_destroy(handle) }
        let body: [UInt8] = Array(repeating: 0xCC, count: 16)
        var entry: UnsafeMutableRawPointer?
        try body.withUnsafeBytes { bytes in
            var blob = stubpool_code_t(bytes: bytes.baseAddress, size: 16)
            XCTAssertEqual(stubpool_arena_commit(handle, &blob, 1, &entry), STUBPOOL_OK)
            expect(stubpool_arena_commit(handle, &blob, 0, &entry), STUBPOOL_E_INVALID_COUNT, mentioning: "invalid count 0")
            var empty = stubpool_code_t(bytes: bytes.baseAddress, size: 0)
            expect(stubpool_arena_commit(handle, &empty, 1, &entry), STUBPOOL_E_OUT_OF_BOUNDS, mentioning: "empty")
            var huge = stubpool_code_t(bytes: bytes.baseAddress, size: Int(bitPattern: UInt.max))
            expect(stubpool_arena_commit(handle, &huge, 1, &entry), STUBPOOL_E_OUT_OF_BOUNDS, mentioning: "more than")
            let blobEntry = try XCTUnwrap(entry)
            for (offset, size) in [(Int(bitPattern: UInt.max), 4), (Int.max, 1), (0, 17), (15, 2), (4, Int(bitPattern: UInt.max))] {
                var patch = stubpool_patch_t(blob: blobEntry, offset: offset, bytes: bytes.baseAddress, size: size)
                expect(stubpool_arena_patch(handle, &patch, 1), STUBPOOL_E_OUT_OF_BOUNDS, mentioning: "blob")
            }
            var stats = sizedStats(stubpool_arena_stats_t.self)
            XCTAssertEqual(stubpool_arena_statistics(handle, &stats), STUBPOOL_OK)
            XCTAssertEqual(stats.live_blobs, 1)
            XCTAssertEqual(stats.commits, 1)
            var size = 0
            XCTAssertEqual(stubpool_arena_lookup(handle, blobEntry, &size), STUBPOOL_OK)
            XCTAssertEqual(size, 16)
            XCTAssertEqual(stubpool_arena_free(handle, blobEntry), STUBPOOL_OK)
            expect(stubpool_arena_free(handle, blobEntry), STUBPOOL_E_NOT_LIVE, mentioning: "no live blob")
            expect(stubpool_arena_lookup(handle, blobEntry, &size), STUBPOOL_E_NOT_FOUND, mentioning: "no live blob")
        }
        expect(stubpool_arena_create(stubpool_arena_placement_t(rawValue: 9), &arena), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "placement 9")
    }

    func testTwoThreadsAllocateAndReleaseThroughTheCAPI() throws {
        let pool = try makePool { $0.kind = STUBPOOL_KIND_CONTEXT }
        defer { stubpool_pool_destroy(pool) }
        let target = UInt(bitPattern: self.target)
        let poolAddress = UInt(bitPattern: UnsafeRawPointer(pool))
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            let pool = OpaquePointer(bitPattern: poolAddress)!
            for round in 0..<2_000 {
                var stub: UnsafeMutableRawPointer?
                guard stubpool_pool_allocate(pool, UnsafeRawPointer(bitPattern: target), UInt(round), &stub) == STUBPOOL_OK,
                      ct_call0(stub!) == UInt64(round),
                      stubpool_pool_release(pool, stub) == STUBPOOL_OK else {
                    return XCTFail(String(cString: stubpool_last_error()))
                }
            }
        }
        XCTAssertEqual(stubpool_pool_reclaim(pool), 4_000)
    }
}
