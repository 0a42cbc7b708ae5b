import Foundation
import Testing

/// The committed seed corpus of the fuzz target (Tests/StubPoolFuzz), replayed through the same
/// driver and invariants by the non-libFuzzer build of StubPoolFuzz, in a child process (a
/// violation traps). CI also runs the libFuzzer build for a bounded time (`.ci/run`).
@Suite struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("StubPoolFuzz/Corpus")

    @Test func seedCorpusKeepsEveryInvariant() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path)
        try #require(files.count >= 10, "seed corpus at \(Self.corpus.path)")
        let outcome = try ChildProcess.run("StubPoolFuzz", arguments: [Self.corpus.path], timeout: 300)
        #expect(outcome.terminationStatus == 0 && !outcome.terminatedBySignal, "\(outcome.standardError.suffix(3_000))")
        let line = outcome.standardOutput.split(separator: "\n").first { $0.hasPrefix("REPLAY ") }
        #expect(line?.contains("files=\(files.count) ") == true, "\(outcome.standardOutput)")
        #expect(line?.hasSuffix("faults=on") == true, "fault injection belongs in debug builds: \(outcome.standardOutput)")
        print("fuzz corpus: \(line ?? "no REPLAY line")")
    }
}
