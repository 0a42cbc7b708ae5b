/// What a code arena holds, class by class and blob by blob: ``CodeArena/inspect(includeBlobs:)``.
/// `Codable` (JSON through `JSONEncoder`, addresses as hex text) and printable as text.
public struct ArenaInspection: Codable, Sendable, Hashable, CustomStringConvertible {
    /// One size class that holds at least one region.
    public struct ClassEntry: Codable, Sendable, Hashable {
        /// Bytes per blob slot of the class.
        public var size: Int
        /// 64 KiB regions the class holds, their slots, and how many of those are free.
        public var regions: Int
        /// Blob slots in those regions.
        public var slots: Int
        /// Free slots among them.
        public var free: Int
        /// Live blobs of the class.
        public var liveBlobs: Int
        /// Bytes the live blobs asked for.
        public var liveBytes: Int
    }

    /// One live blob.
    public struct BlobEntry: Codable, Sendable, Hashable {
        /// Where the blob's code runs.
        public var address: CodeAddress
        /// Bytes committed.
        public var size: Int
        /// Bytes reserved: the class's slot size, or whole pages.
        public var capacity: Int
        /// The size class's slot size, or nil for a page-granular blob.
        public var sizeClass: Int?
        /// The name given at commit, if any.
        public var name: String?
    }

    /// One 64 MiB piece of the arena's file and its two views.
    public struct MappingEntry: Codable, Sendable, Hashable {
        /// The read+execute view, where code runs.
        public var executable: CodeAddress
        /// The read+write view, used only to write code.
        public var writable: CodeAddress
        /// Bytes of each view.
        public var bytes: Int
    }

    /// The arena's ``CodeArena/BlobPlacement``, as text.
    public var placement: String
    /// Blobs committed and not freed.
    public var liveBlobs: Int
    /// Bytes those blobs asked for.
    public var liveBytes: Int
    /// Bytes carved for code (regions and page-granular blobs).
    public var mappedBytes: Int
    /// Successful commits.
    public var commits: Int
    /// The 64 MiB pieces, each mapped twice (executable and writable views of one memory file).
    public var mappings: [MappingEntry]
    /// Size classes holding at least one region.
    public var classes: [ClassEntry]
    /// Page-granular blobs (larger than the largest class).
    public var largeBlobs: Int
    /// Live blobs by address (empty unless asked for).
    public var blobs: [BlobEntry]

    /// The summary line, a line per piece and per class and, when listed, a line per blob.
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
        let contents = contents(fields: false)
        var classes = contents.classes.map {
            ArenaInspection.ClassEntry(size: $0.size, regions: $0.regions, slots: $0.slots, free: $0.free, liveBlobs: 0, liveBytes: 0)
        }
        var large = 0
        for live in contents.blobs {
            guard let sizeClass = live.sizeClass else {
                large += 1
                continue
            }
            classes[sizeClass].liveBlobs += 1
            classes[sizeClass].liveBytes += live.blob.size
        }
        let blobs = includeBlobs ? contents.blobs.map { live in
            ArenaInspection.BlobEntry(address: CodeAddress(live.blob.address), size: live.blob.size, capacity: live.blob.capacity,
                                      sizeClass: live.sizeClass == nil ? nil : live.blob.capacity, name: live.name)
        }.sorted { $0.address < $1.address } : []
        let statistics = contents.statistics
        return ArenaInspection(
            placement: placement == .packed ? "packed" : "spread", liveBlobs: statistics.liveBlobs, liveBytes: statistics.liveBytes,
            mappedBytes: statistics.mappedBytes, commits: statistics.commits,
            mappings: contents.mappings.map {
                ArenaInspection.MappingEntry(executable: CodeAddress($0.executable.lowerBound), writable: CodeAddress($0.writable.lowerBound),
                                             bytes: $0.executable.count)
            },
            classes: classes.filter { $0.regions > 0 }, largeBlobs: large, blobs: blobs)
    }

    /// A summary of ``inspect(includeBlobs:)`` without the blobs.
    public var debugDescription: String { inspect(includeBlobs: false).description }
}
