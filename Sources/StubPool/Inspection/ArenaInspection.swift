/// What a code arena holds, class by class and blob by blob: ``CodeArena/inspect(includeBlobs:)``.
/// `Codable` (JSON through `JSONEncoder`, addresses as hex text) and printable as text.
public struct ArenaInspection: Codable, Sendable, Hashable, CustomStringConvertible {
    public struct ClassEntry: Codable, Sendable, Hashable {
        /// Bytes per blob slot of the class.
        public var size: Int
        /// 64 KiB regions the class holds, their slots, and how many of those are free.
        public var regions: Int
        public var slots: Int
        public var free: Int
        public var liveBlobs: Int
        /// Bytes the live blobs asked for.
        public var liveBytes: Int
    }

    public struct BlobEntry: Codable, Sendable, Hashable {
        public var address: CodeAddress
        public var size: Int
        public var capacity: Int
        /// The size class's slot size, or nil for a page-granular blob.
        public var sizeClass: Int?
        /// The name given at commit, if any.
        public var name: String?
    }

    public struct MappingEntry: Codable, Sendable, Hashable {
        public var executable: CodeAddress
        public var writable: CodeAddress
        public var bytes: Int
    }

    public var placement: String
    public var liveBlobs: Int
    public var liveBytes: Int
    public var mappedBytes: Int
    public var commits: Int
    /// The 64 MiB pieces, each mapped twice (executable and writable views of one memory file).
    public var mappings: [MappingEntry]
    /// Size classes holding at least one region.
    public var classes: [ClassEntry]
    /// Page-granular blobs (larger than the largest class).
    public var largeBlobs: Int
    /// Live blobs by address (empty unless asked for).
    public var blobs: [BlobEntry]

    public var description: String {
        var text = "arena: \(placement), \(liveBlobs) live blobs, \(liveBytes) bytes of code in \(mappedBytes) mapped, \(commits) commits\n"
        for mapping in mappings {
            text += "  piece: executable \(mapping.executable) writable \(mapping.writable) +\(mapping.bytes)\n"
        }
        for entry in classes {
            text += "  class \(entry.size) B: \(entry.regions) regions, \(entry.liveBlobs) live (\(entry.liveBytes) B), \(entry.free) of \(entry.slots) slots free\n"
        }
        if largeBlobs > 0 { text += "  page-granular: \(largeBlobs) live\n" }
        for blob in blobs {
            text += "    \(blob.address) \(blob.size)/\(blob.capacity) B \(blob.name ?? "-")\n"
        }
        return text
    }
}

extension CodeArena: CustomDebugStringConvertible {
    /// Mappings, size classes and, with `includeBlobs`, every live blob (address, size, slot
    /// capacity, name). Taken under the arena's lock: one consistent view. Linear in the slots of
    /// the regions mapped.
    public func inspect(includeBlobs: Bool = true) -> ArenaInspection {
        state.withLock { state in
            let statistics = state.currentStatistics()
            let live = state.liveBlobs()
            var classes = state.classOccupancy().map {
                ArenaInspection.ClassEntry(size: $0.size, regions: $0.regions, slots: $0.slots, free: $0.free, liveBlobs: 0, liveBytes: 0)
            }
            var large = 0
            for (blob, sizeClass) in live {
                guard sizeClass >= 0 else {
                    large += 1
                    continue
                }
                classes[sizeClass].liveBlobs += 1
                classes[sizeClass].liveBytes += blob.size
            }
            let blobs = includeBlobs ? live.map { blob, sizeClass in
                ArenaInspection.BlobEntry(address: CodeAddress(blob.address), size: blob.size, capacity: blob.capacity,
                                          sizeClass: sizeClass >= 0 ? blob.capacity : nil, name: state.names[blob.address])
            }.sorted { $0.address < $1.address } : []
            return ArenaInspection(
                placement: placement == .packed ? "packed" : "staggered", liveBlobs: statistics.liveBlobs, liveBytes: statistics.liveBytes,
                mappedBytes: statistics.mappedBytes, commits: statistics.commits,
                mappings: state.space.views.map {
                    ArenaInspection.MappingEntry(executable: CodeAddress($0.executable.lowerBound), writable: CodeAddress($0.writable.lowerBound),
                                                 bytes: $0.executable.count)
                },
                classes: classes.filter { $0.regions > 0 }, largeBlobs: large, blobs: blobs)
        }
    }

    /// A summary of ``inspect(includeBlobs:)`` without the blobs.
    public var debugDescription: String { inspect(includeBlobs: false).description }
}
