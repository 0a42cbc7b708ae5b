import Foundation

/// One line of /proc/self/maps.
struct MapsEntry: Equatable {
    var range: Range<UInt>
    var permissions: String
    var path: String

    var isWritable: Bool { permissions.dropFirst(1).first == "w" }
    var isExecutable: Bool { permissions.dropFirst(2).first == "x" }
}

enum ProcessMaps {
    static func read() -> [MapsEntry] {
        // /proc files report size 0; read until end of file.
        var bytes: [UInt8] = []
        let fd = open("/proc/self/maps", O_RDONLY)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += buffer[0..<count]
        }
        let text = String(decoding: bytes, as: UTF8.self)
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 5 else { return nil }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16) else { return nil }
            return MapsEntry(range: start..<end, permissions: String(fields[1]),
                             path: fields.count > 5 ? fields[5...].joined(separator: " ") : "")
        }
    }

    /// Entries overlapping any of `ranges`.
    static func entries(overlapping ranges: [Range<UInt>], in maps: [MapsEntry] = read()) -> [MapsEntry] {
        maps.filter { entry in ranges.contains { $0.overlaps(entry.range) } }
    }
}

@testable import StubPool

extension ProcessMaps {
    /// Entries overlapping `ranges` that are not (now) part of some live pool's chunk: what a
    /// destroyed pool would have left behind. Tests run in parallel in one process, so another
    /// pool may legitimately have mapped a new chunk at a freed address — possibly one it has not
    /// registered yet, so an entry must persist over a few looks to count as left behind.
    static func leftovers(in ranges: [Range<UInt>]) -> [MapsEntry] {
        var found = lookForLeftovers(in: ranges)
        for _ in 0..<5 where !found.isEmpty {
            usleep(20_000)
            let again = lookForLeftovers(in: ranges)
            found = found.filter { entry in again.contains(entry) }
        }
        return found
    }

    private static func lookForLeftovers(in ranges: [Range<UInt>]) -> [MapsEntry] {
        let maps = read()
        let live = ChunkRegistry.liveChunkRanges()
        // Arena regions (another test's, reusing the freed addresses) are never a pool's.
        return maps.filter { entry in
            !entry.path.contains("stubpool-arena") && ranges.contains { range in
                let lower = max(range.lowerBound, entry.range.lowerBound)
                let upper = min(range.upperBound, entry.range.upperBound)
                guard lower < upper else { return false }
                return !live.contains { $0.lowerBound <= lower && upper <= $0.upperBound }
            }
        }
    }
}
