import CStubPoolAPI
import CTestHelpers
import Foundation
import Testing

/// Every integer the C API takes, at the values that break careless conversions: `SIZE_MAX`,
/// `SIZE_MAX/2+1` (both negative as a Swift `Int`), the largest 32-bit value, and zero where zero
/// means nothing. Each call must fail with a typed status and change nothing: no stub, blob,
/// byte or output written. The table must name every function of stubpool.h that takes an
/// integer (the header is read to check that).
@Suite(.serialized) struct CIntegerBoundaryTests {
    static let sizeMax = Int(bitPattern: UInt.max)
    static let sizeHalf = Int(bitPattern: UInt.max / 2 + 1)
    static let hugeCounts = [sizeMax, sizeHalf, 0]

    /// One pool, one arena and one lazy handle shared by the rows, with a sentinel blob.
    final class Fixture {
        let pool: OpaquePointer
        let arena: OpaquePointer
        let lazyPool: OpaquePointer
        let lazy: OpaquePointer
        let blob: UnsafeMutableRawPointer
        let blobBytes: [UInt8]
        let stub: UnsafeMutableRawPointer
        /// Bytes the rows point their blobs and patches at (valid for the fixture's life).
        let scratch: UnsafeMutableRawPointer

        init() throws {
            scratch = .allocate(byteCount: 16, alignment: 16)
            scratch.initializeMemory(as: UInt8.self, repeating: 0xCC, count: 16)
            var config = stubpool_config_t()
            stubpool_config_init(&config)
            config.kind = STUBPOOL_KIND_CONTEXT
            var pool: OpaquePointer?, arena: OpaquePointer?, lazyPool: OpaquePointer?, lazy: OpaquePointer?
            try #require(stubpool_pool_create(&config, &pool) == STUBPOOL_OK)
            config.lazy_batches = 1
            try #require(stubpool_pool_create(&config, &lazyPool) == STUBPOOL_OK)
            try #require(stubpool_arena_create(STUBPOOL_ARENA_PACKED, &arena) == STUBPOOL_OK)
            self.pool = pool!
            self.arena = arena!
            self.lazyPool = lazyPool!
            try #require(stubpool_lazy_attach(lazyPool, 0, { _, _, _, _ in 1 }, nil, nil, &lazy) == STUBPOOL_OK)
            self.lazy = lazy!
            blobBytes = [0xC3, 0x90, 0x90, 0x90]
            var placed: UnsafeMutableRawPointer?
            try blobBytes.withUnsafeBytes { bytes in
                var code = stubpool_code_t(bytes: bytes.baseAddress, size: bytes.count)
                try #require(stubpool_arena_commit(arena, &code, 1, &placed) == STUBPOOL_OK)
            }
            blob = placed!
            var stub: UnsafeMutableRawPointer?
            try #require(stubpool_pool_allocate(pool, CTargets.returnContextRegister, 5, &stub) == STUBPOOL_OK)
            self.stub = stub!
        }

        deinit {
            scratch.deallocate()
            stubpool_pool_destroy(pool)
            stubpool_pool_destroy(lazyPool)
            stubpool_arena_destroy(arena)
        }

        /// Everything a rejected call must leave as it was.
        struct State: Equatable {
            var liveStubs: Int, lazyLiveStubs: Int, liveBlobs: Int, commits: Int, blobBytes: [UInt8], stubContext: UInt
        }

        func state() -> State {
            var poolStats = sizedStats(stubpool_pool_stats_t.self), lazyStats = sizedStats(stubpool_pool_stats_t.self)
            var arenaStats = sizedStats(stubpool_arena_stats_t.self)
            _ = stubpool_pool_statistics(pool, &poolStats)
            _ = stubpool_pool_statistics(lazyPool, &lazyStats)
            _ = stubpool_arena_statistics(arena, &arenaStats)
            var context: UInt = 0
            _ = stubpool_pool_get_target(pool, stub, nil, &context)
            return State(liveStubs: poolStats.live_stubs, lazyLiveStubs: lazyStats.live_stubs, liveBlobs: arenaStats.live_blobs,
                         commits: arenaStats.commits, blobBytes: Array(UnsafeRawBufferPointer(start: blob, count: blobBytes.count)),
                         stubContext: context)
        }
    }

    struct Row: CustomStringConvertible {
        let function: String
        let parameter: String
        let value: String
        let expected: stubpool_status_t
        let call: (Fixture) -> stubpool_status_t
        var description: String { "\(function)(\(parameter) = \(value))" }
    }

    static func name(_ value: Int) -> String {
        switch value {
        case sizeMax: "SIZE_MAX"
        case sizeHalf: "SIZE_MAX/2+1"
        default: "\(value)"
        }
    }

    static func makeRows() -> [Row] {
        var rows: [Row] = []
        let sentinel = UnsafeMutableRawPointer(bitPattern: 0x5EED)!
        for count in hugeCounts {
            rows.append(Row(function: "stubpool_pool_allocate_n", parameter: "count", value: name(count), expected: STUBPOOL_E_INVALID_COUNT) { f in
                var out = [UnsafeMutableRawPointer?](repeating: sentinel, count: 4)
                let status = stubpool_pool_allocate_n(f.pool, count, CTargets.returnContextRegister, 0, &out)
                return out.allSatisfy { $0 == sentinel } ? status : STUBPOOL_OK
            })
            rows.append(Row(function: "stubpool_pool_allocate_closures", parameter: "count", value: name(count), expected: STUBPOOL_E_INVALID_COUNT) { f in
                var stubs = [UnsafeMutableRawPointer?](repeating: sentinel, count: 4), payloads = stubs
                let status = stubpool_pool_allocate_closures(f.pool, count, CTargets.returnContextRegister, &stubs, &payloads)
                return (stubs + payloads).allSatisfy { $0 == sentinel } ? status : STUBPOOL_OK
            })
            rows.append(Row(function: "stubpool_pool_payload_release_each", parameter: "count", value: name(count), expected: STUBPOOL_E_INVALID_COUNT) { f in
                let payloads = [UnsafeRawPointer?](repeating: UnsafeRawPointer(sentinel), count: 4)
                var statuses = [stubpool_status_t](repeating: STUBPOOL_E_SYSTEM, count: 4)
                let status = stubpool_pool_payload_release_each(f.pool, count, payloads, &statuses)
                return statuses.allSatisfy { $0 == STUBPOOL_E_SYSTEM } ? status : STUBPOOL_OK
            })
            rows.append(Row(function: "stubpool_lazy_request_n", parameter: "count", value: name(count), expected: STUBPOOL_E_INVALID_COUNT) { f in
                var out = [UnsafeMutableRawPointer?](repeating: sentinel, count: 4)
                let specs: [UInt] = [1, 2, 3, 4]
                let status = stubpool_lazy_request_n(f.lazy, count, specs, &out)
                return out.allSatisfy { $0 == sentinel } ? status : STUBPOOL_OK
            })
            for named in [false, true] {
                let function = named ? "stubpool_arena_commit_named" : "stubpool_arena_commit"
                rows.append(Row(function: function, parameter: "count", value: name(count), expected: STUBPOOL_E_INVALID_COUNT) { f in
                    var out: [UnsafeMutableRawPointer?] = [sentinel]
                    var code = stubpool_code_t(bytes: f.scratch, size: 1)
                    let status = named
                        ? withUnsafePointer(to: ("n" as StaticString).utf8Start) { name in
                            name.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: 1) {
                                stubpool_arena_commit_named(f.arena, &code, $0, count, &out)
                            }
                        }
                        : stubpool_arena_commit(f.arena, &code, count, &out)
                    return out[0] == sentinel ? status : STUBPOOL_OK
                })
            }
            rows.append(Row(function: "stubpool_arena_patch", parameter: "count", value: name(count), expected: STUBPOOL_E_INVALID_COUNT) { f in
                var patch = stubpool_patch_t(blob: f.blob, offset: 1, bytes: f.scratch, size: 1)
                return stubpool_arena_patch(f.arena, &patch, count)
            })
        }
        for size in hugeCounts {
            rows.append(Row(function: "stubpool_arena_commit", parameter: "blobs[0].size", value: name(size), expected: STUBPOOL_E_OUT_OF_BOUNDS) { f in
                var out: [UnsafeMutableRawPointer?] = [sentinel]
                var code = stubpool_code_t(bytes: f.scratch, size: size)
                let status = stubpool_arena_commit(f.arena, &code, 1, &out)
                return out[0] == sentinel ? status : STUBPOOL_OK
            })
            rows.append(Row(function: "stubpool_arena_patch", parameter: "patches[0].size", value: name(size), expected: STUBPOOL_E_OUT_OF_BOUNDS) { f in
                var patch = stubpool_patch_t(blob: f.blob, offset: 1, bytes: f.scratch, size: size)
                return stubpool_arena_patch(f.arena, &patch, 1)
            })
        }
        for offset in [sizeMax, sizeHalf, 4] {
            rows.append(Row(function: "stubpool_arena_patch", parameter: "patches[0].offset", value: name(offset), expected: STUBPOOL_E_OUT_OF_BOUNDS) { f in
                var patch = stubpool_patch_t(blob: f.blob, offset: offset, bytes: f.scratch, size: 1)
                return stubpool_arena_patch(f.arena, &patch, 1)
            })
        }
        for limit in [sizeMax, sizeHalf] {
            rows.append(Row(function: "stubpool_lazy_attach", parameter: "batch_limit", value: name(limit), expected: STUBPOOL_E_INVALID_CONFIGURATION) { _ in
                var config = stubpool_config_t()
                stubpool_config_init(&config)
                config.lazy_batches = 1
                var pool: OpaquePointer?, lazy: OpaquePointer? = OpaquePointer(bitPattern: 0x5EED)
                guard stubpool_pool_create(&config, &pool) == STUBPOOL_OK else { return STUBPOOL_OK }
                defer { stubpool_pool_destroy(pool) }
                let status = stubpool_lazy_attach(pool, limit, { _, _, _, _ in 1 }, nil, nil, &lazy)
                return lazy == OpaquePointer(bitPattern: 0x5EED) ? status : STUBPOOL_OK
            })
        }
        for size in [sizeMax, sizeHalf] {
            let describe: [(String, (Fixture, UnsafeMutablePointer<CChar>, Int, UnsafeMutablePointer<Int>) -> stubpool_status_t)] = [
                ("stubpool_pool_get_name", { f, buffer, size, length in stubpool_pool_get_name(f.pool, f.stub, buffer, size, length) }),
                ("stubpool_pool_describe", { f, buffer, size, length in stubpool_pool_describe(f.pool, 1, buffer, size, length) }),
                ("stubpool_arena_describe", { f, buffer, size, length in stubpool_arena_describe(f.arena, 1, buffer, size, length) }),
            ]
            for (function, call) in describe {
                rows.append(Row(function: function, parameter: "size", value: name(size), expected: STUBPOOL_E_INVALID_ARGUMENT) { f in
                    var buffer = [CChar](repeating: 0x55, count: 16)
                    var length = 0x5EED
                    let status = call(f, &buffer, size, &length)
                    return buffer.allSatisfy { $0 == 0x55 } && length == 0x5EED ? status : STUBPOOL_OK
                })
            }
        }
        // The configuration's integers (uint32_t fields and enums) at their largest values.
        let configurations: [(String, (inout stubpool_config_t) -> Void)] = [
            ("config.shards", { $0.shards = .max }),
            ("config.code_size", { $0.code_size = .max }),
            ("config.payload_size", { $0.payload_size = .max }),
            ("config.payload_size", { $0.payload_size = UInt32(1) << 31 }),
            ("config.struct_size", { $0.struct_size = 0 }),
            ("config.kind", { $0.kind = stubpool_kind_t(rawValue: .max) }),
            ("config.placement", { $0.placement = stubpool_placement_t(rawValue: .max) }),
            ("config.strategy", { $0.strategy = stubpool_strategy_t(rawValue: .max) }),
        ]
        for (parameter, configure) in configurations {
            let expected = parameter == "config.struct_size" ? STUBPOOL_E_INVALID_ARGUMENT : STUBPOOL_E_INVALID_CONFIGURATION
            rows.append(Row(function: "stubpool_pool_create", parameter: parameter, value: "largest", expected: expected) { _ in
                var config = stubpool_config_t()
                stubpool_config_init(&config)
                configure(&config)
                var pool: OpaquePointer? = OpaquePointer(bitPattern: 0x5EED)
                let status = stubpool_pool_create(&config, &pool)
                if status == STUBPOOL_OK { stubpool_pool_destroy(pool) }
                return pool == OpaquePointer(bitPattern: 0x5EED) ? status : STUBPOOL_OK
            })
        }
        rows.append(Row(function: "stubpool_arena_create", parameter: "placement", value: "largest", expected: STUBPOOL_E_INVALID_ARGUMENT) { _ in
            var arena: OpaquePointer? = OpaquePointer(bitPattern: 0x5EED)
            let status = stubpool_arena_create(stubpool_arena_placement_t(rawValue: .max), &arena)
            if status == STUBPOOL_OK { stubpool_arena_destroy(arena) }
            return arena == OpaquePointer(bitPattern: 0x5EED) ? status : STUBPOOL_OK
        })
        for outputs in [UInt32.max, 0] {
            rows.append(Row(function: "stubpool_profiling_start", parameter: "outputs", value: "\(outputs)", expected: STUBPOOL_E_INVALID_ARGUMENT) { _ in
                stubpool_profiling_start(outputs, nil)
            })
        }
        return rows
    }

    @Test func everyIntegerOutOfRangeIsATypedErrorThatChangesNothing() throws {
        let fixture = try Fixture()
        var failures: [String] = []
        let rows = Self.makeRows()
        for row in rows {
            let before = fixture.state()
            let status = row.call(fixture)
            let after = fixture.state()
            let name = String(cString: stubpool_status_name(status))
            if status != row.expected || stubpool_last_error_code() != row.expected {
                failures.append("\(row): \(name) (expected \(String(cString: stubpool_status_name(row.expected)))): \(String(cString: stubpool_last_error()))")
            } else if before != after {
                failures.append("\(row): changed state \(before) -> \(after)")
            }
        }
        print("CIntegerBoundaryTests: \(rows.count) calls walked, \(rows.count - failures.count) typed errors with nothing changed")
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    /// The table names every function of stubpool.h with an integer parameter (or an integer
    /// field in a struct it takes): a new one cannot be forgotten.
    @Test func theTableCoversEveryFunctionThatTakesAnInteger() throws {
        let header = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Sources/CStubPoolAPI/include/stubpool.h"),
            encoding: .utf8)
        // Prototypes, joined across lines.
        let flat = header.replacingOccurrences(of: "\n", with: " ")
        let prototype = /(?:stubpool_status_t|void|size_t|int|const char \*)\s+\*?(stubpool_[a-z_0-9]+)\(([^)]*)\);/
        // Integer parameters that are values, not sizes or counts: contexts and specs (any value
        // is meaningful), and boolean flags.
        let anyValue: Set<String> = ["context", "spec", "include_stubs", "include_blobs"]
        let integerTypes: Set<String> = ["size_t", "uint32_t", "uint64_t", "unsigned", "int", "stubpool_arena_placement_t"]
        let structsWithIntegers = ["const stubpool_config_t", "const stubpool_code_t", "const stubpool_patch_t"]
        var needing: Set<String> = []
        for match in flat.matches(of: prototype) {
            let parameters = match.2.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let takesInteger = parameters.contains { parameter in
                if parameter.contains("*") { return structsWithIntegers.contains { parameter.hasPrefix($0) } }
                let words = parameter.split(separator: " ").map(String.init)
                guard let name = words.last, words.count >= 2, !anyValue.contains(name) else { return false }
                return integerTypes.contains(words.dropLast().joined(separator: " "))
            }
            if takesInteger { needing.insert(String(match.1)) }
        }
        let covered = Set(Self.makeRows().map(\.function))
        #expect(!needing.isEmpty)
        #expect(needing.subtracting(covered).isEmpty, "functions taking integers not in the table: \(needing.subtracting(covered).sorted())")
    }
}
