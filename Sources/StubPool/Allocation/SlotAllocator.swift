/// A slot in a size class: which chunk, which (logical) slot of it.
struct SlotAddress: Sendable, Hashable {
    var chunk: Int
    var slot: Int

    /// Chunks below 2^24 and slots below 2^32 pack into the low 56 bits of a word, `chunk << 32 |
    /// slot` (the bits above are the packer's: the pool keeps a shard there).
    static let packedBits = 56

    init(chunk: Int, slot: Int) {
        self.chunk = chunk
        self.slot = slot
    }

    /// The address packed in `word`'s low 56 bits.
    @inline(__always)
    init(packed word: UInt) {
        chunk = Int(truncatingIfNeeded: (word >> 32) & 0xFF_FFFF)
        slot = Int(truncatingIfNeeded: word & 0xFFFF_FFFF)
    }

    @inline(__always)
    var packed: UInt { UInt(bitPattern: chunk) &<< 32 | UInt(bitPattern: slot) }
}

/// One size class: the occupancy bitmaps of its chunks plus a summary bitmap of the chunks that
/// have room, so finding a free slot never walks the chunks one by one. Packed allocation takes the
/// lowest chunk, then the lowest slot in it.
///
/// The allocator only tracks occupancy; mapping chunks is its owner's job (``addChunk(capacity:)``
/// after mapping, ``retireChunk(_:)`` when an empty chunk is unmapped or a new one rolled back).
/// A retired chunk's index is reused by the next chunk added.
struct SlotAllocator: Sendable {
    private(set) var chunks: [SlotBitmap] = []
    private var withRoom: [UInt64] = []
    /// Per chunk, whether it is retired (its index free for the next chunk added).
    private var retired: [Bool] = []
    private var retiredCount = 0
    /// Per chunk, how many times slots were taken from it (wrapping): tells whether a chunk was
    /// used between two looks.
    private(set) var takes: [UInt32] = []
    /// Free slots across all chunks.
    private(set) var freeSlots = 0

    private mutating func setRoom(_ chunk: Int, _ hasRoom: Bool) {
        if hasRoom { withRoom[chunk >> 6] |= 1 << UInt64(chunk & 63) }
        else { withRoom[chunk >> 6] &= ~(1 << UInt64(chunk & 63)) }
    }

    private func hasRoom(_ chunk: Int) -> Bool { withRoom[chunk >> 6] & (1 << UInt64(chunk & 63)) != 0 }

    /// First chunk at or after `chunk` with a free slot, without wrapping.
    private func nextChunkWithRoom(from chunk: Int) -> Int? {
        var index = chunk >> 6
        guard index < withRoom.count else { return nil }
        var bits = withRoom[index] & (~0 << UInt64(chunk & 63))
        while true {
            if bits != 0 { return index << 6 | bits.trailingZeroBitCount }
            index += 1
            guard index < withRoom.count else { return nil }
            bits = withRoom[index]
        }
    }

    /// The index the next ``addChunk(capacity:)`` will return.
    var nextChunkIndex: Int { retiredCount == 0 ? chunks.count : retired.firstIndex(of: true)! }

    /// Registers a new, entirely free chunk at ``nextChunkIndex``; returns that index.
    mutating func addChunk(capacity: Int) -> Int {
        let index = nextChunkIndex
        if index == chunks.count {
            chunks.append(SlotBitmap(capacity: capacity))
            takes.append(0)
            retired.append(false)
            if index >> 6 >= withRoom.count { withRoom.append(0) }
        } else {
            retired[index] = false
            retiredCount -= 1
            chunks[index] = SlotBitmap(capacity: capacity)
            takes[index] &+= 1
        }
        setRoom(index, true)
        freeSlots += capacity
        return index
    }

    /// Forgets chunk `index`, which must be entirely free: its slots are no longer allocatable.
    mutating func retireChunk(_ index: Int) {
        precondition(chunks[index].isEmpty && !isRetired(index), "only a free, active chunk can be retired")
        setRoom(index, false)
        freeSlots -= chunks[index].capacity
        retired[index] = true
        retiredCount += 1
    }

    /// Forgets the last chunk, which must be entirely free and not retired (the arena rolling
    /// back its newest region).
    mutating func removeLastChunk() {
        guard let last = chunks.last else { return }
        precondition(last.isEmpty && !isRetired(chunks.count - 1), "only a free chunk can be removed")
        setRoom(chunks.count - 1, false)
        freeSlots -= last.capacity
        chunks.removeLast()
        takes.removeLast()
        retired.removeLast()
    }

    func isRetired(_ index: Int) -> Bool { retired[index] }

    /// Chunks in use (added and not retired).
    var activeChunks: Int { chunks.count - retiredCount }

    /// Active chunks with every slot free.
    var emptyChunks: [Int] {
        chunks.indices.filter { chunks[$0].isEmpty && !isRetired($0) }
    }

    private mutating func didTake(from chunk: Int, count: Int) {
        freeSlots -= count
        takes[chunk] &+= 1
        if chunks[chunk].isFull { setRoom(chunk, false) }
    }

    /// Takes the lowest free slot of the lowest chunk with room.
    mutating func allocateLowest() -> SlotAddress? {
        guard let chunk = nextChunkWithRoom(from: 0), let slot = chunks[chunk].takeLowest() else { return nil }
        didTake(from: chunk, count: 1)
        return SlotAddress(chunk: chunk, slot: slot)
    }

    /// Takes the first free slot at or after position `ordinal` of the concatenated chunks
    /// (`chunk * capacity + slot`), wrapping around.
    mutating func allocate(near ordinal: Int) -> SlotAddress? {
        guard freeSlots > 0, !chunks.isEmpty else { return nil }
        let capacity = chunks[0].capacity
        let start = SlotAddress(chunk: (ordinal / capacity) % chunks.count, slot: ordinal % capacity)
        if hasRoom(start.chunk), let slot = chunks[start.chunk].take(from: start.slot) {
            didTake(from: start.chunk, count: 1)
            return SlotAddress(chunk: start.chunk, slot: slot)
        }
        guard let chunk = nextChunkWithRoom(from: start.chunk + 1) ?? nextChunkWithRoom(from: 0),
              let slot = chunks[chunk].takeLowest() else { return nil }
        didTake(from: chunk, count: 1)
        return SlotAddress(chunk: chunk, slot: slot)
    }

    /// Takes `count` slots lowest-first as runs of consecutive slots of one chunk (`first`,
    /// `length`), or none if fewer are free.
    mutating func allocateLowest(count: Int, runs body: (_ first: SlotAddress, _ length: Int) -> Void) -> Bool {
        guard count <= freeSlots else { return false }
        var remaining = count
        var from = 0
        while remaining > 0, let chunk = nextChunkWithRoom(from: from) {
            let taken = chunks[chunk].takeLowest(count: remaining) { (first: Int, length: Int) in
                body(SlotAddress(chunk: chunk, slot: first), length)
            }
            didTake(from: chunk, count: taken)
            remaining -= taken
            from = chunk + 1
        }
        precondition(remaining == 0, "free-slot count out of step with the bitmaps")
        return true
    }

    /// Takes `count` slots lowest-first, one call per slot, or none if fewer are free.
    mutating func allocateLowest(count: Int, _ body: (SlotAddress) -> Void) -> Bool {
        allocateLowest(count: count) { (first: SlotAddress, length: Int) in
            for slot in first.slot..<(first.slot + length) { body(SlotAddress(chunk: first.chunk, slot: slot)) }
        }
    }

    /// Returns `address` to the free slots.
    mutating func free(_ address: SlotAddress) {
        chunks[address.chunk].put(address.slot)
        freeSlots += 1
        setRoom(address.chunk, true)
    }

    /// Slots the batch frees hand to a chunk's bitmap at once, from a buffer on the stack (4 KiB).
    private static let groupLimit = 1_024

    /// Returns every slot of `addresses` (packed, see ``SlotAddress/init(packed:)``) that is not
    /// free yet; returns how many. Consecutive addresses of one chunk (release order keeps a
    /// chunk's slots together) go back together, through a buffer on the stack: a growing array
    /// per group, decoded through `SlotAddress` values, was half of a reclaim.
    mutating func free(packed addresses: UnsafeBufferPointer<UInt>) -> Int {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: Self.groupLimit) { group in
            var freed = 0, chunk = -1, count = 0
            for word in addresses {
                let address = SlotAddress(packed: word)
                if address.chunk != chunk || count == group.count {
                    if count > 0 { freed &+= free(chunk: chunk, slots: UnsafeBufferPointer(rebasing: group[..<count])) }
                    chunk = address.chunk
                    count = 0
                }
                group[count] = Int32(truncatingIfNeeded: address.slot)
                count &+= 1
            }
            if count > 0 { freed &+= free(chunk: chunk, slots: UnsafeBufferPointer(rebasing: group[..<count])) }
            return freed
        }
    }

    /// Returns slots `slots` of `chunk` that are not free yet; returns how many (a word of the
    /// bitmap at a time).
    mutating func free(chunk: Int, slots range: Range<Int>) -> Int {
        range.isEmpty ? 0 : freeing(in: chunk) { $0.putRange(range) }
    }

    /// Returns every slot of `slots` in `chunk` that is not free yet; returns how many.
    mutating func free(chunk: Int, slots: UnsafeBufferPointer<Int32>) -> Int {
        freeing(in: chunk) { $0.putAll(slots) }
    }

    /// Runs `put` on `chunk`'s bitmap, which returns how many slots it freed, and accounts for them.
    @inline(__always)
    private mutating func freeing(in chunk: Int, _ put: (inout SlotBitmap) -> Int) -> Int {
        // Moved out while it changes, so its buffers are uniquely referenced.
        var bitmap = chunks[chunk]
        chunks[chunk] = SlotBitmap.placeholder
        let freed = put(&bitmap)
        chunks[chunk] = bitmap
        freeSlots += freed
        if freed > 0 { setRoom(chunk, true) }
        return freed
    }

    /// Bytes of allocator metadata (bitmaps and summaries) of the active chunks.
    var metadataBytes: Int {
        chunks.indices.reduce(withRoom.count * 8) { isRetired($1) ? $0 : $0 + chunks[$1].metadataBytes }
    }
}
