/// Call-frame information for a ``CodeBody``: how to find the caller's frame from any instruction
/// of the body, so that unwinders (`backtrace()`, `_Unwind_Backtrace`, C++ exceptions thrown by
/// a function the body calls, sampling profilers) cross it.
///
/// A body starts as a function entry does: the canonical frame address (CFA) is the stack pointer
/// plus 8 on x86-64 (the return address is at the stack pointer), the stack pointer itself on
/// AArch64 (the return address is in x30). ``steps`` then say what changes, and from which byte
/// offset of the body on. Registers are DWARF numbers (``Register``).
///
/// ```swift
/// // push rbp (offset 0); mov rbp, rsp (1); … call … (4); pop rbp (16); ret (17)
/// let frame = CodeFrame(steps: [
///     .init(from: 1, .cfaOffset(16)), .init(from: 1, .saved(.x86_64FramePointer, cfaOffset: -16)),
///     .init(from: 4, .cfaRegister(.x86_64FramePointer)),
///     .init(from: 17, .cfa(.x86_64StackPointer, offset: 8)),
/// ])
/// ```
///
/// Committed with its body, the frame is registered with the process's unwinder (as for pool
/// chunks with ``ProfilingOutputs/unwind``, and with the same cost on libgcc before GCC 13: see
/// <doc:ProfilingAndDebugging>) and removed when the blob is freed. Images do not carry frames.
public struct CodeFrame: Sendable, Hashable {
    /// A DWARF register number.
    public struct Register: Sendable, Hashable {
        public var number: UInt8
        public init(_ number: UInt8) { self.number = number }
        /// x86-64 `rsp` (7).
        public static let x86_64StackPointer = Register(7)
        /// x86-64 `rbp` (6).
        public static let x86_64FramePointer = Register(6)
        /// AArch64 `sp` (31).
        public static let arm64StackPointer = Register(31)
        /// AArch64 `x29`, the frame pointer.
        public static let arm64FramePointer = Register(29)
        /// AArch64 `x30`, the link register.
        public static let arm64LinkRegister = Register(30)
    }

    /// One change to the frame's rules.
    public enum Rule: Sendable, Hashable {
        /// The CFA is `register` + `offset`.
        case cfa(Register, offset: Int)
        /// The CFA keeps its register, with a new offset.
        case cfaOffset(Int)
        /// The CFA keeps its offset, from a new register.
        case cfaRegister(Register)
        /// `register`'s caller value is saved at CFA + `cfaOffset` (a multiple of 8, negative).
        case saved(Register, cfaOffset: Int)
        /// `register` holds its caller's value again.
        case restored(Register)
    }

    /// A rule that holds from byte `offset` of the body on.
    public struct Step: Sendable, Hashable {
        public var offset: Int
        public var rule: Rule
        public init(from offset: Int, _ rule: Rule) {
            self.offset = offset
            self.rule = rule
        }
    }

    /// The changes, in order of offset.
    public var steps: [Step]

    /// A frame whose rules change at `steps` (offsets in increasing order, within the body).
    public init(steps: [Step]) { self.steps = steps }

    /// A body that never moves the stack pointer: the entry rules hold throughout.
    public static let frameless = CodeFrame(steps: [])

    /// Why the frame cannot describe a body of `size` bytes, or nil.
    func problem(bodySize size: Int) -> String? {
        var previous = 0
        for step in steps {
            guard step.offset >= previous, step.offset < size else {
                return "frame step at offset \(step.offset) is out of order or outside the \(size)-byte body"
            }
            previous = step.offset
            switch step.rule {
            case .cfa(_, let offset) where offset < 0, .cfaOffset(let offset) where offset < 0:
                return "a CFA offset cannot be negative (\(offset))"
            case .saved(_, let offset) where offset >= 0 || offset % 8 != 0:
                return "a saved register's CFA offset must be a negative multiple of 8, not \(offset)"
            default: continue
            }
        }
        return nil
    }

    /// The DWARF call-frame instructions of ``steps`` (code alignment 1, data alignment -8).
    var instructions: [UInt8] {
        var bytes: [UInt8] = []
        var location = 0
        for step in steps {
            let delta = step.offset - location
            if delta > 0 {
                if delta < 0x40 {
                    bytes.append(0x40 | UInt8(delta))  // DW_CFA_advance_loc
                } else if delta <= 0xFF {
                    bytes += [0x02, UInt8(delta)]  // DW_CFA_advance_loc1
                } else if delta <= 0xFFFF {
                    bytes += [0x03, UInt8(delta & 0xFF), UInt8(delta >> 8)]  // DW_CFA_advance_loc2
                } else {
                    bytes += [0x04] + (0..<4).map { UInt8(truncatingIfNeeded: delta >> (8 * $0)) }  // DW_CFA_advance_loc4
                }
                location = step.offset
            }
            switch step.rule {
            case .cfa(let register, let offset): bytes += [0x0C] + Self.uleb(UInt(register.number)) + Self.uleb(UInt(offset))
            case .cfaOffset(let offset): bytes += [0x0E] + Self.uleb(UInt(offset))
            case .cfaRegister(let register): bytes += [0x0D] + Self.uleb(UInt(register.number))
            case .saved(let register, let offset) where register.number < 0x40:
                // DW_CFA_offset: factored by the data alignment (-8).
                bytes += [0x80 | register.number] + Self.uleb(UInt(-offset / 8))
            case .saved(let register, let offset):
                bytes += [0x05] + Self.uleb(UInt(register.number)) + Self.uleb(UInt(-offset / 8))  // DW_CFA_offset_extended
            case .restored(let register) where register.number < 0x40: bytes.append(0xC0 | register.number)
            case .restored(let register): bytes += [0x06] + Self.uleb(UInt(register.number))  // DW_CFA_restore_extended
            }
        }
        return bytes
    }

    static func uleb(_ value: UInt) -> [UInt8] {
        var value = value, bytes: [UInt8] = []
        repeat {
            var byte = UInt8(value & 0x7F)
            value >>= 7
            if value != 0 { byte |= 0x80 }
            bytes.append(byte)
        } while value != 0
        return bytes
    }
}
