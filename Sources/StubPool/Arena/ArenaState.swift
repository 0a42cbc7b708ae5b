/// The code arena's bookkeeping (guarded by the arena's lock): its memory (one file, see
/// ``ArenaSpace``); per size class, 64 KiB regions carved from it and their occupancy bitmaps;
/// page-granular extents for large blobs. A small blob's liveness is its slot's entry in its
/// class's `requested` sizes (no hashing on commit or free); an address is resolved through the
/// owner of its file page. Large blobs are kept by address.
struct ArenaState {
    struct SizeClass {
        /// Blob size, blobs per page and per region (precomputed: divisions were ≈9% of a commit).
        let size: Int
        let perPage: Int
        let perRegion: Int
        var allocator = SlotAllocator()
        /// File offsets of the class's regions.
        var regions: [Int] = []
        /// Bytes requested by the live blob of each slot (0: none), region after region.
        var requested: [UInt32] = []
        /// Bytes reserved by live blobs beyond what they requested.
        var wasted = 0
    }

    let space = ArenaSpace()
    let placement: CodeArena.BlobPlacement
    private var classes: [SizeClass]
    /// Per page of the arena's file: 0, or 1 + (class index << 24 | region index) for a page of a
    /// size class's region.
    private var pageOwners: [UInt32] = []
    /// Live large blobs by address (their extent: the file offset of the address, `capacity` bytes).
    /// Each gets a serial number as its `region`, so a stale handle never matches a new blob
    /// placed at the same address.
    private var largeLive: [UInt: CodeBlob] = [:]
    private var nextLargeSerial = 0
    private var largeWasted = 0
    var statistics = CodeArenaStatistics()
    /// The fork generation in which every region was last made this process's own.
    private var privateGeneration = ForkGeneration.current

    init(classCount: Int, placement: CodeArena.BlobPlacement) {
        classes = SizeClasses.sizes.prefix(classCount).map { size in
            SizeClass(size: size, perPage: Self.pageSize / size, perRegion: Self.pagesPerRegion * (Self.pageSize / size))
        }
        self.placement = placement
    }

    /// The logical slot whose blob starts `offset` bytes into a region of a class of `size`
    /// bytes, if one does (the inverse of `offset(ofSlot:size:placement:)`).
    private static func slot(atOffset offset: Int, size: Int, perPage: Int, placement: CodeArena.BlobPlacement) -> Int? {
        let page = offset / pageSize, inPage = offset % pageSize
        guard offset >= 0, page < pagesPerRegion, inPage % size == 0, inPage / size < perPage else { return nil }
        let position = inPage / size
        let slot: Int
        switch placement {
        case .packed:
            slot = page * perPage + position
        case .staggered:
            let shift = max(1, Placement.cacheLineSize / size)
            let round = ((position - page * shift) % perPage + perPage) % perPage
            slot = round * pagesPerRegion + page
        }
        return slot < perPage * pagesPerRegion && Self.offset(ofSlot: slot, size: size, perPage: perPage, placement: placement) == offset ? slot : nil
    }

    /// Read once: `Kernel.pageSize` is a lazy global, checked on every access.
    private static let pageSize = Kernel.pageSize
    private static var pagesPerRegion: Int { CodeArena.regionSize / pageSize }

    /// Byte offset inside a region of logical slot `slot` of a class of `size` bytes.
    private static func offset(ofSlot slot: Int, size: Int, perPage: Int, placement: CodeArena.BlobPlacement) -> Int {
        let pages = pagesPerRegion
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
            nextLargeSerial += 1
            return CodeBlob(address: space.executableAddress(extent), size: size, capacity: bytes, sizeClass: -1,
                            region: nextLargeSerial, slot: 0, offset: 0)
        }
        let index = SizeClasses.index(for: size)
        let classSize = SizeClasses.sizes[index]
        if classes[index].allocator.freeSlots == 0 {
            let region = try space.carve(CodeArena.regionSize)
            setOwner(of: region, to: UInt32(1 + (index << 24 | classes[index].regions.count)))
            classes[index].regions.append(region)
            classes[index].requested.append(contentsOf: repeatElement(0, count: classes[index].perRegion))
            _ = classes[index].allocator.addChunk(capacity: classes[index].perRegion)
        }
        let address = classes[index].allocator.allocateLowest()!
        let offset = Self.offset(ofSlot: address.slot, size: classSize, perPage: classes[index].perPage, placement: placement)
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
                let region = classes[index].regions.removeLast()
                setOwner(of: region, to: 0)
                space.release(region, size: CodeArena.regionSize)
                classes[index].requested.removeLast(classes[index].perRegion)
                classes[index].allocator.removeLastChunk()
            }
        }
        for blob in placed where blob.sizeClass < 0 {
            space.release(fileOffset(of: blob), size: blob.capacity)
        }
        space.trimPieces(to: checkpoint.pieces)
    }

    private mutating func setOwner(of region: Int, to owner: UInt32) {
        let first = region / Self.pageSize, end = first + Self.pagesPerRegion
        if pageOwners.count < end { pageOwners.append(contentsOf: repeatElement(0, count: end - pageOwners.count)) }
        for page in first..<end { pageOwners[page] = owner }
    }

    /// The file offset of `blob`'s first byte (in ``space``).
    func fileOffset(of blob: CodeBlob) -> Int {
        blob.sizeClass < 0 ? space.fileOffset(ofExecutable: blob.address)! : classes[blob.sizeClass].regions[blob.region] + blob.offset
    }

    // MARK: Live blobs

    mutating func account(_ blob: CodeBlob, requested: Int) {
        statistics.liveBlobs += 1
        statistics.liveBytes += requested
        if blob.sizeClass < 0 {
            largeLive[blob.address] = blob
            largeWasted += blob.capacity - requested
        } else {
            let perRegion = classes[blob.sizeClass].perRegion
            classes[blob.sizeClass].requested[blob.region * perRegion + blob.slot] = UInt32(requested)
            classes[blob.sizeClass].wasted += blob.capacity - requested
        }
    }

    /// Whether `blob` is a live blob of this arena, exactly as ``CodeArena/commit(_:)`` returned it.
    func isLive(_ blob: CodeBlob) -> Bool {
        guard blob.sizeClass >= 0 else { return largeLive[blob.address] == blob }
        guard blob.sizeClass < classes.count, blob.region >= 0, blob.region < classes[blob.sizeClass].regions.count,
              blob.capacity == SizeClasses.sizes[blob.sizeClass],
              blob.slot >= 0, blob.slot < classes[blob.sizeClass].perRegion else { return false }
        let requested = classes[blob.sizeClass].requested[blob.region * classes[blob.sizeClass].perRegion + blob.slot]
        // Handles are made only by arenas: the address (unique to this arena) vouches for the offset.
        return requested != 0 && Int(requested) == blob.size
            && blob.address == space.executableAddress(classes[blob.sizeClass].regions[blob.region] + blob.offset)
    }

    /// The live blob starting at `address`, if any.
    func liveBlob(at address: UInt) -> CodeBlob? {
        guard let offset = space.fileOffset(ofExecutable: address) else { return nil }
        let page = offset / Self.pageSize
        guard page < pageOwners.count, pageOwners[page] != 0 else { return largeLive[address] }
        let owner = Int(pageOwners[page] - 1), index = owner >> 24, region = owner & 0xFF_FFFF
        let size = SizeClasses.sizes[index], within = offset - classes[index].regions[region]
        guard let slot = Self.slot(atOffset: within, size: size, perPage: classes[index].perPage, placement: placement) else { return nil }
        let requested = classes[index].requested[region * classes[index].perRegion + slot]
        guard requested != 0 else { return nil }
        return CodeBlob(address: address, size: Int(requested), capacity: size, sizeClass: index, region: region,
                        slot: slot, offset: within)
    }

    mutating func release(_ blob: CodeBlob) {
        unaccount(blob)
        if blob.sizeClass < 0 {
            space.release(fileOffset(of: blob), size: blob.capacity)
        } else {
            classes[blob.sizeClass].allocator.free(SlotAddress(chunk: blob.region, slot: blob.slot))
        }
    }

    /// Forgets a live blob's accounting, leaving its space reserved.
    mutating func unaccount(_ blob: CodeBlob) {
        statistics.liveBlobs -= 1
        statistics.liveBytes -= blob.size
        if blob.sizeClass < 0 {
            largeLive.removeValue(forKey: blob.address)
            largeWasted -= blob.capacity - blob.size
        } else {
            classes[blob.sizeClass].requested[blob.region * classes[blob.sizeClass].perRegion + blob.slot] = 0
            classes[blob.sizeClass].wasted -= blob.capacity - blob.size
        }
    }

    func currentStatistics() -> CodeArenaStatistics {
        var statistics = self.statistics
        statistics.regions = classes.reduce(largeLive.count) { $0 + $1.regions.count }
        statistics.mappedBytes = space.carvedBytes
        statistics.reservedBytes = space.pieceCount * ArenaSpace.pieceSize
        statistics.mappings = space.mappingCount
        statistics.fileDescriptors = space.fileDescriptorCount
        for (index, sizeClass) in classes.enumerated() where sizeClass.wasted > 0 {
            statistics.wastedBytesByClass[SizeClasses.sizes[index]] = sizeClass.wasted
        }
        if largeWasted > 0 { statistics.wastedBytesByClass[0] = largeWasted }
        return statistics
    }
}
