import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif
@testable import StubPool

/// fork(): neither process can change code the other runs, and both keep working. Runs in a
/// single-threaded child process (StubPoolCrashProbe `fork`), which forks again and sequences
/// parent and grandchild through pipes.
@Suite struct ForkTests {
    /// The probe's `key=value` lines; its standard error (where hung children write their
    /// frames) under the key `stderr`.
    static func fields(_ arguments: [String], environment: [String: String] = [:]) throws -> [String: String] {
        let outcome = try ChildProcess.run("StubPoolCrashProbe", arguments: arguments, environment: environment)
        #expect(!outcome.terminatedBySignal && outcome.terminationStatus == 0, "\(outcome.standardError)")
        let pairs = outcome.standardOutput.split(separator: "\n").compactMap { line -> (String, String)? in
            let parts = line.split(separator: "=", maxSplits: 1)
            return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
        }
        return Dictionary(pairs, uniquingKeysWith: { $1 }).merging(["stderr": outcome.standardError]) { $1 }
    }

    @Test func arenaCodeAndStubsStayPerProcessAfterFork() throws {
        let fields = try Self.fields(["fork"])
        // The child freed blob A and committed into the very same slot, rewrote B and retargeted
        // the stub: it sees its own code...
        #expect(fields["child_reused_slot"] == "true", "the child's commit should reuse the freed slot: \(fields)")
        #expect(fields["child_new_blob"] == "222")
        #expect(fields["child_b"] == "666")
        #expect(fields["child_stub"] == "222")
        // ...and the parent still runs its own.
        #expect(fields["parent_a"] == "111")
        #expect(fields["parent_b"] == "555")
        #expect(fields["parent_stub"] == "111")
        // The other direction: the parent rewrote D after the fork; the child's D is unchanged.
        #expect(fields["parent_d"] == "888")
        #expect(fields["child_d_after_parent_write"] == "444")
        // Both keep committing; each made one private copy.
        #expect(fields["parent_commit_after_fork"] == "777")
        #expect(fields["child_commit_after_fork"] == "999")
        #expect(fields["parent_private_copies"] == "1" && fields["child_private_copies"] == "1")
        #expect(fields["child_status"] == "0")
    }

    @Test func lazyStubsMaterializeOnBothSidesOfAFork() throws {
        let fields = try Self.fields(["fork-lazy"])
        #expect(fields["early_before_fork"] == "true" && fields["pending_before_fork"] == "1000", "\(fields)")
        // The child's first call materializes the 1,000 stubs pending at the fork with its own
        // arena bodies; stubs materialized before the fork keep working in both.
        #expect(fields["child_pending"] == "true")
        #expect(fields["child_early"] == "true")
        #expect(fields["child_more"] == "true", "lazy stubs requested after the fork, in the child")
        #expect(fields["child_batches"] == "3")
        // The parent then materializes the same pending stubs with its bodies; neither side's
        // bodies or data slots change the other's.
        #expect(fields["parent_pending"] == "true")
        #expect(fields["parent_early"] == "true")
        #expect(fields["parent_batches"] == "2")
        #expect(fields["parent_live_blobs"] == "1100")
        #expect(fields["child_pending_after_parent"] == "true")
        #expect(fields["child_status"] == "0")
    }

    @Test func forkLatencyIsReported() throws {
        let fields = try Self.fields(["fork-latency"])
        for key in ["fork_us_1mb", "fork_us_64mb", "first_commit_after_fork_us_1mb", "first_commit_after_fork_us_64mb"] {
            #expect(Double(fields[key] ?? "") != nil, "\(key) missing: \(fields)")
        }
        print("fork latency: 1 MB arena \(fields["fork_us_1mb"] ?? "?") µs, 64 MB arena \(fields["fork_us_64mb"] ?? "?") µs (\(fields["regions_64mb"] ?? "?") regions in \(fields["mappings_64mb"] ?? "?") mappings); first commit after fork (private copy): \(fields["first_commit_after_fork_us_1mb"] ?? "?") µs / \(fields["first_commit_after_fork_us_64mb"] ?? "?") µs")
    }

    /// fork() at any instant: 1,000 forks while three threads keep a pool, an arena and lazy
    /// stubs busy and a fourth makes and drops pools (under a sanitizer, 200: each fork there copies shadow memory). Without the
    /// fork handlers, 19 of 20 children hung on a lock whose holder did not exist in them.
    @Test func forkWhileThreadsWorkLeavesNoChildHung() throws {
        // Under ThreadSanitizer (debug, uninstrumented Swift runtime) a child can wait forever on
        // the Swift runtime's own once-flag for generic metadata, which a parent thread held at
        // the fork; no library's handlers can take it (seen: swift_getCanonicalPrespecialized-
        // GenericMetadata in a child's first Array.filter). The drop-in's C fork stress runs
        // under TSan (DropInTests); this one under ASan and unsanitized.
        if dlsym(nil, "__tsan_init") != nil {
            print("fork stress (Swift API): skipped under ThreadSanitizer: the Swift runtime's metadata once-flags are not fork-safe there (see ForkTests.swift)")
            return
        }
        let forks = ProcessInfo.processInfo.environment["STUBPOOL_FORK_STRESS"].flatMap { Int($0) } ?? 1_000
        // Under AddressSanitizer, its own free-memory quarantine is off in the probe: a child can
        // otherwise wait forever on the quarantine's recycle lock, which a parent thread held in
        // free() at the fork (seen once in 1,200 forks: ___interceptor_free → Quarantine::Put →
        // Drain, below Array code in the child's reclaim); ASan's fork handlers do not take it.
        var environment: [String: String] = [:]
        if dlsym(nil, "__asan_init") != nil {
            let options = ProcessInfo.processInfo.environment["ASAN_OPTIONS"].map { $0 + ":" } ?? ""
            environment["ASAN_OPTIONS"] = options + "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
        }
        let fields = try Self.fields(["fork-stress", "\(forks)"], environment: environment)
        print("fork stress (Swift API): \(fields["forks"] ?? "?") forks while 4 threads worked (\(fields["worker_rounds"] ?? "?") rounds): \(fields["children_ok"] ?? "?") children right, \(fields["children_hung"] ?? "?") hung, \(fields["children_inheritedChanged"] ?? "?") saw inherited code changed, pool/arena/lazy failures \(fields["children_poolFailed"] ?? "?")/\(fields["children_arenaFailed"] ?? "?")/\(fields["children_lazyFailed"] ?? "?"), other \(fields["children_other"] ?? "?"); parent intact: \(fields["parent_intact"] ?? "?")")
        #expect(fields["children_ok"] == "\(forks)", "\(fields)")
        #expect(fields["children_hung"] == "0", "where hung children were stuck: \(fields["stderr"] ?? "")")
        #expect(fields["parent_intact"] == "true")
        #expect(Int(fields["worker_rounds"] ?? "") ?? 0 > forks, "the workers should have kept working throughout")
    }
}
