import CStubPoolShim

/// Who a debugger entry belongs to: an arena (its blobs, forgotten one by one when freed) or a
/// pool chunk (its slots, forgotten together when the chunk is unmapped).
enum DebugOwner: Hashable {
    case arena(ObjectIdentifier)
    case chunk(UInt)
}

/// gdb's JIT interface: in-memory symbol files (``SymbolFile``) linked into the list at
/// `__jit_debug_descriptor`, announced through `__jit_debug_register_code`. Guarded by
/// ``Profiling``'s lock.
///
/// An arena's entry covers at most ``piecesPerEntry`` blobs; a chunk's entry covers the chunk.
/// A freed blob is only marked; before the
/// next registration (and at flush) each entry with freed blobs is replaced by one without them,
/// so that no two entries ever claim the same address (gdb would pick either) and rebuilding
/// costs at most one entry per entry touched, however many blobs were freed.
final class DebuggerRegistry {
    static let piecesPerEntry = 256

    private final class Entry {
        let owner: DebugOwner
        var pieces: [SymbolFile.Piece]
        let node: UnsafeMutablePointer<stubpool_jit_code_entry>
        let file: UnsafeMutableRawBufferPointer

        /// `pieces`: what `bytes` names, kept for entries rebuilt after frees (arena blobs).
        init(owner: DebugOwner, bytes: [UInt8], pieces: [SymbolFile.Piece] = []) {
            self.owner = owner
            self.pieces = pieces
            file = .allocate(byteCount: bytes.count, alignment: 8)
            file.copyBytes(from: bytes)
            node = .allocate(capacity: 1)
            node.initialize(to: stubpool_jit_code_entry(
                next_entry: nil, prev_entry: nil,
                symfile_addr: UnsafePointer(file.baseAddress!.assumingMemoryBound(to: CChar.self)),
                symfile_size: UInt64(bytes.count)))
        }

        deinit {
            node.deallocate()
            file.deallocate()
        }
    }

    private var entries: [ObjectIdentifier: Entry] = [:]
    private var entriesOfOwner: [DebugOwner: [ObjectIdentifier]] = [:]
    /// The entry naming each live blob (arena owners only).
    private var entryOfBlob: [UInt: ObjectIdentifier] = [:]
    private var withFreedBlobs: Set<ObjectIdentifier> = []

    /// Entries in gdb's list (for tests).
    var entryCount: Int { entries.count }

    /// Names arena blobs for gdb, tracked one by one for ``forget(blobAt:)``.
    func register(_ pieces: [SymbolFile.Piece], owner: DebugOwner) {
        guard !pieces.isEmpty else { return }
        settle()
        let sorted = Self.byAddress(pieces) { $0.address }
        var start = 0
        while start < sorted.count {
            let end = min(start + Self.piecesPerEntry, sorted.count)
            let entry = Self.entry(owner: owner, pieces: Array(sorted[start..<end]))
            link(entry)
            for piece in entry.pieces { entryOfBlob[piece.address] = ObjectIdentifier(entry) }
            start = end
        }
    }

    /// `items` in address order (usually already: a commit's blobs, a packed chunk's slots).
    private static func byAddress<Item>(_ items: [Item], _ address: (Item) -> UInt) -> [Item] {
        zip(items, items.dropFirst()).allSatisfy { address($0) < address($1) } ? items : items.sorted { address($0) < address($1) }
    }

    private static func entry(owner: DebugOwner, pieces: [SymbolFile.Piece]) -> Entry {
        Entry(owner: owner, bytes: SymbolFile.build(pieces), pieces: pieces)
    }

    /// What a chunk's entry was built from, to rebuild it when a stub is renamed.
    private struct ChunkSlots {
        let slots: [(address: UInt, id: UInt64)]
        let slotSize: Int
        let prefix: [UInt8]
    }
    private var chunkSlots: [DebugOwner: ChunkSlots] = [:]

    /// Names a chunk's stubs `prefix` + id for gdb, or the name in `names` (by entry address), in
    /// one entry that lives as long as the chunk; ``renameInChunk(owner:names:)`` rebuilds it.
    /// `slots`: entry address and id of each slot.
    func registerChunk(_ slots: [(address: UInt, id: UInt64)], slotSize: Int, prefix: String, owner: DebugOwner,
                       names: [UInt: String] = [:]) {
        guard !slots.isEmpty else { return }
        settle()
        let chunk = ChunkSlots(slots: Self.byAddress(slots) { $0.address }, slotSize: slotSize, prefix: Array(prefix.utf8))
        chunkSlots[owner] = chunk
        link(Self.entry(owner: owner, chunk: chunk, names: names))
    }

    /// Rebuilds the entry of a chunk registered with ``registerChunk(_:slotSize:prefix:owner:names:)``
    /// with `names` (the chunk's stubs named with ``StubPool/setName(_:for:)``, by entry address):
    /// one symbol file for the whole chunk, so a rename costs building it again.
    func renameInChunk(owner: DebugOwner, names: [UInt: String]) {
        guard let chunk = chunkSlots[owner], let ids = entriesOfOwner[owner] else { return }
        for id in ids { if let entry = entries[id] { unlink(entry) } }
        entriesOfOwner[owner] = nil
        link(Self.entry(owner: owner, chunk: chunk, names: names))
    }

    private static func entry(owner: DebugOwner, chunk: ChunkSlots, names: [UInt: String]) -> Entry {
        let sorted = chunk.slots
        let longestName = names.values.reduce(chunk.prefix.count + CodeName.longestNumber) { max($0, $1.utf8.count) }
        let bytes = chunk.prefix.withUnsafeBufferPointer { prefix in
            SymbolFile.build(count: sorted.count, longestName: longestName, address: { sorted[$0].address },
                             size: { _ in chunk.slotSize }, extent: { _ in chunk.slotSize }) { index, destination in
                if !names.isEmpty, let name = names[sorted[index].address] { return CodeName.write(name, to: destination) }
                if let start = prefix.baseAddress { destination.update(from: start, count: prefix.count) }
                return prefix.count + CodeName.writeDigits(sorted[index].id, radix: 10, to: destination + prefix.count)
            }
        }
        return Entry(owner: owner, bytes: bytes)
    }

    /// The blob at `address` was freed: its name goes at the next registration or flush.
    func forget(blobAt address: UInt) {
        guard let id = entryOfBlob.removeValue(forKey: address) else { return }
        withFreedBlobs.insert(id)
    }

    /// Everything `owner` registered goes now (its code is being unmapped).
    func forget(owner: DebugOwner) {
        chunkSlots[owner] = nil
        guard let ids = entriesOfOwner.removeValue(forKey: owner) else { return }
        for id in ids {
            guard let entry = entries[id] else { continue }
            for piece in entry.pieces where entryOfBlob[piece.address] == id { entryOfBlob[piece.address] = nil }
            withFreedBlobs.remove(id)
            unlink(entry)
        }
    }

    /// Replaces every entry with freed blobs by one naming only the live ones.
    func settle() {
        guard !withFreedBlobs.isEmpty else { return }
        for id in withFreedBlobs {
            guard let entry = entries[id] else { continue }
            // Freed blobs are the ones no longer mapped to this entry (registration settles first).
            let live = entry.pieces.filter { entryOfBlob[$0.address] == id }
            unlink(entry)
            entriesOfOwner[entry.owner]?.removeAll { $0 == id }
            guard !live.isEmpty else { continue }
            let replacement = Self.entry(owner: entry.owner, pieces: live)
            link(replacement)
            for piece in live { entryOfBlob[piece.address] = ObjectIdentifier(replacement) }
        }
        withFreedBlobs.removeAll()
    }

    /// Takes every entry out of gdb's list (profiling stops).
    func removeAll() {
        for entry in Array(entries.values) { unlink(entry) }
        chunkSlots.removeAll()
        entriesOfOwner.removeAll()
        entryOfBlob.removeAll()
        withFreedBlobs.removeAll()
    }

    // MARK: gdb's list

    private func link(_ entry: Entry) {
        let descriptor = stubpool_gdb_descriptor()!
        entry.node.pointee.next_entry = descriptor.pointee.first_entry
        entry.node.pointee.prev_entry = nil
        descriptor.pointee.first_entry?.pointee.prev_entry = entry.node
        descriptor.pointee.first_entry = entry.node
        notify(descriptor, action: 1, entry: entry.node)  // JIT_REGISTER_FN
        let id = ObjectIdentifier(entry)
        entries[id] = entry
        entriesOfOwner[entry.owner, default: []].append(id)
    }

    private func unlink(_ entry: Entry) {
        let descriptor = stubpool_gdb_descriptor()!
        let node = entry.node
        if let previous = node.pointee.prev_entry {
            previous.pointee.next_entry = node.pointee.next_entry
        } else {
            descriptor.pointee.first_entry = node.pointee.next_entry
        }
        node.pointee.next_entry?.pointee.prev_entry = node.pointee.prev_entry
        notify(descriptor, action: 2, entry: node)  // JIT_UNREGISTER_FN
        entries[ObjectIdentifier(entry)] = nil
    }

    private func notify(_ descriptor: UnsafeMutablePointer<stubpool_jit_descriptor>, action: UInt32,
                        entry: UnsafeMutablePointer<stubpool_jit_code_entry>) {
        descriptor.pointee.relevant_entry = entry
        descriptor.pointee.action_flag = action
        stubpool_gdb_notify()
        descriptor.pointee.action_flag = 0
    }
}
