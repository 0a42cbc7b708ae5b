import CStubPoolShim

/// Call-frame information for a range of frameless code, registered with the process's unwinder,
/// so that an unwinder that stops with the program counter inside a pool chunk (a signal, a
/// sampling profiler, `backtrace()`) continues to the caller.
///
/// Every instruction of a stub, of its lazy entry and of its released entry runs with the stack
/// pointer as the caller left it: the return address is at the stack pointer on x86-64
/// (CFA = rsp + 8) and in x30 on AArch64 (CFA = sp). One FDE says so for a chunk's whole code
/// region. It is an `.eh_frame` section of one CIE and one FDE (absolute addresses), handed to
/// libgcc's `__register_frame` or, where the process unwinds with LLVM's libunwind, its FDE to
/// `__unw_add_dynamic_fde`; both are looked up at run time, and without either nothing is
/// registered. libgcc keeps registrations in a list searched linearly when one is removed: a
/// chunk is 256 KiB of code, so a million stubs make ≈124 entries.
final class UnwindRegistration: @unchecked Sendable {
    // The section and FDE offsets are immutable after init; `registered` and the FDEs' ranges
    // change only under the owner's lock (a chunk's shard lock, an arena's lock).
    private let section: UnsafeMutableRawPointer
    private let fdeOffsets: [Int]
    private let unwinder: Unwinder
    private var registered = true

    private enum Unwinder {
        case libgcc(register: @convention(c) (UnsafeRawPointer) -> Void, deregister: @convention(c) (UnsafeRawPointer) -> Void)
        case libunwind(add: @convention(c) (UInt) -> Void, remove: @convention(c) (UInt) -> Void)
    }

    /// The process's unwinder's registration functions, looked up once.
    private static let unwinder: Unwinder? = {
        typealias Frame = @convention(c) (UnsafeRawPointer) -> Void
        typealias FDE = @convention(c) (UInt) -> Void
        if let add = stubpool_dlsym_default("__unw_add_dynamic_fde"), let remove = stubpool_dlsym_default("__unw_remove_dynamic_fde") {
            return .libunwind(add: unsafeBitCast(add, to: FDE.self), remove: unsafeBitCast(remove, to: FDE.self))
        }
        if let register = stubpool_dlsym_default("__register_frame"), let deregister = stubpool_dlsym_default("__deregister_frame") {
            return .libgcc(register: unsafeBitCast(register, to: Frame.self), deregister: unsafeBitCast(deregister, to: Frame.self))
        }
        return nil
    }()

    /// Registers `code` as frameless code of `architecture`, or, with `instructions` (DWARF
    /// call-frame instructions, code alignment 1, data alignment -8), as code whose frame changes
    /// as they say from the entry rules on; nil if the process has no unwinder to register with.
    convenience init?(frameless code: Range<UInt>, instructions: [UInt8] = [], architecture: Architecture = .host) {
        self.init(ranges: [(code, instructions)], architecture: architecture)
    }

    /// Registers every range of `ranges` with its call-frame instructions, as one section of one
    /// CIE and an FDE per range: one registration for all of them (libgcc before GCC 13 keeps
    /// registrations in a list searched linearly on removal, so per-blob registrations made a
    /// batch's frees quadratic). ``disable(_:)`` takes one range out; nil if the process has no
    /// unwinder to register with.
    init?(ranges: [(code: Range<UInt>, instructions: [UInt8])], architecture: Architecture = .host) {
        guard let unwinder = Self.unwinder, !ranges.isEmpty, ranges.allSatisfy({ !$0.code.isEmpty }) else { return nil }
        let (bytes, fdeOffsets) = Self.section(ranges: ranges, architecture: architecture)
        section = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 8)
        section.copyMemory(from: bytes, byteCount: bytes.count)
        self.fdeOffsets = fdeOffsets
        self.unwinder = unwinder
        switch unwinder {
        case .libgcc(let register, _): register(UnsafeRawPointer(section))
        case .libunwind(let add, _): for offset in fdeOffsets { add(UInt(bitPattern: section + offset)) }
        }
    }

    /// Takes range `index` out: an unwinder no longer finds its frame (its code may be reused).
    /// libgcc reads the FDEs in place, so the range's length becomes 0 (one aligned 8-byte store:
    /// a concurrent unwinder sees the old length or none); libunwind removes the FDE.
    func disable(_ index: Int) {
        guard registered else { return }
        switch unwinder {
        case .libgcc:
            // The FDE's length, CIE pointer and start come first: its range is at +16.
            UnsafeMutablePointer<UInt64>(OpaquePointer(section + fdeOffsets[index] + 16)).pointee = 0
        case .libunwind(_, let remove):
            remove(UInt(bitPattern: section + fdeOffsets[index]))
        }
    }

    /// Removes the registration (before the code is unmapped); later calls do nothing.
    func deregister() {
        guard registered else { return }
        registered = false
        switch unwinder {
        case .libgcc(_, let deregister): deregister(UnsafeRawPointer(section))
        case .libunwind(_, let remove): for offset in fdeOffsets { remove(UInt(bitPattern: section + offset)) }
        }
    }

    deinit {
        deregister()
        section.deallocate()
    }

    /// The `.eh_frame` bytes (CIE, FDE, terminator) saying that every instruction in `code` runs
    /// without a frame, or as `instructions` change it, and the FDE's offset in them.
    static func section(frameless code: Range<UInt>, instructions: [UInt8] = [], architecture: Architecture) -> (bytes: [UInt8], fdeOffset: Int) {
        let (bytes, offsets) = section(ranges: [(code, instructions)], architecture: architecture)
        return (bytes, offsets[0])
    }

    /// The `.eh_frame` bytes of one CIE (the entry rules: no frame) and an FDE per range, each
    /// 8-byte aligned, then the terminator; and the FDEs' offsets.
    static func section(ranges: [(code: Range<UInt>, instructions: [UInt8])], architecture: Architecture) -> (bytes: [UInt8], fdeOffsets: [Int]) {
        let returnAddressRegister: UInt8, initialInstructions: [UInt8]
        switch architecture {
        case .x86_64:
            // DW_CFA_def_cfa rsp(7), 8; DW_CFA_offset rip(16), 1 × data alignment (-8).
            returnAddressRegister = 16
            initialInstructions = [0x0c, 7, 8, 0x80 | 16, 1]
        case .arm64:
            // DW_CFA_def_cfa sp(31), 0; DW_CFA_same_value x30.
            returnAddressRegister = 30
            initialInstructions = [0x0c, 31, 0, 0x08, 30]
        }
        // version 1, "zR", code alignment 1, data alignment -8, return address register,
        // augmentation data of one byte: FDE addresses are absolute (DW_EH_PE_absptr).
        var cie: [UInt8] = [0, 0, 0, 0, 1] + Array("zR".utf8) + [0, 1, 0x78, returnAddressRegister, 1, 0x00]
        cie += initialInstructions
        var bytes = record(cie)
        bytes.reserveCapacity(bytes.count + ranges.reduce(4) { $0 + 40 + $1.instructions.count })
        var offsets: [Int] = []
        offsets.reserveCapacity(ranges.count)
        for (code, instructions) in ranges {
            // Written in place (a commit of 10,000 framed blobs builds one section): the length,
            // the CIE pointer (from this field back to the CIE, at 0), the range, no augmentation
            // data, the instructions, DW_CFA_nop up to a multiple of 8.
            let fdeOffset = bytes.count
            offsets.append(fdeOffset)
            let body = 4 + 8 + 8 + 1 + instructions.count
            let padded = (body + 4 + 7) / 8 * 8 - 4
            append(UInt32(padded), to: &bytes)
            append(UInt32(fdeOffset + 4), to: &bytes)
            append(UInt64(code.lowerBound), to: &bytes)
            append(UInt64(code.count), to: &bytes)
            bytes.append(0)
            bytes.append(contentsOf: instructions)
            bytes.append(contentsOf: repeatElement(0, count: padded - body))
        }
        bytes += [0, 0, 0, 0]
        return (bytes, offsets)
    }

    /// A length-prefixed record, padded with DW_CFA_nop to a multiple of 8 bytes.
    private static func record(_ body: [UInt8]) -> [UInt8] {
        var body = body
        while (body.count + 4) % 8 != 0 { body.append(0) }
        return littleEndian(UInt32(body.count), count: 4) + body
    }

    private static func append<Value: FixedWidthInteger>(_ value: Value, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private static func littleEndian<Value: FixedWidthInteger>(_ value: Value, count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }
}
