// `arena-limits`: the code arena under a tight descriptor limit and at scale, in this child
// process (its descriptor and mapping counts are its own). Prints `key=value` lines:
// - RLIMIT_NOFILE lowered to 64: 20,000 blobs of mixed sizes (16 B to 16 KiB) committed in
//   batches of 100, every one called (`nofile_*`);
// - 100 MB of mixed-size code in one arena: its mappings (the arena's statistics and the process's
//   /proc/self/maps entries inside the arena's views) and open descriptors (`hundred_mb_*`).
import CTestHelpers
import StubPool
import StubPoolTestSupport

#if canImport(Glibc)
import Glibc
#endif

enum ArenaLimitsProbe {
    static func openDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return -1 }
        defer { closedir(directory) }
        var count = 0
        while readdir(directory) != nil { count += 1 }
        return count - 3  // ".", ".." and the directory's own descriptor
    }

    /// A blob returning `value`, padded with `nop`s to `size` bytes (at least the body).
    static func blob(_ value: UInt64, size: Int) -> [UInt8] {
        let body = CodeEmitter.returnConstant(value, architecture: .host)
        let padding = Architecture.host == .x86_64 ? [UInt8](repeating: 0x90, count: max(0, size - body.count)) : []
        return padding + body  // the padding runs first (x86-64 nops), then the body returns
    }

    /// Mixed sizes: mostly small stubs and thunks, some functions, a few large ones.
    static func size(_ index: Int, random: inout UInt64) -> Int {
        random = random &* 6364136223846793005 &+ 1442695040888963407
        let pick = Int(random >> 33)
        switch index % 10 {
        case 0..<6: return 16 + pick % 240
        case 6..<9: return 256 + pick % 3_840
        default: return 4_096 + pick % 12_288
        }
    }

    static func run() throws {
        let descriptorsBefore = openDescriptors()
        var limit = rlimit(rlim_cur: 64, rlim_max: 64)
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { throw ProbeFailure("setrlimit") }
        let arena = CodeArena()
        var random: UInt64 = 7
        var committed: [(CodeBlob, UInt64)] = []
        for batch in 0..<200 {
            let values = (0..<100).map { UInt64(batch * 100 + $0 + 1) }
            let blobs = try arena.commit(values.enumerated().map { blob($1, size: size($0, random: &random)) })
            committed += zip(blobs, values)
        }
        let wrong = committed.filter { ct_call0($0.0.entry) != $0.1 }.count
        let statistics = arena.statistics()
        ForkProbe.report("nofile_limit", 64)
        ForkProbe.report("nofile_blobs", committed.count)
        ForkProbe.report("nofile_wrong_results", wrong)
        ForkProbe.report("nofile_descriptors_added", openDescriptors() - descriptorsBefore)
        ForkProbe.report("nofile_arena_descriptors", statistics.fileDescriptors)
        ForkProbe.report("nofile_arena_mappings", statistics.mappings)
        ForkProbe.report("nofile_mapped_bytes", statistics.mappedBytes)

        // 100 MB of mixed-size code.
        let big = CodeArena()
        var blobs = 0
        while big.statistics().liveBytes < 100_000_000 {
            let values = (0..<100).map { UInt64(blobs + $0 + 1) }
            _ = try big.commit(values.enumerated().map { blob($1, size: size($0, random: &random)) })
            blobs += 100
        }
        let bigStatistics = big.statistics()
        ForkProbe.report("hundred_mb_blobs", blobs)
        ForkProbe.report("hundred_mb_live_bytes", bigStatistics.liveBytes)
        ForkProbe.report("hundred_mb_regions", bigStatistics.regions)
        ForkProbe.report("hundred_mb_arena_mappings", bigStatistics.mappings)
        ForkProbe.report("hundred_mb_process_mappings", ProcessMaps.entries(overlapping: big.mappedRegions().flatMap { [$0.executable, $0.writable] }).count)
        ForkProbe.report("hundred_mb_arena_descriptors", bigStatistics.fileDescriptors)
        ForkProbe.report("descriptors_added", openDescriptors() - descriptorsBefore)
    }
}
