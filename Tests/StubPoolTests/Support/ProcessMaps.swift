import Foundation
import StubPoolTestSupport
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
