/// The handful of x86-64 instructions stubs are made of, encoded at chunk-relative offsets.
struct X86_64Assembler {
    enum Register: UInt8, Sendable {
        case rax = 0, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15

        var low: UInt8 { rawValue & 7 }
        var isExtended: UInt8 { rawValue >> 3 }
    }

    private(set) var bytes: [UInt8] = []
    /// Chunk-relative offset of the first emitted byte.
    let origin: Int

    init(origin: Int) {
        self.origin = origin
        bytes.reserveCapacity(64)  // one allocation per stub: a template encodes thousands
    }

    /// Chunk-relative offset of the next byte.
    var position: Int { origin + bytes.count }

    /// REX prefix with W set.
    private func rexW(r: UInt8 = 0, b: UInt8 = 0) -> UInt8 { 0x48 | (r << 2) | b }

    /// rel32 from the end of an instruction whose displacement is the last 4 bytes.
    private mutating func appendDisplacement(to absolute: Int) {
        let end = position + 4
        let displacement = absolute - end
        precondition(Int32(exactly: displacement) != nil, "RIP-relative displacement out of range")
        withUnsafeBytes(of: Int32(displacement).littleEndian) { bytes += $0 }
    }

    /// `endbr64`: the CET indirect-branch landing pad.
    mutating func endbr64() { bytes += [0xF3, 0x0F, 0x1E, 0xFA] }

    /// `mov dst, src` (64-bit register to register).
    mutating func mov(_ destination: Register, _ source: Register) {
        bytes += [rexW(r: source.isExtended, b: destination.isExtended), 0x89,
                  0xC0 | (source.low << 3) | destination.low]
    }

    /// `mov dst, qword ptr [rip + disp]` loading the word at chunk offset `absolute`.
    mutating func load(_ destination: Register, fromOffset absolute: Int) {
        bytes += [rexW(r: destination.isExtended), 0x8B, 0x05 | (destination.low << 3)]
        appendDisplacement(to: absolute)
    }

    /// `jmp qword ptr [rip + disp]` through the word at chunk offset `absolute`.
    mutating func jumpIndirect(throughOffset absolute: Int) {
        bytes += [0xFF, 0x25]
        appendDisplacement(to: absolute)
    }

    /// `lea dst, [rip + disp]`: the address of chunk offset `absolute`.
    mutating func loadAddress(_ destination: Register, ofOffset absolute: Int) {
        bytes += [rexW(r: destination.isExtended), 0x8D, 0x05 | (destination.low << 3)]
        appendDisplacement(to: absolute)
    }

    /// `movabs dst, imm64`.
    mutating func moveImmediate(_ destination: Register, _ value: UInt64) {
        bytes += [rexW(b: destination.isExtended), 0xB8 | destination.low]
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    /// `ret`.
    mutating func ret() { bytes.append(0xC3) }

    /// `jmp reg`.
    mutating func jump(to register: Register) {
        if register.isExtended != 0 { bytes.append(0x41) }
        bytes += [0xFF, 0xE0 | register.low]
    }

    /// `call qword ptr [rip + disp]` through the word at chunk offset `absolute`.
    mutating func callIndirect(throughOffset absolute: Int) {
        bytes += [0xFF, 0x15]
        appendDisplacement(to: absolute)
    }
}
