/// x86-64 stubs (System V):
///
/// - forward: `jmp [target]`
/// - context: `mov r10, [context]; jmp [target]`
/// - bindFirstArgument: `mov r9, r8; mov r8, rcx; mov rcx, rdx; mov rdx, rsi; mov rsi, rdi;
///   mov rdi, [context]; jmp [target]`
///
/// each optionally preceded by `endbr64`. A forward slot also holds a released entry,
/// `call [anchor]`, reached only once the stub is released. Padding is `int3`.
struct X86_64StubEncoder: StubEncoder {
    typealias Register = X86_64Assembler.Register

    /// The register a context stub loads its context into (the psABI static-chain register).
    static let contextRegister = Register.r10
    /// Integer argument registers in order; bindFirstArgument shifts all but the last up by one.
    static let argumentRegisters: [Register] = [.rdi, .rsi, .rdx, .rcx, .r8, .r9]

    var architecture: Architecture { .x86_64 }
    var trapFill: [UInt8] { [0xCC] }

    func slotSize(for variant: StubVariant) -> Int {
        switch variant.kind {
        case .forward, .context: variant.landingPad ? 32 : 16
        case .bindFirstArgument: 32
        }
    }

    func encodeSlot(_ variant: StubVariant, layout: SlotLayout) -> [UInt8] {
        var asm = X86_64Assembler(origin: layout.slot)
        if variant.landingPad { asm.endbr64() }
        switch variant.kind {
        case .forward:
            asm.jumpIndirect(throughOffset: layout.target)
            // Released entry: the trap finds this stub through the return address.
            if variant.landingPad { asm.endbr64() }
            asm.callIndirect(throughOffset: layout.anchor)
        case .context:
            asm.load(Self.contextRegister, fromOffset: layout.context)
            asm.jumpIndirect(throughOffset: layout.target)
        case .bindFirstArgument:
            let registers = Self.argumentRegisters
            for index in stride(from: registers.count - 1, to: 0, by: -1) {
                asm.mov(registers[index], registers[index - 1])
            }
            asm.load(registers[0], fromOffset: layout.context)
            asm.jumpIndirect(throughOffset: layout.target)
        }
        return padded(asm.bytes, to: slotSize(for: variant))
    }

    func releasedEntryOffset(for variant: StubVariant) -> Int? {
        guard variant.kind == .forward else { return nil }
        // The released entry follows the landing pad and the forwarding jump.
        var asm = X86_64Assembler(origin: 0)
        if variant.landingPad { asm.endbr64() }
        asm.jumpIndirect(throughOffset: 0)
        return asm.bytes.count
    }
}
