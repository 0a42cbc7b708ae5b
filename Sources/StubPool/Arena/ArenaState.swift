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
        /// Index + 1 into `fieldStore` of each slot's address fields (0: none), like `requested`.
        var fieldLists: [UInt32] = []
        /// Bytes reserved by live blobs beyond what they requested.
        var wasted = 0
    }

    let space = ArenaSpace()
    let placement: CodeArena.BlobPlacement
    /// The size classes (also kept by `ArenaState+AddressFields.swift`: per-slot field lists).
    var classes: [SizeClass]
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
    /// Names given to live blobs at commit (kept only when names are given), by address.
    var names: [UInt: String] = [:]
    /// Call-frame information of live blobs committed with a ``CodeFrame``, by address: the
    /// commit's one registration and the blob's FDE in it (taken out when the blob is freed; the
    /// registration goes when its last blob does).
    var frames: [UInt: (batch: FrameBatch, index: Int)] = [:]

    /// One commit's call-frame registration and how many of its blobs are live.
    final class FrameBatch {
        let registration: UnwindRegistration
        var live: Int
        init(_ registration: UnwindRegistration, live: Int) {
            self.registration = registration
            self.live = live
        }
    }

    /// Registers the frames of `placed` (nil: none) in one registration.
    mutating func registerFrames(of placed: [CodeBlob], _ frames: [CodeFrame?], architecture: Architecture) {
        var ranges: [(code: Range<UInt>, instructions: [UInt8])] = [], framed: [UInt] = []
        for (blob, frame) in zip(placed, frames) {
            guard let frame else { continue }
            ranges.append((blob.address..<(blob.address + UInt(blob.size)), frame.instructions))
            framed.append(blob.address)
        }
        guard let registration = UnwindRegistration(ranges: ranges, architecture: architecture) else { return }
        let batch = FrameBatch(registration, live: framed.count)
        for (index, address) in framed.enumerated() { self.frames[address] = (batch, index) }
    }

    /// Takes the frame of the blob at `address` (being freed) out of its registration.
    mutating func forgetFrame(ofBlobAt address: UInt) {
        guard !frames.isEmpty, let (batch, index) = frames.removeValue(forKey: address) else { return }
        batch.registration.disable(index)
        batch.live -= 1
        if batch.live == 0 { batch.registration.deregister() }
    }
    /// Fields that hold addresses (from relocations), by blob address: what a ``StubImage``
    /// names symbolically. The value is read back from the code, so patches are seen. Kept by
    /// `ArenaState+AddressFields.swift`.
    var fieldStore: [AddressFields] = []
    var freeFieldLists: [UInt32] = []
    /// Page-granular blobs' field lists, by address (few blobs, so a dictionary).
    var largeFieldLists: [UInt: UInt32] = [:]

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
        case .spread:
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
        case .spread:
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

    // MARK: Committing

    /// Places every blob of a batch, copies its bytes through the writable view (trap bytes after
    /// them up to the slot's end) and accounts it live; returns the handles in batch order. All
    /// regions and extents the batch needs are carved first, so a failure (no memory, no address
    /// space) changes nothing; after that nothing can fail.
    ///
    /// Small blobs are handled class by class: each class's slots are taken as runs of adjacent
    /// slots (one bitmap scan per run, not per blob) and walked with running offsets, so the
    /// per-blob work is a copy and three stores. Also returns the checkpoint taken before, for
    /// taking the whole batch back later (see ``rollBack(to:placed:)``).
    mutating func commit(_ blobs: some BlobBytes, trapFill: [UInt8]) throws(SystemError) -> (placed: [CodeBlob], checkpoint: Checkpoint) {
        let count = blobs.count
        let large = UInt8.max
        // Class of every blob (`large`: page-granular), and how many per class.
        var classOf = [UInt8](repeating: large, count: count)
        var perClass = [Int](repeating: 0, count: classes.count)
        var largeCount = 0
        let classByQuarter = SizeClasses.indexByQuarter
        for index in 0..<count {
            let size = blobs.size(of: index)
            if size <= SizeClasses.largest {
                let sizeClass = Int(classByQuarter[(size + 3) >> 2])
                classOf[index] = UInt8(sizeClass)
                perClass[sizeClass] += 1
            } else {
                largeCount += 1
            }
        }

        // Room for all of it, or nothing.
        let checkpoint = checkpoint()
        var largeExtents: [(index: Int, offset: Int, capacity: Int)] = []
        do throws(SystemError) {
            for sizeClass in perClass.indices where perClass[sizeClass] > classes[sizeClass].allocator.freeSlots {
                while classes[sizeClass].allocator.freeSlots < perClass[sizeClass] { try addRegion(to: sizeClass) }
            }
            if largeCount > 0 {
                largeExtents.reserveCapacity(largeCount)
                for index in 0..<count where classOf[index] == large {
                    let capacity = (blobs.size(of: index) + Self.pageSize - 1) / Self.pageSize * Self.pageSize
                    largeExtents.append((index, try space.carve(capacity), capacity))
                }
            }
        } catch {
            for extent in largeExtents { space.release(extent.offset, size: extent.capacity) }
            rollBack(to: checkpoint, placed: [])
            throw error
        }

        // Batch positions grouped by class (a counting sort), batch order kept inside a class.
        var starts = [Int](repeating: 0, count: classes.count + 1)
        for sizeClass in perClass.indices { starts[sizeClass + 1] = starts[sizeClass] + perClass[sizeClass] }
        var order = [Int32](repeating: 0, count: count - largeCount)
        var next = starts
        for index in 0..<count where classOf[index] != large {
            order[next[Int(classOf[index])]] = Int32(index)
            next[Int(classOf[index])] += 1
        }

        var liveBytes = 0
        let placed = [CodeBlob](unsafeUninitializedCapacity: count) { handles, initialized in
            for sizeClass in perClass.indices where perClass[sizeClass] > 0 {
                liveBytes += fill(sizeClass, with: blobs, order: order[starts[sizeClass]..<starts[sizeClass + 1]],
                                  trapFill: trapFill, into: handles)
            }
            for extent in largeExtents {
                let size = blobs.size(of: extent.index)
                blobs.withBytes(of: extent.index) { space.write($0, at: extent.offset) }
                space.fill(trapFill, at: extent.offset + size, count: extent.capacity - size)
                nextLargeSerial += 1
                let blob = CodeBlob(address: space.executableAddress(extent.offset), size: size, capacity: extent.capacity,
                                    sizeClass: nil, region: nextLargeSerial, slot: 0, offset: 0)
                largeLive[blob.address] = blob
                largeWasted += extent.capacity - size
                liveBytes += size
                (handles.baseAddress! + extent.index).initialize(to: blob)
            }
            initialized = count
        }
        statistics.liveBlobs += count
        statistics.liveBytes += liveBytes
        return (placed, checkpoint)
    }

    /// Takes slots of class `sizeClass` for the blobs at batch positions `order` (the class's
    /// allocator has room for all), writes them and their handles; returns the bytes requested.
    private mutating func fill(_ sizeClass: Int, with blobs: some BlobBytes, order: ArraySlice<Int32>, trapFill: [UInt8],
                               into handles: UnsafeMutableBufferPointer<CodeBlob>) -> Int {
        var runs: [(region: Int, first: Int, length: Int)] = []
        _ = classes[sizeClass].allocator.allocateLowest(count: order.count) { (first: SlotAddress, length: Int) in
            runs.append((first.chunk, first.slot, length))
        }
        let size = classes[sizeClass].size, perPage = classes[sizeClass].perPage, perRegion = classes[sizeClass].perRegion
        let regions = classes[sizeClass].regions
        let packed = placement == .packed
        // A local copy: the static is checked for initialization on every access (≈8% of a commit).
        let pageSize = Self.pageSize
        var position = order.startIndex, requestedBytes = 0
        classes[sizeClass].requested.withUnsafeMutableBufferPointer { requested in
            for run in runs {
                let regionOffset = regions[run.region]
                let writable = space.writable(regionOffset, count: CodeArena.regionSize)
                let executable = space.executableAddress(regionOffset)
                // Packed: running page and position instead of two divisions per slot.
                var page = run.first / perPage, inPage = run.first % perPage
                for slot in run.first..<(run.first + run.length) {
                    let offset: Int
                    if packed {
                        offset = page * pageSize + inPage * size
                        inPage += 1
                        if inPage == perPage { inPage = 0; page += 1 }
                    } else {
                        offset = Self.offset(ofSlot: slot, size: size, perPage: perPage, placement: placement)
                    }
                    let index = Int(order[position])
                    position += 1
                    let count = blobs.size(of: index)
                    blobs.withBytes(of: index) { Self.copy($0, to: writable + offset) }
                    if count < size { space.fill(trapFill, at: regionOffset + offset + count, count: size - count) }
                    requested[run.region * perRegion + slot] = UInt32(count)
                    requestedBytes += count
                    (handles.baseAddress! + index).initialize(to: CodeBlob(
                        address: executable + UInt(offset), size: count, capacity: size, sizeClass: sizeClass,
                        region: run.region, slot: slot, offset: offset))
                }
            }
        }
        classes[sizeClass].wasted += order.count * size - requestedBytes
        return requestedBytes
    }

    /// Copies a blob's bytes: blobs of up to 16 bytes with two overlapping loads and stores
    /// instead of a call to `memmove` (stubs are mostly that small).
    private static func copy(_ bytes: UnsafeRawBufferPointer, to destination: UnsafeMutableRawPointer) {
        let count = bytes.count
        guard let source = bytes.baseAddress else { return }
        switch count {
        case 8...16:
            let head = source.loadUnaligned(as: UInt64.self), tail = source.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
            destination.storeBytes(of: head, as: UInt64.self)
            destination.storeBytes(of: tail, toByteOffset: count - 8, as: UInt64.self)
        case 4..<8:
            let head = source.loadUnaligned(as: UInt32.self), tail = source.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
            destination.storeBytes(of: head, as: UInt32.self)
            destination.storeBytes(of: tail, toByteOffset: count - 4, as: UInt32.self)
        default:
            destination.copyMemory(from: source, byteCount: count)
        }
    }

    /// Carves a region for class `sizeClass` and adds it to the class's allocator.
    private mutating func addRegion(to sizeClass: Int) throws(SystemError) {
        let region = try space.carve(CodeArena.regionSize)
        setOwner(of: region, to: UInt32(1 + (sizeClass << 24 | classes[sizeClass].regions.count)))
        classes[sizeClass].regions.append(region)
        classes[sizeClass].requested.append(contentsOf: repeatElement(0, count: classes[sizeClass].perRegion))
        classes[sizeClass].fieldLists.append(contentsOf: repeatElement(0, count: classes[sizeClass].perRegion))
        _ = classes[sizeClass].allocator.addChunk(capacity: classes[sizeClass].perRegion)
    }

    struct Checkpoint {
        var regionCounts: [Int]
        var pieces: Int
    }

    func checkpoint() -> Checkpoint {
        Checkpoint(regionCounts: classes.map { $0.regions.count }, pieces: space.pieceCount)
    }

    /// Undoes the placement of `placed`, made since `checkpoint`: frees their slots, returns regions carved
    /// since and unmaps pieces mapped since.
    mutating func rollBack(to checkpoint: Checkpoint, placed: [CodeBlob]) {
        for blob in placed {
            guard let sizeClass = blob.sizeClass else { continue }
            classes[sizeClass].allocator.free(SlotAddress(chunk: blob.region, slot: blob.slot))
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
                classes[index].fieldLists.removeLast(classes[index].perRegion)
                classes[index].allocator.removeLastChunk()
            }
        }
        for blob in placed where blob.sizeClass == nil {
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
        guard let sizeClass = blob.sizeClass else { return space.fileOffset(ofExecutable: blob.address)! }
        return classes[sizeClass].regions[blob.region] + blob.offset
    }

    // MARK: Live blobs

    /// Whether `blob` is a live blob of this arena, exactly as ``CodeArena/commit(_:)`` returned it.
    func isLive(_ blob: CodeBlob) -> Bool {
        guard let sizeClass = blob.sizeClass else { return largeLive[blob.address] == blob }
        guard sizeClass < classes.count, blob.region >= 0, blob.region < classes[sizeClass].regions.count,
              blob.capacity == classes[sizeClass].size,
              blob.slot >= 0, blob.slot < classes[sizeClass].perRegion else { return false }
        let requested = classes[sizeClass].requested[blob.region * classes[sizeClass].perRegion + blob.slot]
        // Handles are made only by arenas: the address (unique to this arena) vouches for the offset.
        return requested != 0 && Int(requested) == blob.size
            && blob.address == space.executableAddress(classes[sizeClass].regions[blob.region] + blob.offset)
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

    /// Every live blob with its class's index (nil: page-granular), by class, then region and slot.
    func liveBlobs() -> [(blob: CodeBlob, sizeClass: Int?)] {
        var blobs: [(blob: CodeBlob, sizeClass: Int?)] = []
        for (index, sizeClass) in classes.enumerated() {
            for (region, regionOffset) in sizeClass.regions.enumerated() {
                for slot in 0..<sizeClass.perRegion {
                    let requested = sizeClass.requested[region * sizeClass.perRegion + slot]
                    guard requested != 0 else { continue }
                    let offset = Self.offset(ofSlot: slot, size: sizeClass.size, perPage: sizeClass.perPage, placement: placement)
                    blobs.append((CodeBlob(address: space.executableAddress(regionOffset + offset), size: Int(requested),
                                           capacity: sizeClass.size, sizeClass: index, region: region, slot: slot, offset: offset), index))
                }
            }
        }
        for blob in largeLive.values { blobs.append((blob, nil)) }
        return blobs
    }

    /// Regions and free slots of each size class (class size, regions, slots, free slots).
    func classOccupancy() -> [(size: Int, regions: Int, slots: Int, free: Int)] {
        classes.map { ($0.size, $0.regions.count, $0.regions.count * $0.perRegion, $0.allocator.freeSlots) }
    }

    /// Frees live, distinct blobs (a batch free): trap fill over each, their accounting, their
    /// slots. Blobs of one class and region are handled as a group — one trap fill per run of
    /// adjacent blobs, the per-slot arrays and the bitmap written through one buffer each — so
    /// the per-blob cost is not a nested-array write with its uniqueness checks.
    mutating func free(_ blobs: [CodeBlob], trapFill: [UInt8]) {
        var start = 0
        while start < blobs.count {
            guard let sizeClass = blobs[start].sizeClass else {
                let blob = blobs[start]
                forgetFrame(ofBlobAt: blob.address)
                space.fill(trapFill, at: fileOffset(of: blob), count: blob.capacity)
                release(blob)
                start += 1
                continue
            }
            let region = blobs[start].region
            var end = start + 1
            while end < blobs.count, blobs[end].sizeClass == sizeClass, blobs[end].region == region { end += 1 }
            freeGroup(blobs[start..<end], sizeClass: sizeClass, region: region, trapFill: trapFill)
            start = end
        }
    }

    private mutating func freeGroup(_ group: ArraySlice<CodeBlob>, sizeClass: Int, region: Int, trapFill: [UInt8]) {
        let regionOffset = classes[sizeClass].regions[region], size = classes[sizeClass].size
        // Trap fill, one call per run of adjacent slots (a packed batch is mostly one run).
        var run: (offset: Int, count: Int)? = nil
        for blob in group {
            forgetFrame(ofBlobAt: blob.address)
            let offset = regionOffset + blob.offset
            if let current = run, current.offset + current.count == offset {
                run = (current.offset, current.count + size)
            } else {
                if let current = run { space.fill(trapFill, at: current.offset, count: current.count) }
                run = (offset, size)
            }
        }
        if let run { space.fill(trapFill, at: run.offset, count: run.count) }
        // Accounting.
        let perRegion = classes[sizeClass].perRegion, base = region * perRegion
        var liveBytes = 0, wasted = 0
        var slots: [Int32] = []
        slots.reserveCapacity(group.count)
        let hasNames = !names.isEmpty, hasFields = !fieldStore.isEmpty
        for blob in group {
            if hasNames { names.removeValue(forKey: blob.address) }
            if hasFields { setAddressFields(nil, of: blob) }
            liveBytes += blob.size
            wasted += blob.capacity - blob.size
            slots.append(Int32(blob.slot))
        }
        classes[sizeClass].requested.withUnsafeMutableBufferPointer { requested in
            for slot in slots { requested[base + Int(slot)] = 0 }
        }
        classes[sizeClass].wasted -= wasted
        statistics.liveBlobs -= group.count
        statistics.liveBytes -= liveBytes
        _ = slots.withUnsafeBufferPointer { classes[sizeClass].allocator.free(chunk: region, slots: $0) }
    }

    mutating func release(_ blob: CodeBlob) {
        unaccount(blob)
        if let sizeClass = blob.sizeClass {
            classes[sizeClass].allocator.free(SlotAddress(chunk: blob.region, slot: blob.slot))
        } else {
            space.release(fileOffset(of: blob), size: blob.capacity)
        }
    }

    /// Forgets a live blob's accounting, leaving its space reserved.
    mutating func unaccount(_ blob: CodeBlob) {
        if !names.isEmpty { names.removeValue(forKey: blob.address) }
        if !fieldStore.isEmpty { setAddressFields(nil, of: blob) }
        statistics.liveBlobs -= 1
        statistics.liveBytes -= blob.size
        if let sizeClass = blob.sizeClass {
            classes[sizeClass].requested[blob.region * classes[sizeClass].perRegion + blob.slot] = 0
            classes[sizeClass].wasted -= blob.capacity - blob.size
        } else {
            largeLive.removeValue(forKey: blob.address)
            largeWasted -= blob.capacity - blob.size
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
