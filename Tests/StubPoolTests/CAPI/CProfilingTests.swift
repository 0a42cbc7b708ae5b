import CStubPoolAPI
import CTestHelpers
import Foundation
import Testing

/// The C face of names, profiling and descriptions (API version 3): bad input gives a status and
/// a message and changes nothing. Serialized: two of the tests start and stop process-wide profiling.
@Suite(.serialized) struct CProfilingTests {
    func expectFailure(_ status: stubpool_status_t, _ expected: stubpool_status_t, mentioning text: String,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(status == expected, sourceLocation: sourceLocation)
        #expect(String(cString: stubpool_last_error()).contains(text), "\(String(cString: stubpool_last_error()))", sourceLocation: sourceLocation)
    }

    /// The NUL-terminated text in `buffer`.
    func text(_ buffer: [CChar]) -> String {
        buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    func name(_ pool: OpaquePointer, _ stub: UnsafeMutableRawPointer) -> String {
        var buffer = [CChar](repeating: 0, count: 128)
        #expect(stubpool_pool_get_name(pool, stub, &buffer, buffer.count, nil) == STUBPOOL_OK)
        return text(buffer)
    }

    @Test func stubNamesThroughTheCAPI() throws {
        #expect(stubpool_api_version() == 5 && STUBPOOL_API_VERSION == 5)
        var config = stubpool_config_t()
        stubpool_config_init(&config)
        config.kind = STUBPOOL_KIND_CONTEXT
        var pool: OpaquePointer?
        let poolName = strdup("c-entries")
        defer { free(poolName) }
        config.name = UnsafePointer(poolName)
        #expect(stubpool_pool_create(&config, &pool) == STUBPOOL_OK)
        let handle = try #require(pool)
        defer { stubpool_pool_destroy(handle) }
        var stubs = [UnsafeMutableRawPointer?](repeating: nil, count: 3)
        #expect(stubpool_pool_allocate_n(handle, 3, CTargets.returnContextRegister, 5, &stubs) == STUBPOOL_OK)
        let first = try #require(stubs[0]), second = try #require(stubs[1])
        #expect(name(handle, first).hasPrefix("c-entries#"))

        #expect(stubpool_pool_set_name(handle, second, "wasm-entry:math.add") == STUBPOOL_OK)
        #expect(name(handle, second) == "wasm-entry:math.add")
        var length = 0
        #expect(stubpool_pool_get_name(handle, second, nil, 0, &length) == STUBPOOL_OK && length == 19)
        var small = [CChar](repeating: 0x7F, count: 5)
        #expect(stubpool_pool_get_name(handle, second, &small, small.count, &length) == STUBPOOL_OK)
        #expect(text(small) == "wasm" && length == 19, "truncated, NUL-terminated, full length reported")

        expectFailure(stubpool_pool_get_name(handle, second, nil, 8, nil), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "buffer")
        expectFailure(stubpool_pool_set_name(handle, second, nil), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "name is NULL")
        expectFailure(stubpool_pool_set_name(handle, UnsafeMutableRawPointer(bitPattern: 0x1000), "x"), STUBPOOL_E_FOREIGN_STUB, mentioning: "0x1000")
        #expect(stubpool_pool_release(handle, first) == STUBPOOL_OK)
        expectFailure(stubpool_pool_set_name(handle, first, "late"), STUBPOOL_E_FOREIGN_STUB, mentioning: "does not belong")
        #expect(name(handle, second) == "wasm-entry:math.add", "failed calls changed nothing")

        var text = [CChar](repeating: 0, count: 4096)
        #expect(stubpool_pool_describe(handle, 1, &text, text.count, &length) == STUBPOOL_OK)
        let description = self.text(text)
        #expect(description.hasPrefix("pool c-entries: context") && description.contains("wasm-entry:math.add") && length == description.utf8.count)
        #expect(stubpool_pool_describe(handle, 0, &text, text.count, nil) == STUBPOOL_OK && !self.text(text).contains("math.add"))
    }

    /// A caller built against version 2 passes the smaller struct: accepted, unnamed.
    @Test func version2ConfigurationIsAccepted() throws {
        var config = stubpool_config_t()
        stubpool_config_init(&config)
        config.struct_size = UInt32(MemoryLayout<stubpool_config_t>.offset(of: \stubpool_config_t.name)!)
        config.name = UnsafePointer(bitPattern: 0xDEAD)  // beyond a version-2 struct: never read
        var pool: OpaquePointer?
        #expect(stubpool_pool_create(&config, &pool) == STUBPOOL_OK)
        let handle = try #require(pool)
        defer { stubpool_pool_destroy(handle) }
        var stub: UnsafeMutableRawPointer?
        #expect(stubpool_pool_allocate(handle, CTargets.returnContextRegister, 0, &stub) == STUBPOOL_OK)
        #expect(name(handle, try #require(stub)).hasPrefix("stubpool:forward#"))
        config.struct_size -= 8
        expectFailure(stubpool_pool_create(&config, &pool), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "struct_size")
    }

    @Test func namedArenaCommitsAndDescriptions() throws {
        var arena: OpaquePointer?
        #expect(stubpool_arena_create(STUBPOOL_ARENA_PACKED, &arena) == STUBPOOL_OK)
        let handle = try #require(arena)
        defer { stubpool_arena_destroy(handle) }
        #if arch(x86_64)
        let code: [UInt8] = [0xC3]  // ret
        #else
        let code: [UInt8] = [0xC0, 0x03, 0x5F, 0xD6]  // ret
        #endif
        var entries = [UnsafeMutableRawPointer?](repeating: nil, count: 2)
        try code.withUnsafeBytes { bytes in
            let blobs = [stubpool_code_t(bytes: bytes.baseAddress, size: bytes.count), stubpool_code_t(bytes: bytes.baseAddress, size: bytes.count)]
            let names = [strdup("body:add"), strdup("body:sub")]
            defer { names.forEach { free($0) } }
            let constNames = names.map { UnsafePointer($0) }
            #expect(stubpool_arena_commit_named(handle, blobs, constNames, 2, &entries) == STUBPOOL_OK)
            let withNull: [UnsafePointer<CChar>?] = [constNames[0], nil]
            expectFailure(stubpool_arena_commit_named(handle, blobs, withNull, 2, &entries), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "names[1]")
            expectFailure(stubpool_arena_commit_named(handle, blobs, nil, 2, &entries), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "names is NULL")
            _ = try #require(entries[1])
        }
        var stats = sizedStats(stubpool_arena_stats_t.self)
        #expect(stubpool_arena_statistics(handle, &stats) == STUBPOOL_OK && stats.live_blobs == 2, "failed commits changed nothing")
        var text = [CChar](repeating: 0, count: 4096)
        var length = 0
        #expect(stubpool_arena_describe(handle, 1, &text, text.count, &length) == STUBPOOL_OK)
        let description = self.text(text)
        #expect(description.contains("2 live blobs") && description.contains("body:add") && description.contains("body:sub"))
        #expect(stubpool_arena_free(handle, entries[0]) == STUBPOOL_OK)
        #expect(stubpool_arena_describe(handle, 1, &text, text.count, nil) == STUBPOOL_OK && !self.text(text).contains("body:add"))
        expectFailure(stubpool_arena_describe(handle, 1, nil, -1, nil), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "size")
    }

    @Test func profilingStartRejectsBadInput() throws {
        expectFailure(stubpool_profiling_start(0, nil), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "outputs 0x0")
        expectFailure(stubpool_profiling_start(16, nil), STUBPOOL_E_INVALID_ARGUMENT, mentioning: "outputs 0x10")
        expectFailure(stubpool_profiling_start(UInt32(STUBPOOL_PROFILE_JITDUMP.rawValue), "/proc/stubpool-cannot-be-here"),
                      STUBPOOL_E_SYSTEM, mentioning: "/proc/stubpool-cannot-be-here")
        #expect(stubpool_profiling_flush() == STUBPOOL_OK && stubpool_profiling_stop() == STUBPOOL_OK, "nothing started: nothing to do")
    }

    /// Started through C: a jitdump appears (other tests' pools may add records meanwhile); a
    /// second start is refused; stop closes it.
    @Test func profilingStartsAndStopsThroughTheCAPI() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stubpool-c-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(stubpool_profiling_start(UInt32(STUBPOOL_PROFILE_JITDUMP.rawValue), directory.path) == STUBPOOL_OK)
        expectFailure(stubpool_profiling_start(UInt32(STUBPOOL_PROFILE_JITDUMP.rawValue), directory.path), STUBPOOL_E_INVALID_CONFIGURATION,
                      mentioning: "already")
        #expect(stubpool_profiling_flush() == STUBPOOL_OK)
        #expect(stubpool_profiling_stop() == STUBPOOL_OK)
        let dump = directory.appendingPathComponent("jit-\(getpid()).dump").path
        #expect(FileManager.default.fileExists(atPath: dump))
        #expect(((try? FileManager.default.attributesOfItem(atPath: dump)[.size] as? Int) ?? 0) >= 40, "at least the header")
    }
}
