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

    /// The file for `pieces`, sorted by address and not overlapping.
    static func build(_ pieces: some Collection<Piece>) -> [UInt8] {
        let pieces = Array(pieces)
        return build(count: pieces.count, address: { pieces[$0].address }, size: { pieces[$0].size },
                     extent: { pieces[$0].extent }, appendName: { $1.append(pieces[$0].name) })
    }

    /// The file for `count` pieces given by index, sorted by address and not overlapping:
    /// `appendName` appends piece `index`'s name (without NUL) to the string table (the end of
    /// the bytes it is given). Used directly
    /// for a chunk's thousands of numbered stubs, with no name value per stub.
    static func build(count: Int, address: (Int) -> UInt, size: (Int) -> Int, extent: (Int) -> Int,
                      appendName: (Int, inout [UInt8]) -> Void) -> [UInt8] {
        assert(MemoryLayout<ElfSymbol>.stride == symbolSize)
        var sections: [Range<UInt>] = []
        // One buffer, written in file order: the header's place, the symbol table (Elf64_Sym
        // records, this struct's layout, little-endian hosts; stored in place), the string table
        // appended behind it, then the rest. Separate symbol and string arrays copied into the
        // file were most of a chunk's cost (fresh pages for each, then the copies).
        let symbolsOffset = headerSize
        let stringsOffset = symbolsOffset + (count + 1) * symbolSize
        var file = [UInt8](repeating: 0, count: stringsOffset + 1)  // the string table's leading NUL
        file.reserveCapacity(stringsOffset + count * 32 + 4096)  // names of up to 31 bytes without a reallocation
        for index in 0..<count {
            let start = address(index), end = start + UInt(extent(index))
            if let last = sections.last, last.upperBound == start {
                sections[sections.count - 1] = last.lowerBound..<end
            } else {
                sections.append(start..<end)
            }
            let symbol = ElfSymbol(name: UInt32(file.count - stringsOffset), info: 0x12 /* STB_GLOBAL, STT_FUNC */,
                                   section: UInt16(sections.count) /* 1-based: section 0 is null */,
                                   value: UInt64(start), size: UInt64(size(index)))
            file.withUnsafeMutableBytes { $0.storeBytes(of: symbol, toByteOffset: symbolsOffset + (index + 1) * symbolSize, as: ElfSymbol.self) }
            appendName(index, &file)
            file.append(0)
        }
        let stringsSize = file.count - stringsOffset
        let sectionNames: [UInt8] = Array("\0.text\0.symtab\0.strtab\0.shstrtab\0".utf8)
        let (textName, symtabName, strtabName, shstrtabName): (UInt32, UInt32, UInt32, UInt32) = (1, 7, 15, 23)
        let sectionNamesOffset = file.count
        file.append(contentsOf: sectionNames)
        while file.count % 8 != 0 { file.append(0) }

        let sectionHeadersOffset = file.count
        let symtabIndex = sections.count + 1
        func section(name: UInt32, type: UInt32, flags: UInt64 = 0, address: UInt = 0, offset: Int = 0, size: Int,
                     link: Int = 0, info: UInt32 = 0, alignment: UInt64 = 1, entrySize: UInt64 = 0) {
            file.appendLittleEndian(name)
            file.appendLittleEndian(type)
            file.appendLittleEndian(flags)
            file.appendLittleEndian(UInt64(address))
            file.appendLittleEndian(UInt64(offset))
            file.appendLittleEndian(UInt64(size))
            file.appendLittleEndian(UInt32(link))
            file.appendLittleEndian(info)
            file.appendLittleEndian(alignment)
            file.appendLittleEndian(entrySize)
        }
        file.append(contentsOf: repeatElement(0, count: sectionHeaderSize))
        for range in sections {
            section(name: textName, type: 8 /* SHT_NOBITS */, flags: 0x6 /* SHF_ALLOC | SHF_EXECINSTR */,
                    address: range.lowerBound, size: Int(range.upperBound - range.lowerBound))
        }
        section(name: symtabName, type: 2 /* SHT_SYMTAB */, offset: symbolsOffset, size: (count + 1) * symbolSize,
                link: symtabIndex + 1, info: 1 /* first global symbol */, alignment: 8, entrySize: UInt64(symbolSize))
        section(name: strtabName, type: 3 /* SHT_STRTAB */, offset: stringsOffset, size: stringsSize)
        section(name: shstrtabName, type: 3, offset: sectionNamesOffset, size: sectionNames.count)

        var header: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 2 /* 64-bit */, 1 /* little-endian */, 1 /* version */]
        header.append(contentsOf: repeatElement(0, count: 9))
        header.appendLittleEndian(UInt16(2))  // ET_EXEC: symbol values are addresses
        header.appendLittleEndian(elfMachine)
        header.appendLittleEndian(UInt32(1))
        header.appendLittleEndian(UInt64(0))  // entry
        header.appendLittleEndian(UInt64(0))  // program headers: none
        header.appendLittleEndian(UInt64(sectionHeadersOffset))
        header.appendLittleEndian(UInt32(0))  // flags
        header.appendLittleEndian(UInt16(headerSize))
        header.appendLittleEndian(UInt16(0))
        header.appendLittleEndian(UInt16(0))
        header.appendLittleEndian(UInt16(sectionHeaderSize))
        header.appendLittleEndian(UInt16(symtabIndex + 3))  // null, texts, symtab, strtab, shstrtab
        header.appendLittleEndian(UInt16(symtabIndex + 2))
        file.replaceSubrange(0..<headerSize, with: header)
        return file
    }
}
