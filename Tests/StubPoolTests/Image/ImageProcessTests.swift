import Foundation
import Testing

/// An image saved by one process and restored by another (Tests/StubPoolCrashProbe/ImageProbe.swift):
/// a different address layout, every stub called and compared with what the original returned.
@Suite struct ImageProcessTests {
    static func field(_ name: String, in line: String) -> String? {
        line.split(separator: " ").first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
    }

    @Test func anImageRestoresInAnotherProcess() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("stubpool-image-\(getpid()).img").path
        defer {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: path + ".expected")
        }
        let saved = try ChildProcess.run("StubPoolCrashProbe", arguments: ["image-save", path], timeout: 120)
        try #require(saved.terminationStatus == 0, "\(saved.standardError)")
        let restored = try ChildProcess.run("StubPoolCrashProbe", arguments: ["image-restore", path], timeout: 120)
        try #require(restored.terminationStatus == 0, "\(restored.standardError)")
        let save = saved.standardOutput, restore = restored.standardOutput
        print("image across processes: \(save.trimmingCharacters(in: .newlines)) | \(restore.trimmingCharacters(in: .newlines))")
        #expect(Self.field("stubs", in: save) == "7000" && Self.field("pending", in: save) == "1000")
        #expect(Self.field("blobs", in: save) == "400")
        // ASLR: libc and the executable sit elsewhere in the second process.
        #expect(Self.field("llabs", in: save) != Self.field("llabs", in: restore))
        #expect(Self.field("weighted3", in: save) != Self.field("weighted3", in: restore))
        #expect(Self.field("called", in: restore) == "7000")
        #expect(Self.field("mismatches", in: restore) == "0", "\(restored.standardError)")
        #expect(Self.field("pending-before", in: restore) == "1000", "pending lazy stubs re-registered")
        #expect(Self.field("batches", in: restore) == "1", "materialized in one batch on first call")
        #expect(Self.field("names", in: restore) == "true")
    }
}
