/// The code arena's bookkeeping (guarded by the arena's lock): its memory (one file, see
/// ``ArenaSpace``); per size class, 64 KiB regions carved from it and their occupancy bitmaps;
/// page-granular extents for large blobs; live blobs by address.
struct ArenaState {
    struct SizeClass {
        var allocator = SlotAllocator()
        /// File offsets of the class's regions.
        var regions: [Int] = []
    }

    let space = ArenaSpace()
    private var classes: [SizeClass]
    /// Large blobs' extents (file offset, bytes) by id.
    private var large: [Int: (offset: Int, size: Int)] = [:]
    private var nextLargeID = 0
    private var live: [UInt: CodeBlob] = [:]
    var statistics = CodeArenaStatistics()
    /// The fork generation in which every region was last made this process's own.
    private var privateGeneration = ForkGeneration.current

    init(classCount: Int) { classes = Array(repeating: SizeClass(), count: classCount) }

    private static var pageSize: Int { Kernel.pageSize }
    private static var pagesPerRegion: Int { CodeArena.regionSize / pageSize }
    private static func slotsPerPage(_ size: Int) -> Int { pageSize / size }

    /// Byte offset inside a region of logical slot `slot` of a class of `size` bytes.
    private static func offset(ofSlot slot: Int, size: Int, placement: CodeArena.BlobPlacement) -> Int {
        let perPage = slotsPerPage(size), pages = pagesPerRegion
        switch placement {
        case .packed:
            return slot / perPage * pageSize + slot % perPage * size
        case .staggered:
            let page = slot % pages, round = slot / pages
            let shift = max(1, Placement.cacheLineSize / size)
            return page * pageSize + (round + page * shift) % perPage * size
        }
    }

    /// After a `fork()`, gives the arena a memory file of its own before anything is written
    /// (``ArenaSpace/makePrivate()``); O(1) when no fork happened. On failure nothing changed.
    mutating func makePrivateAfterFork() throws(SystemError) {
        let current = ForkGeneration.current
        guard privateGeneration != current else { return }
        try space.makePrivate()
        privateGeneration = current
        statistics.privateCopiesAfterFork += 1
    }

    // MARK: Placing

    /// Reserves room for a blob of `size` bytes, mapping a region if needed.
    mutating func place(size: Int, placement: CodeArena.BlobPlacement) throws(SystemError) -> CodeBlob {
        guard size <= SizeClasses.largest else {
            let bytes = (size + Self.pageSize - 1) / Self.pageSize * Self.pageSize
            let extent = try space.carve(bytes)
            let id = nextLargeID
            nextLargeID += 1
            large[id] = (extent, bytes)
            return CodeBlob(address: space.executableAddress(extent), size: size, capacity: bytes, sizeClass: -1,
                            region: id, slot: 0, offset: 0)
        }
        let index = SizeClasses.index(for: size)
        let classSize = SizeClasses.sizes[index]
        if classes[index].allocator.freeSlots == 0 {
            classes[index].regions.append(try space.carve(CodeArena.regionSize))
            _ = classes[index].allocator.addChunk(capacity: Self.pagesPerRegion * Self.slotsPerPage(classSize))
        }
        let address = classes[index].allocator.allocateLowest()!
        let offset = Self.offset(ofSlot: address.slot, size: classSize, placement: placement)
        let region = classes[index].regions[address.chunk]
        return CodeBlob(address: space.executableAddress(region + offset), size: size, capacity: classSize,
                        sizeClass: index, region: address.chunk, slot: address.slot, offset: offset)
    }

    struct Checkpoint {
        var regionCounts: [Int]
        var pieces: Int
    }

    func checkpoint() -> Checkpoint {
        Checkpoint(regionCounts: classes.map(\.regions.count), pieces: space.pieceCount)
    }

    /// Undoes `place` calls made since `checkpoint`: frees their slots, returns regions carved
    /// since and unmaps pieces mapped since.
    mutating func rollBack(to checkpoint: Checkpoint, placed: [CodeBlob]) {
        for blob in placed where blob.sizeClass >= 0 {
            classes[blob.sizeClass].allocator.free(SlotAddress(chunk: blob.region, slot: blob.slot))
        }
        for index in classes.indices {
            // Only regions mapped since the checkpoint that hold nothing: a concurrent commit may
            // have mapped (and filled) regions after ours.
            while classes[index].regions.count > checkpoint.regionCounts[index],
                  classes[index].allocator.chunks.last?.isEmpty == true {
                space.release(classes[index].regions.removeLast(), size: CodeArena.regionSize)
                classes[index].allocator.removeLastChunk()
            }
        }
        for blob in placed where blob.sizeClass < 0 {
            if let extent = large.removeValue(forKey: blob.region) { space.release(extent.offset, size: extent.size) }
        }
        space.trimPieces(to: checkpoint.pieces)
    }

    /// The file offset of `blob`'s first byte (in ``space``).
    func fileOffset(of blob: CodeBlob) -> Int {
        blob.sizeClass < 0 ? large[blob.region]!.offset : classes[blob.sizeClass].regions[blob.region] + blob.offset
    }

    // MARK: Live blobs

    mutating func account(_ blob: CodeBlob, requested: Int) {
        live[blob.address] = blob
        statistics.liveBlobs += 1
        statistics.liveBytes += requested
        if blob.capacity > requested { statistics.wastedBytesByClass[wasteKey(blob), default: 0] += blob.capacity - requested }
    }

    func isLive(_ blob: CodeBlob) -> Bool { live[blob.address] == blob }
    func liveBlob(at address: UInt) -> CodeBlob? { live[address] }

    mutating func release(_ blob: CodeBlob) {
        unaccount(blob)
        if blob.sizeClass < 0 {
            if let extent = large.removeValue(forKey: blob.region) { space.release(extent.offset, size: extent.size) }
        } else {
            classes[blob.sizeClass].allocator.free(SlotAddress(chunk: blob.region, slot: blob.slot))
        }
    }

    /// Forgets a live blob's accounting, leaving its space reserved.
    mutating func unaccount(_ blob: CodeBlob) {
        live.removeValue(forKey: blob.address)
        statistics.liveBlobs -= 1
        statistics.liveBytes -= blob.size
        if blob.capacity > blob.size {
            statistics.wastedBytesByClass[wasteKey(blob), default: 0] -= blob.capacity - blob.size
            if statistics.wastedBytesByClass[wasteKey(blob)] == 0 { statistics.wastedBytesByClass.removeValue(forKey: wasteKey(blob)) }
        }
    }

    private func wasteKey(_ blob: CodeBlob) -> Int { blob.sizeClass < 0 ? 0 : SizeClasses.sizes[blob.sizeClass] }

    func currentStatistics() -> CodeArenaStatistics {
        var statistics = self.statistics
        statistics.regions = classes.reduce(large.count) { $0 + $1.regions.count }
        statistics.mappedBytes = space.carvedBytes
        statistics.reservedBytes = space.pieceCount * ArenaSpace.pieceSize
        statistics.mappings = space.mappingCount
        statistics.fileDescriptors = space.fileDescriptorCount
        return statistics
    }
}
