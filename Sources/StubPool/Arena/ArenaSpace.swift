/// The code arena's memory: **one** memory file, grown in pieces of 64 MiB, each piece mapped
/// twice — a read+write view used only for writing and a read+execute view used only for running.
/// Neither view ever changes protection. An arena therefore holds one file descriptor and two
/// mappings per 64 MiB of address space, whatever the number and sizes of its blobs.
///
/// Extents (a size class's 64 KiB regions, page-granular large blobs) are carved from the file:
/// first fit among freed extents, else a bump pointer in the last piece. The file is sized once per
/// piece with `ftruncate` and stays sparse: pages nobody wrote use no memory, so a piece costs
/// address space, not memory.
///
/// **fork.** Both views are shared mappings, so after `fork()` parent and child would write into
/// one file that both run. The space therefore remembers the ``ForkGeneration`` its file belongs
/// to; the first write after a fork, in either process, first gives the space a file of its own
/// (``makePrivate()``): a fresh memory file holding a copy of every carved page that is not all
/// zeros, mapped read+execute over each old executable view at the same address (`MAP_FIXED`
/// replaces it in one step: a thread running the code meanwhile sees the old pages or the
/// identical new ones), plus new writable views. The other process keeps the old file. Code
/// addresses never change; nothing is copied at `fork()` itself.
///
/// Mutable state is guarded by the owning arena's lock.
final class ArenaSpace: @unchecked Sendable {
    /// Bytes of one piece: of the file, and of each of its two views.
    static let pieceSize = 64 << 20

    /// An owned mapping that can be replaced as a whole (the writable view after a fork).
    private final class View {
        let mapping: Mapping
        init(_ mapping: consuming Mapping) { self.mapping = mapping }
        var base: UInt { mapping.base }
    }

    private final class Piece {
        let fileOffset: Int
        let executable: View
        @exclusivity(unchecked) var writable: View

        init(fileOffset: Int, executable: View, writable: View) {
            self.fileOffset = fileOffset
            self.executable = executable
            self.writable = writable
        }
    }

    /// The memory file, or -1 before the first piece.
    // Guarded by the arena's lock: no dynamic exclusivity checks (they were ≈4% of a commit).
    @exclusivity(unchecked) private var file: Int32 = -1
    @exclusivity(unchecked) private var pieces: [Piece] = []
    /// File offset of the first byte never carved in the last piece.
    @exclusivity(unchecked) private var bump = 0
    /// Freed extents (file offsets), sorted and coalesced, each inside one piece.
    @exclusivity(unchecked) private var free: [Range<Int>] = []
    /// The fork generation in which this process last made the file its own.
    private var generation = ForkGeneration.current
    /// Bytes carved and not released.
    @exclusivity(unchecked) private(set) var carvedBytes = 0

    deinit {
        pieces.removeAll()  // unmapped first
        if file >= 0 { try? Kernel.close(file) }
    }

    var pieceCount: Int { pieces.count }
    var mappingCount: Int { pieces.count * 2 }
    var fileDescriptorCount: Int { file >= 0 ? 1 : 0 }

    // MARK: Extents

    /// Carves `size` bytes (a page multiple, at most a piece) and returns their file offset;
    /// maps a new piece if no freed extent and no room in the last piece fits. On failure nothing
    /// changed.
    func carve(_ size: Int) throws(SystemError) -> Int {
        precondition(size > 0 && size <= Self.pieceSize && size % Kernel.pageSize == 0)
        if let index = free.firstIndex(where: { $0.count >= size }) {
            let extent = free[index]
            if extent.count == size { free.remove(at: index) } else { free[index] = extent.lowerBound + size..<extent.upperBound }
            carvedBytes += size
            return extent.lowerBound
        }
        if let last = pieces.last, bump + size <= last.fileOffset + Self.pieceSize {
            defer { bump += size }
            carvedBytes += size
            return bump
        }
        try addPiece()
        // The old piece's unused tail stays available to smaller extents.
        if pieces.count > 1, bump < pieces[pieces.count - 1].fileOffset { insertFree(bump..<pieces[pieces.count - 1].fileOffset) }
        bump = pieces[pieces.count - 1].fileOffset + size
        carvedBytes += size
        return pieces[pieces.count - 1].fileOffset
    }

    /// The bump pointer never leaves the last piece: below its start, extents go to the free list.
    private var bumpFloor: Int { pieces.last?.fileOffset ?? 0 }

    /// Returns an extent carved earlier. Its pages keep whatever the caller last wrote.
    func release(_ offset: Int, size: Int) {
        carvedBytes -= size
        if offset + size == bump && offset >= bumpFloor {
            bump = offset
            absorbFreeEndingAtBump()
        } else {
            insertFree(offset..<offset + size)
        }
    }

    /// Unmaps trailing pieces beyond the first `count` that hold no carved extent (undoing a
    /// failed operation that mapped them).
    func trimPieces(to count: Int) {
        while pieces.count > count, let last = pieces.last, bump == last.fileOffset {
            pieces.removeLast()
            free.removeAll { $0.lowerBound >= last.fileOffset }
            bump = last.fileOffset
            absorbFreeEndingAtBump()
            if pieces.isEmpty {
                try? Kernel.close(file)
                file = -1
            } else {
                try? Kernel.truncate(file, size: pieces.count * Self.pieceSize)
            }
        }
    }

    private func absorbFreeEndingAtBump() {
        while let last = free.last, last.upperBound == bump, last.lowerBound >= bumpFloor {
            bump = last.lowerBound
            free.removeLast()
        }
    }

    /// Inserts `extent` into the sorted free list, merging with neighbours in the same piece (file
    /// offsets that are contiguous across a piece boundary are not contiguous in memory).
    private func insertFree(_ extent: Range<Int>) {
        var merged = extent
        var index = free.firstIndex { $0.lowerBound > extent.lowerBound } ?? free.count
        let piece = extent.lowerBound / Self.pieceSize
        if index < free.count, free[index].lowerBound == merged.upperBound, free[index].lowerBound / Self.pieceSize == piece {
            merged = merged.lowerBound..<free[index].upperBound
            free.remove(at: index)
        }
        if index > 0, free[index - 1].upperBound == merged.lowerBound, free[index - 1].lowerBound / Self.pieceSize == piece {
            merged = free[index - 1].lowerBound..<merged.upperBound
            free.remove(at: index - 1)
            index -= 1
        }
        free.insert(merged, at: index)
    }

    private func addPiece() throws(SystemError) {
        var created = false
        if file < 0 {
            file = try Kernel.createMemoryFile(name: "stubpool-arena")
            created = true
        }
        let offset = pieces.count * Self.pieceSize
        do throws(SystemError) {
            try Kernel.truncate(file, size: offset + Self.pieceSize)
            let writable = View(Mapping(
                adopting: try Kernel.mapSharedFile(size: Self.pieceSize, protection: Kernel.readWrite, fd: file, offset: offset),
                size: Self.pieceSize))
            let executable = View(Mapping(
                adopting: try Kernel.mapSharedFile(size: Self.pieceSize, protection: Kernel.readExecute, fd: file, offset: offset),
                size: Self.pieceSize))
            pieces.append(Piece(fileOffset: offset, executable: executable, writable: writable))
        } catch {
            if created {
                try? Kernel.close(file)
                file = -1
            } else {
                try? Kernel.truncate(file, size: offset)
            }
            throw error
        }
    }

    // MARK: Addresses and writes

    /// Where the byte at file offset `offset` runs.
    func executableAddress(_ offset: Int) -> UInt {
        let piece = pieces[offset / Self.pieceSize]
        return piece.executable.base + UInt(offset - piece.fileOffset)
    }

    /// The file offset of the byte that runs at `address`, if the address is in an executable view.
    func fileOffset(ofExecutable address: UInt) -> Int? {
        for piece in pieces where address >= piece.executable.base && address - piece.executable.base < UInt(Self.pieceSize) {
            return piece.fileOffset + Int(address - piece.executable.base)
        }
        return nil
    }

    /// Copies `bytes` to file offset `offset` through the writable view. The arena calls
    /// ``makePrivate()`` (under its lock) first. Not checked here: another thread may fork while
    /// this write runs, and trapping the parent for it would be worse than the write reaching the
    /// child's view of a file whose arena the child inherits locked (see ``CodeArena``).
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        writable(offset, count: bytes.count).copyMemory(from: source, byteCount: bytes.count)
    }

    /// Fills `count` bytes at file offset `offset` with the repeated `pattern`, aligned to file offsets.
    func fill(_ pattern: [UInt8], at offset: Int, count: Int) {
        guard count > 0 else { return }
        let base = writable(offset, count: count)
        if pattern.count == 1 {
            base.initializeMemory(as: UInt8.self, repeating: pattern[0], count: count)
        } else {
            // In phase with file offsets, hence with every blob's start (blobs start at multiples
            // of 4): a multi-byte trap instruction is never split.
            for index in 0..<count { base.storeBytes(of: pattern[(offset + index) % pattern.count], toByteOffset: index, as: UInt8.self) }
        }
    }

    /// Where the `count` bytes at file offset `offset` (inside one piece) are written.
    func writable(_ offset: Int, count: Int) -> UnsafeMutableRawPointer {
        let piece = pieces[offset / Self.pieceSize]
        precondition(offset >= piece.fileOffset && count <= piece.fileOffset + Self.pieceSize - offset)
        return UnsafeMutableRawPointer(bitPattern: piece.writable.base + UInt(offset - piece.fileOffset))!
    }

    /// Both views of every piece.
    var views: [(executable: Range<UInt>, writable: Range<UInt>)] {
        pieces.map { ($0.executable.base..<$0.executable.base + UInt(Self.pieceSize),
                      $0.writable.base..<$0.writable.base + UInt(Self.pieceSize)) }
    }

    // MARK: fork

    /// Gives the space a memory file of its own if a fork happened since it last had one (see the
    /// type's documentation). On failure nothing changed: the space still uses the shared file,
    /// and the caller must not write.
    func makePrivate() throws(SystemError) {
        let current = ForkGeneration.current
        guard generation != current else { return }
        guard file >= 0 else {
            generation = current
            return
        }
        let fresh = try Kernel.createMemoryFile(name: "stubpool-arena")
        var writers: [View] = []
        do throws(SystemError) {
            try Kernel.truncate(fresh, size: pieces.count * Self.pieceSize)
            for piece in pieces {
                let writer = View(Mapping(
                    adopting: try Kernel.mapSharedFile(size: Self.pieceSize, protection: Kernel.readWrite, fd: fresh, offset: piece.fileOffset),
                    size: Self.pieceSize))
                let used = piece === pieces.last ? bump - piece.fileOffset : Self.pieceSize
                Self.copyNonZeroPages(from: piece.writable.base, to: writer.base, count: used)
                writers.append(writer)
            }
            var switched = 0
            do throws(SystemError) {
                for piece in pieces {
                    try Kernel.mapSharedFile(at: piece.executable.base, size: Self.pieceSize, protection: Kernel.readExecute,
                                             fd: fresh, offset: piece.fileOffset)
                    switched += 1
                }
            } catch {
                // Put the old file back under the views already switched (same size, same place).
                for piece in pieces.prefix(switched) {
                    try? Kernel.mapSharedFile(at: piece.executable.base, size: Self.pieceSize, protection: Kernel.readExecute,
                                              fd: file, offset: piece.fileOffset)
                }
                throw error
            }
        } catch {
            writers.removeAll()
            try? Kernel.close(fresh)
            throw error
        }
        for (piece, writer) in zip(pieces, writers) { piece.writable = writer }  // the old view is unmapped
        try? Kernel.close(file)
        file = fresh
        generation = current
    }

    /// Copies `count` bytes page by page, skipping pages that are all zeros (never written: the
    /// copy stays as sparse as the original).
    private static func copyNonZeroPages(from source: UInt, to destination: UInt, count: Int) {
        let page = Kernel.pageSize
        var offset = 0
        while offset < count {
            let from = UnsafeRawPointer(bitPattern: source + UInt(offset))!
            let words = UnsafeRawBufferPointer(start: from, count: page).bindMemory(to: UInt64.self)
            if words.contains(where: { $0 != 0 }) {
                UnsafeMutableRawPointer(bitPattern: destination + UInt(offset))!.copyMemory(from: from, byteCount: page)
            }
            offset += page
        }
    }
}
