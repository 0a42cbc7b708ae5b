/// x86-64 stubs (System V), each optionally preceded by `endbr64`:
///
/// - forward: `jmp [target]`
/// - context: `mov r11, [target]; mov r10, [context]; jmp r11`
/// - bindFirstArgument: `mov r9, r8; mov r8, rcx; mov rcx, rdx; mov rdx, rsi; mov rsi, rdi;
///   mov r11, [target]; mov rdi, [context]; jmp r11`
///
/// Kinds with a context load the target before the context (x86 keeps loads in order): the
/// retargeting thread writes the context, then the target with a release store, so a call that
/// reaches a new target always carries that target's context. `r11` is scratch in the psABI and
/// never carries an argument. A forward slot also holds a released entry, `call [anchor]`,
/// reached only once the stub is released. With `lazyEntry`, a slot of any kind ends with a lazy
/// entry, `lea r11, [rip+slot]; jmp [lazy anchor]`, which hands the slot's address to the lazy
/// resolver whatever context the racing load put in the context register. Padding is `int3`.
struct X86_64StubEncoder: StubEncoder {
    typealias Register = X86_64Assembler.Register

    /// The register a context stub loads its context into (the psABI static-chain register).
    static let contextRegister = Register.r10
    /// The scratch register kinds with a context carry their target in.
    static let branchRegister = Register.r11
    /// Integer argument registers in order; bindFirstArgument shifts all but the last up by one.
    static let argumentRegisters: [Register] = [.rdi, .rsi, .rdx, .rcx, .r8, .r9]

    var architecture: Architecture { .x86_64 }
    var trapFill: [UInt8] { [0xCC] }
    var dataReach: Int { Int(Int32.max) }

    func code(_ variant: StubVariant, layout: SlotLayout) -> [UInt8] {
        var asm = X86_64Assembler(origin: layout.slot)
        if variant.landingPad { asm.endbr64() }
        switch variant.kind {
        case .forward:
            asm.jumpIndirect(throughOffset: layout.target)
            // Released entry: the trap finds this stub through the return address.
            if variant.landingPad { asm.endbr64() }
            asm.callIndirect(throughOffset: layout.anchor)
        case .context:
            emitTargetThenContext(into: &asm, layout: layout, contextRegister: Self.contextRegister)
        case .bindFirstArgument:
            let registers = Self.argumentRegisters
            for index in stride(from: registers.count - 1, to: 0, by: -1) {
                asm.mov(registers[index], registers[index - 1])
            }
            emitTargetThenContext(into: &asm, layout: layout, contextRegister: registers[0])
        }
        if variant.lazyEntry {
            if variant.landingPad { asm.endbr64() }
            asm.loadAddress(Self.branchRegister, ofOffset: layout.slot)
            asm.jumpIndirect(throughOffset: layout.lazyAnchor)
        }
        return asm.bytes
    }

    private func emitTargetThenContext(into asm: inout X86_64Assembler, layout: SlotLayout, contextRegister: Register) {
        asm.load(Self.branchRegister, fromOffset: layout.target)
        asm.load(contextRegister, fromOffset: layout.context)
        asm.jump(to: Self.branchRegister)
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
