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
        let file: SymbolFile.Bytes

        /// `pieces`: what `file` names, kept for entries rebuilt after frees (arena blobs).
        init(owner: DebugOwner, file: SymbolFile.Bytes, pieces: [SymbolFile.Piece] = []) {
            self.owner = owner
            self.pieces = pieces
            self.file = file
            node = .allocate(capacity: 1)
            node.initialize(to: stubpool_jit_code_entry(
                next_entry: nil, prev_entry: nil,
                symfile_addr: UnsafePointer(file.base.assumingMemoryBound(to: CChar.self)),
                symfile_size: UInt64(file.size)))
        }

        deinit { node.deallocate() }
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
        Entry(owner: owner, file: SymbolFile.build(pieces), pieces: pieces)
    }

    /// A chunk's stubs as a symbol file's source: slot `index` (in address order) is at `base` +
    /// its physical slot (by `spacing`) × `slotSize` and named `prefix` + `firstID + index`, or by
    /// `names` (entry address to name: the stubs renamed with ``StubPool/setName(_:for:)``).
    /// Kept to rebuild the entry when a stub is renamed: a rule, not a list (a list of the
    /// chunk's 16,383 slots was a quarter of the pages gdb-on allocation touched).
    struct ChunkSymbols: SymbolFile.Source {
        let count: Int
        let slotSize: Int
        let prefix: [UInt8]
        let firstID: UInt64
        let base: UInt
        let spacing: SlotSpacing
        var names: [UInt: String] = [:]
        /// The numbered names' writer, made by the first name written.
        var numbered: ConsecutiveNames? = nil

        var longestName: Int {
            let numbered = prefix.count + CodeName.digitCount(firstID + UInt64(max(count, 1) - 1), radix: 10)
            return names.values.reduce(numbered) { max($0, $1.utf8.count) }
        }
        func address(_ index: Int) -> UInt { base &+ UInt(bitPattern: spacing.physical(index) &* slotSize) }
        func size(_ index: Int) -> Int { slotSize }
        func extent(_ index: Int) -> Int { slotSize }
        mutating func writeName(_ index: Int, to destination: UnsafeMutablePointer<UInt8>) -> Int {
            if !names.isEmpty, let name = names[address(index)] { return CodeName.write(name, to: destination) }
            if numbered == nil { numbered = ConsecutiveNames(prefix: prefix, first: firstID) }
            return numbered!.write(firstID &+ UInt64(truncatingIfNeeded: index), to: destination)
        }
    }
    private var chunkSymbols: [DebugOwner: ChunkSymbols] = [:]

    /// Names a chunk's stubs (see ``ChunkSymbols``) for gdb, in one entry that lives as long as
    /// the chunk; ``renameInChunk(owner:names:)`` rebuilds it.
    func registerChunk(_ chunk: ChunkSymbols, owner: DebugOwner) {
        guard chunk.count > 0 else { return }
        settle()
        chunkSymbols[owner] = chunk
        link(Entry(owner: owner, file: SymbolFile.build(chunk)))
    }

    /// Rebuilds the entry of a chunk registered with ``registerChunk(_:owner:)`` with `names`
    /// (the chunk's stubs named with ``StubPool/setName(_:for:)``, by entry address): one symbol
    /// file for the whole chunk, so a rename costs building it again.
    func renameInChunk(owner: DebugOwner, names: [UInt: String]) {
        guard var chunk = chunkSymbols[owner], let ids = entriesOfOwner[owner] else { return }
        for id in ids { if let entry = entries[id] { unlink(entry) } }
        entriesOfOwner[owner] = nil
        chunk.names = names
        chunkSymbols[owner] = chunk
        link(Entry(owner: owner, file: SymbolFile.build(chunk)))
    }

    /// The blob at `address` was freed: its name goes at the next registration or flush.
    func forget(blobAt address: UInt) {
        guard let id = entryOfBlob.removeValue(forKey: address) else { return }
        withFreedBlobs.insert(id)
    }

    /// Everything `owner` registered goes now (its code is being unmapped).
    func forget(owner: DebugOwner) {
        chunkSymbols[owner] = nil
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
        chunkSymbols.removeAll()
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
