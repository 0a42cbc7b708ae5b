/// Counters of a ``CodeArena``.
public struct CodeArenaStatistics: Sendable, Hashable {
    /// Blobs committed and not freed.
    public var liveBlobs = 0
    /// Bytes requested by live blobs.
    public var liveBytes = 0
    /// Bytes reserved for live blobs beyond what they requested, per size class (class size →
    /// bytes); page-granular blobs under key 0.
    public var wastedBytesByClass: [Int: Int] = [:]
    /// Bytes carved for code: every size-class region and page-granular blob (live or free inside).
    public var mappedBytes = 0
    /// Address space reserved: the arena's memory file is mapped in 64 MiB pieces (sparse: pages
    /// never written use no memory).
    public var reservedBytes = 0
    /// 1 − live bytes / mapped bytes: how much of the mapped memory holds no live code.
    public var fragmentation: Double { mappedBytes == 0 ? 0 : 1 - Double(liveBytes) / Double(mappedBytes) }
    /// Size-class regions (64 KiB) and page-granular blobs.
    public var regions = 0
    /// Two per 64 MiB piece (the writable and the executable view), whatever the regions.
    public var mappings = 0
    /// Open file descriptors: one memory file per arena once it holds code, else 0.
    public var fileDescriptors = 0
    /// Successful commits (``CodeArena/commit(_:names:)-([[UInt8]],_)`` and friends).
    public var commits = 0
    /// Instruction-cache maintenance passes: one per commit or write.
    public var cacheMaintenancePasses = 0
    /// Times this process gave the arena memory files of its own after a `fork()`.
    public var privateCopiesAfterFork = 0
}
