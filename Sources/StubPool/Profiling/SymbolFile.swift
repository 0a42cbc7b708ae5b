/// A symbol file for gdb's JIT interface: a minimal ELF executable that only names code.
///
/// Sections: the null section, one `.text` section per contiguous range of the code
/// (`SHT_NOBITS`, allocated and executable, at its real address: gdb takes each allocated
/// section's address as the code's load address and reads instructions from the process), then
/// `.symtab` (a global function symbol per piece, at its absolute address), `.strtab` and
/// `.shstrtab`. No program headers, no debug info: `info symbol`, `x/i` and the prologue-analysis
/// unwinder (`bt` out of frameless code) need nothing more.
enum SymbolFile {
    /// `Elf64_Sym`: 24 bytes, fields in file order.
    private struct ElfSymbol {
        var name: UInt32 = 0
        var info: UInt8 = 0
        var other: UInt8 = 0
        var section: UInt16 = 0
        var value: UInt64 = 0
        var size: UInt64 = 0
    }

    struct Piece {
        var address: UInt
        /// Bytes the symbol covers.
        var size: Int
        /// Bytes the piece owns (its symbol's size or more, e.g. a blob's trap-filled tail);
        /// pieces whose extents touch share a section.
        var extent: Int
        var name: CodeName
    }

    private static let headerSize = 64, sectionHeaderSize = 64, symbolSize = 24
    /// The host's ELF machine number (also in perf's jitdump header).
    static let elfMachine: UInt16 = Architecture.host == .x86_64 ? 62 : 183

    /// A built file: its first `size` bytes at `base`, in memory it owns.
    final class Bytes {
        let base: UnsafeMutableRawPointer
        private(set) var size = 0
        /// Bytes mapped for it; 0 for a heap buffer.
        private let mapped: Int

        /// Files of this size or more get a mapping of their own, populated at once: a chunk's
        /// file (≈800 KB for 16,383 stubs) written into fresh heap pages took a page fault per
        /// 4 KiB, a third of gdb-on bulk allocation.
        static let mappedFrom = 64 << 10

        /// Room for `capacity` bytes.
        init(capacity: Int) {
            let rounded = (capacity + Kernel.pageSize - 1) / Kernel.pageSize * Kernel.pageSize
            if capacity >= Self.mappedFrom, let address = try? Kernel.mapAnonymous(size: rounded, protection: Kernel.readWrite) {
                // Populating is only a head start: where the kernel refuses it, pages fault in.
                try? Kernel.populate(address, size: rounded)
                base = UnsafeMutableRawPointer(bitPattern: address)!
                mapped = rounded
            } else {
                base = .allocate(byteCount: max(capacity, 1), alignment: 8)
                mapped = 0
            }
        }

        fileprivate func finish(size: Int) { self.size = size }

        deinit {
            if mapped > 0 { try? Kernel.unmap(UInt(bitPattern: base), size: mapped) } else { base.deallocate() }
        }
    }

    /// What a file names, by index in address order: piece `index` starts at `address(index)`,
    /// its symbol covers `size(index)` bytes and it owns `extent(index)` (pieces whose extents
    /// touch share a section); `writeName` writes its name (no NUL, at most `longestName` bytes)
    /// and returns the length. A generic parameter, so that each kind of source is specialized:
    /// a chunk's thousands of numbered stubs cost no call per field.
    protocol Source {
        var count: Int { get }
        var longestName: Int { get }
        func address(_ index: Int) -> UInt
        func size(_ index: Int) -> Int
        func extent(_ index: Int) -> Int
        mutating func writeName(_ index: Int, to destination: UnsafeMutablePointer<UInt8>) -> Int
    }

    /// Pieces listed one by one (arena blobs).
    struct PieceList: Source {
        let pieces: [Piece]
        var count: Int { pieces.count }
        var longestName: Int { pieces.reduce(0) { max($0, $1.name.longestLength) } }
        func address(_ index: Int) -> UInt { pieces[index].address }
        func size(_ index: Int) -> Int { pieces[index].size }
        func extent(_ index: Int) -> Int { pieces[index].extent }
        func writeName(_ index: Int, to destination: UnsafeMutablePointer<UInt8>) -> Int { pieces[index].name.write(to: destination) }
    }

    /// The file for `pieces`, sorted by address and not overlapping.
    static func build(_ pieces: [Piece]) -> Bytes { build(PieceList(pieces: pieces)) }

    /// The file for `source`, whose pieces are sorted by address and do not overlap.
    // One buffer of the largest size the file can have, written in file order through a pointer:
    // the header, the symbol table (Elf64_Sym records, this struct's layout, little-endian hosts),
    // the string table, the section names and headers. Appending to an array per symbol and per
    // name was ≈570 instructions per stub of a chunk's file (gdb-on bulk allocation ≈6× off).
    static func build<Pieces: Source>(_ source: Pieces) -> Bytes {
        var source = source
        let count = source.count, longestName = source.longestName
        assert(MemoryLayout<ElfSymbol>.stride == symbolSize)
        // Sections first: one `.text` per run of pieces whose extents touch (the run being
        // extended kept aside, not rewritten into the array per piece).
        var sections: [Range<UInt>] = []
        var run: Range<UInt>?
        for index in 0..<count {
            let start = source.address(index), end = start &+ UInt(source.extent(index))
            precondition(run.map { start >= $0.upperBound } ?? true, "pieces out of address order, or overlapping")
            if let current = run, current.upperBound == start {
                run = current.lowerBound..<end
            } else {
                if let current = run { sections.append(current) }
                run = start..<end
            }
        }
        if let current = run { sections.append(current) }
        let sectionNames: [UInt8] = Array("\0.text\0.symtab\0.strtab\0.shstrtab\0".utf8)
        let (textName, symtabName, strtabName, shstrtabName): (UInt32, UInt32, UInt32, UInt32) = (1, 7, 15, 23)
        let symbolsOffset = headerSize
        let stringsOffset = symbolsOffset + (count + 1) * symbolSize
        let sectionCount = sections.count + 4  // null, texts, symtab, strtab, shstrtab
        let capacity = stringsOffset + 1 + count * (longestName + 1) + sectionNames.count + 7 + sectionCount * sectionHeaderSize
        let result = Bytes(capacity: capacity)
        let file = result.base, bytes = file.assumingMemoryBound(to: UInt8.self)
        // The header's place, the null symbol and the string table's leading NUL (every other
        // byte is written below).
        file.initializeMemory(as: UInt8.self, repeating: 0, count: symbolsOffset + symbolSize)
        bytes[stringsOffset] = 0
        var cursor = stringsOffset + 1
        var sectionIndex = 0
        for index in 0..<count {
            let start = source.address(index)
            while start >= sections[sectionIndex].upperBound { sectionIndex += 1 }
            let symbol = ElfSymbol(name: UInt32(cursor - stringsOffset), info: 0x12 /* STB_GLOBAL, STT_FUNC */,
                                   section: UInt16(sectionIndex + 1) /* section 0 is null */,
                                   value: UInt64(start), size: UInt64(source.size(index)))
            file.storeBytes(of: symbol, toByteOffset: symbolsOffset &+ (index &+ 1) &* symbolSize, as: ElfSymbol.self)
            let length = source.writeName(index, to: bytes + cursor)
            precondition(length <= longestName, "a symbol name is longer than its bound")
            bytes[cursor &+ length] = 0
            cursor &+= length &+ 1
        }
        let stringsSize = cursor - stringsOffset
        let sectionNamesOffset = cursor
        for byte in sectionNames { bytes[cursor] = byte; cursor += 1 }
        while cursor % 8 != 0 { bytes[cursor] = 0; cursor += 1 }

        func put<Value: FixedWidthInteger>(_ value: Value) {
            file.storeBytes(of: value.littleEndian, toByteOffset: cursor, as: Value.self)
            cursor += MemoryLayout<Value>.size
        }
        let sectionHeadersOffset = cursor
        let symtabIndex = sections.count + 1
        func section(name: UInt32, type: UInt32, flags: UInt64 = 0, address: UInt = 0, offset: Int = 0, size: Int,
                     link: Int = 0, info: UInt32 = 0, alignment: UInt64 = 1, entrySize: UInt64 = 0) {
            put(name)
            put(type)
            put(flags)
            put(UInt64(address))
            put(UInt64(offset))
            put(UInt64(size))
            put(UInt32(link))
            put(info)
            put(alignment)
            put(entrySize)
        }
        section(name: 0, type: 0, size: 0, alignment: 0)
        for range in sections {
            section(name: textName, type: 8 /* SHT_NOBITS */, flags: 0x6 /* SHF_ALLOC | SHF_EXECINSTR */,
                    address: range.lowerBound, size: Int(range.upperBound - range.lowerBound))
        }
        section(name: symtabName, type: 2 /* SHT_SYMTAB */, offset: symbolsOffset, size: (count + 1) * symbolSize,
                link: symtabIndex + 1, info: 1 /* first global symbol */, alignment: 8, entrySize: UInt64(symbolSize))
        section(name: strtabName, type: 3 /* SHT_STRTAB */, offset: stringsOffset, size: stringsSize)
        section(name: shstrtabName, type: 3, offset: sectionNamesOffset, size: sectionNames.count)
        result.finish(size: cursor)

        cursor = 0
        for byte: UInt8 in [0x7F, 0x45, 0x4C, 0x46, 2 /* 64-bit */, 1 /* little-endian */, 1 /* version */] { put(byte) }
        cursor = 16  // the rest of e_ident: zero
        put(UInt16(2))  // ET_EXEC: symbol values are addresses
        put(elfMachine)
        put(UInt32(1))
        put(UInt64(0))  // entry
        put(UInt64(0))  // program headers: none
        put(UInt64(sectionHeadersOffset))
        put(UInt32(0))  // flags
        put(UInt16(headerSize))
        put(UInt16(0))
        put(UInt16(0))
        put(UInt16(sectionHeaderSize))
        put(UInt16(sectionCount))
        put(UInt16(symtabIndex + 2))
        return result
    }
}
