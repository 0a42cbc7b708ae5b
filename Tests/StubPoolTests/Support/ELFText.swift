import Foundation

/// Reads the `.text` section of a relocatable ELF64 little-endian object, as `clang -c` makes it.
enum ELFText {
    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    /// The bytes of `.text`; throws if the object is not ELF64 or still has relocations against
    /// `.text` (the encoder's bytes are final, so the assembler's must be too).
    static func read(_ object: Data) throws -> [UInt8] {
        let bytes = [UInt8](object)
        func integer(_ offset: Int, _ size: Int) -> Int {
            (0..<size).reversed().reduce(0) { $0 << 8 | Int(bytes[offset + $1]) }
        }
        guard bytes.count > 64, bytes[0..<4] == [0x7F, 0x45, 0x4C, 0x46], bytes[4] == 2, bytes[5] == 1 else {
            throw Malformed(description: "not an ELF64 little-endian object")
        }
        let sectionTable = integer(0x28, 8), entrySize = integer(0x3A, 2)
        let count = integer(0x3C, 2), namesIndex = integer(0x3E, 2)
        struct Section { var name: Int; var offset: Int; var size: Int }
        let sections = (0..<count).map { index -> Section in
            let header = sectionTable + index * entrySize
            return Section(name: integer(header, 4), offset: integer(header + 0x18, 8), size: integer(header + 0x20, 8))
        }
        let names = sections[namesIndex]
        func name(of section: Section) -> String {
            let start = names.offset + section.name
            let end = bytes[start...].firstIndex(of: 0) ?? start
            return String(decoding: bytes[start..<end], as: UTF8.self)
        }
        if let relocations = sections.first(where: { [".rela.text", ".rel.text"].contains(name(of: $0)) }), relocations.size > 0 {
            throw Malformed(description: "the object still has \(relocations.size / 24) relocations against .text")
        }
        guard let text = sections.first(where: { name(of: $0) == ".text" }) else {
            throw Malformed(description: "no .text section")
        }
        return Array(bytes[text.offset..<text.offset + text.size])
    }
}
