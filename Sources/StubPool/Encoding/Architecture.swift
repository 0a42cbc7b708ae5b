/// An instruction-set architecture StubPool can produce stubs for.
public enum Architecture: String, Sendable, Hashable, CaseIterable {
    /// x86-64 (System V ABI).
    case x86_64
    /// AArch64 (AAPCS64).
    case arm64

    /// The architecture this process runs on.
    public static var host: Architecture {
        #if arch(x86_64)
        return .x86_64
        #elseif arch(arm64)
        return .arm64
        #else
        #error("StubPool supports x86-64 and AArch64 hosts only")
        #endif
    }

    /// The encoder that produces this architecture's stub code (on any host).
    var encoder: any StubEncoder {
        switch self {
        case .x86_64: X86_64StubEncoder()
        case .arm64: AArch64StubEncoder()
        }
    }

    /// `count` bytes of this architecture's trap fill (`int3` / `brk #0`): what StubPool puts in
    /// every byte of code memory that is not an instruction, for padding generated code the same way.
    public func trapBytes(_ count: Int) -> [UInt8] { encoder.trapBytes(count) }
}
