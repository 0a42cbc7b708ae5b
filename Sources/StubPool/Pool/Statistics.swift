/// A snapshot of a pool's memory and stubs (``StubPool/statistics()``), named as
/// ``CodeArenaStatistics`` and ``LazyStatistics`` are.
public struct StubPoolStatistics: Sendable, Hashable {
    /// Stubs handed out and not released.
    public var liveStubs = 0
    /// Released stubs waiting for ``StubPool/reclaim()``.
    public var quarantinedStubs = 0
    /// Chunks mapped.
    public var chunks = 0
    /// Address space of code regions.
    public var codeBytesMapped = 0
    /// Address space of data regions.
    public var dataBytesMapped = 0
    /// Address space of payload regions (pools with ``StubPool/Configuration/payloadSize``).
    public var payloadBytesMapped = 0
    /// Resident data pages (payloads included), in bytes.
    public var residentDataBytes = 0
    /// Resident code pages, in bytes. A shared template's pages count once, however many
    /// chunks map them.
    public var residentCodeBytes = 0
    /// Slot bitmaps and per-chunk headers kept outside the executable memory.
    public var metadataBytes = 0
    /// Free slots reserved by threads' allocation caches (at most 64 per thread that
    /// allocated from the pool; returned when the thread exits).
    public var cachedSlots = 0
    /// Chunks returned to the system (unmapped) because they were entirely free after
    /// ``StubPool/reclaim()``, since the pool was created.
    public var returnedChunks = 0
    /// Bytes of address space (code, data and payloads) those chunks spanned.
    public var returnedBytes = 0
    /// Memory mappings (VMAs) the pool holds: two per chunk.
    public var mappings = 0

    /// Resident code, data and metadata bytes.
    public var residentBytes: Int { residentCodeBytes + residentDataBytes + metadataBytes }
}
