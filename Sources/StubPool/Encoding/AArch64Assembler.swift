/// The handful of AArch64 instructions stubs are made of, encoded at chunk-relative offsets.
/// Every instruction is one little-endian 32-bit word.
struct AArch64Assembler {
    /// General-purpose 64-bit registers x0–x30 by number.
    struct Register: Sendable, Hashable {
        let number: UInt32
        static func x(_ number: UInt32) -> Register {
            precondition(number <= 30, "x\(number) is not a general-purpose register")
            return Register(number: number)
        }
        /// IP0 and IP1, the intra-procedure-call scratch registers.
        static let x16 = Register.x(16)
        static let x17 = Register.x(17)
        /// The zero register in register-operand positions of logical instructions.
        static let zero = Register(number: 31)
    }

    /// Reach of `ldr` (literal) and `adr`: a signed 21-bit byte offset.
    static let literalReach = 1 << 20

    private(set) var words: [UInt32] = []
    /// Chunk-relative offset of the first emitted instruction.
    let origin: Int

    init(origin: Int) {
        self.origin = origin
        words.reserveCapacity(16)  // one allocation per stub: a template encodes thousands
    }

    /// Chunk-relative offset of the next instruction.
    var position: Int { origin + words.count * 4 }

    var bytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(words.count * 4)
        for word in words { withUnsafeBytes(of: word.littleEndian) { bytes += $0 } }
        return bytes
    }

    /// PC-relative byte offset from the next instruction to chunk offset `absolute`, checked
    /// against the ±1 MiB reach.
    private func pcRelative(to absolute: Int, alignment: Int) -> Int {
        let offset = absolute - position
        precondition(offset >= -Self.literalReach && offset < Self.literalReach,
                     "PC-relative offset \(offset) out of the ±1 MiB range")
        precondition(offset % alignment == 0, "PC-relative offset \(offset) is not \(alignment)-byte aligned")
        return offset
    }

    /// `bti c`: the landing pad for calls and for `br x16`/`br x17`.
    mutating func btiC() { words.append(0xD503_245F) }

    /// `brk #imm`.
    mutating func brk(_ immediate: UInt16) { words.append(0xD420_0000 | UInt32(immediate) << 5) }

    /// `mov xd, xm` (the alias of `orr xd, xzr, xm`).
    mutating func mov(_ destination: Register, _ source: Register) {
        words.append(0xAA00_03E0 | source.number << 16 | destination.number)
    }

    /// `ldr xt, label` (literal): loads the 8-byte word at chunk offset `absolute`.
    mutating func load(_ destination: Register, fromOffset absolute: Int) {
        let imm19 = UInt32(truncatingIfNeeded: pcRelative(to: absolute, alignment: 4) >> 2) & 0x7_FFFF
        words.append(0x5800_0000 | imm19 << 5 | destination.number)
    }

    /// `adr xd, label`: the address of chunk offset `absolute`.
    mutating func address(_ destination: Register, ofOffset absolute: Int) {
        let offset = UInt32(truncatingIfNeeded: pcRelative(to: absolute, alignment: 1)) & 0x1F_FFFF
        words.append(0x1000_0000 | (offset & 3) << 29 | (offset >> 2) << 5 | destination.number)
    }

    /// `ldar xt, [xn]`: load-acquire; later loads cannot be satisfied before it.
    mutating func loadAcquire(_ destination: Register, from base: Register) {
        words.append(0xC8DF_FC00 | base.number << 5 | destination.number)
    }

    /// `movz xd, #imm16, lsl #shift` then `movk` for every other non-zero 16-bit part of `value`.
    mutating func moveImmediate(_ destination: Register, _ value: UInt64) {
        words.append(0xD280_0000 | UInt32(value & 0xFFFF) << 5 | destination.number)
        for part in 1..<4 where (value >> (16 * UInt64(part))) & 0xFFFF != 0 {
            let immediate = UInt32((value >> (16 * UInt64(part))) & 0xFFFF)
            words.append(0xF280_0000 | UInt32(part) << 21 | immediate << 5 | destination.number)
        }
    }

    /// `movz xd, #h0` then `movk xd, #hN, lsl #16N` for N = 1…3: always four instructions, so
    /// that a relocation (``CodeRelocation/Field/moveWide64``) can set any value later. Returns the
    /// byte offset (from `origin`) of the first instruction.
    @discardableResult
    mutating func moveWideFixed(_ destination: Register, _ value: UInt64) -> Int {
        let start = words.count * 4
        words.append(0xD280_0000 | UInt32(value & 0xFFFF) << 5 | destination.number)
        for part in 1..<4 {
            let immediate = UInt32((value >> (16 * UInt64(part))) & 0xFFFF)
            words.append(0xF280_0000 | UInt32(part) << 21 | immediate << 5 | destination.number)
        }
        return start
    }

    /// Whether the 16 bytes at `offset` are `movz`/`movk` ×4 (shifts 0, 16, 32, 48) to one register.
    static func isMoveWideSequence(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        let first = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        for part in 0..<4 {
            let word = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4 * part, as: UInt32.self))
            let opcode: UInt32 = (part == 0 ? 0xD280_0000 : 0xF280_0000) | UInt32(part) << 21
            guard word & 0xFFE0_0000 == opcode, word & 0x1F == first & 0x1F else { return false }
        }
        return true
    }

    /// Sets the four 16-bit immediates of the sequence at `offset` to the parts of `value`.
    static func storeMoveWide(_ value: UInt64, in bytes: UnsafeMutableRawBufferPointer, at offset: Int) {
        for part in 0..<4 {
            let position = offset + 4 * part
            var word = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
            word = word & ~(0xFFFF << 5) | UInt32((value >> (16 * UInt64(part))) & 0xFFFF) << 5
            bytes.storeBytes(of: word.littleEndian, toByteOffset: position, as: UInt32.self)
        }
    }

    /// The value the sequence at `offset` loads.
    static func loadMoveWide(from bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt64 {
        (0..<4).reduce(UInt64(0)) { value, part in
            let word = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4 * part, as: UInt32.self))
            return value | UInt64((word >> 5) & 0xFFFF) << (16 * UInt64(part))
        }
    }

    /// `ret` (through x30).
    mutating func ret() { words.append(0xD65F_03C0) }

    /// `br xn`.
    mutating func branch(to register: Register) { words.append(0xD61F_0000 | register.number << 5) }

    /// `blr xn`.
    mutating func branchAndLink(to register: Register) { words.append(0xD63F_0000 | register.number << 5) }
}
