import Testing
@testable import StubPool

/// Descriptors and mappings of the code arena: one memory file per arena, two mappings per
/// 64 MiB piece. Runs in a child process (StubPoolCrashProbe `arena-limits`) whose descriptor limit
/// is lowered to 64 and whose counts are its own.
@Suite struct ArenaLimitsTests {
    @Test func twentyThousandBlobsUnderSixtyFourDescriptorsAndHundredMegabytesInFourMappings() throws {
        let fields = try ForkTests.fields(["arena-limits"])
        #expect(fields["nofile_blobs"] == "20000" && fields["nofile_wrong_results"] == "0", "\(fields)")
        #expect(fields["nofile_arena_descriptors"] == "1" && fields["nofile_descriptors_added"] == "1")
        #expect(fields["nofile_arena_mappings"] == "2")
        // 100 MB of mixed code: two 64 MiB pieces, four mappings, seen as such in /proc/self/maps.
        let mappings = Int(fields["hundred_mb_process_mappings"] ?? "") ?? .max
        #expect(mappings <= 200 && fields["hundred_mb_arena_mappings"] == "4", "\(fields)")
        #expect(fields["hundred_mb_arena_descriptors"] == "1" && fields["descriptors_added"] == "2")
        print("arena limits: 20,000 mixed blobs under RLIMIT_NOFILE=64 with \(fields["nofile_arena_descriptors"] ?? "?") descriptor and \(fields["nofile_arena_mappings"] ?? "?") mappings; 100 MB of mixed code (\(fields["hundred_mb_blobs"] ?? "?") blobs, \(fields["hundred_mb_regions"] ?? "?") regions) in \(fields["hundred_mb_process_mappings"] ?? "?") process mappings and \(fields["hundred_mb_arena_descriptors"] ?? "?") descriptor")
    }
}
