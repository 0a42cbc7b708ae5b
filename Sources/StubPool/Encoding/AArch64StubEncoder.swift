/// AArch64 stubs (AAPCS64), each optionally preceded by `bti c`:
///
/// - forward: `ldr x16, target; br x16`
/// - context: `adr x16, target; ldar x16, [x16]; ldr x17, context; br x16`
/// - bindFirstArgument: `mov x7, x6; … mov x1, x0; adr x16, target; ldar x16, [x16];
///   ldr x0, context; br x16`
///
/// Data words are reached with PC-relative `ldr` (literal) and `adr`. Kinds with a context load
/// the target first with acquire semantics, then the context: the retargeting thread writes the
/// context, then the target with a release store, so a call that reaches a new target always
/// carries that target's context. Outgoing branches go through x16, which `bti c` accepts.
/// A forward slot also holds a released entry, `ldr x16, anchor; blr x16`, reached only once the
/// stub is released (the trap finds the stub through x30). With `lazyEntry`, a slot of any kind
/// ends with a lazy entry, `adr x17, slot; ldr x16, lazy anchor; br x16`, which hands the slot's
/// address to the lazy resolver in x17 without touching x30. Padding is `brk #0`.
struct AArch64StubEncoder: StubEncoder {
    typealias Register = AArch64Assembler.Register

    /// The register context stubs load their context into (libffi's closure register, IP1).
    static let contextRegister = Register.x17
    /// The register a lazy entry hands its slot's address to the resolver in (IP1).
    static let lazySlotRegister = Register.x17
    /// The register outgoing branches go through (IP0).
    static let branchRegister = Register.x16
    /// Integer argument registers x0–x7; bindFirstArgument shifts all but the last up by one.
    static let argumentRegisters: [Register] = (0...7).map { Register.x($0) }

    var architecture: Architecture { .arm64 }
    var trapFill: [UInt8] { [0x00, 0x00, 0x20, 0xD4] }  // brk #0
    var dataReach: Int { AArch64Assembler.literalReach - 4 }

    func code(_ variant: StubVariant, layout: SlotLayout) -> [UInt8] {
        var assembler = AArch64Assembler(origin: layout.slot)
        emit(variant, into: &assembler, layout: layout)
        return assembler.bytes
    }

    func releasedEntryOffset(for variant: StubVariant) -> Int? {
        guard variant.kind == .forward else { return nil }
        // The released entry follows the landing pad, the target load and the branch.
        var assembler = AArch64Assembler(origin: 0)
        if variant.landingPad { assembler.btiC() }
        assembler.load(Self.branchRegister, fromOffset: 0)
        assembler.branch(to: Self.branchRegister)
        return assembler.words.count * 4
    }

    private func emit(_ variant: StubVariant, into assembler: inout AArch64Assembler, layout: SlotLayout) {
        if variant.landingPad { assembler.btiC() }
        let branch = Self.branchRegister
        switch variant.kind {
        case .forward:
            assembler.load(branch, fromOffset: layout.target)
            assembler.branch(to: branch)
            // Released entry, a branch target itself: `br x16` lands here.
            if variant.landingPad { assembler.btiC() }
            assembler.load(branch, fromOffset: layout.anchor)
            assembler.branchAndLink(to: branch)
        case .context:
            emitTargetThenContext(into: &assembler, layout: layout, contextRegister: Self.contextRegister)
        case .bindFirstArgument:
            let registers = Self.argumentRegisters
            for index in stride(from: registers.count - 1, to: 0, by: -1) {
                assembler.mov(registers[index], registers[index - 1])
            }
            emitTargetThenContext(into: &assembler, layout: layout, contextRegister: registers[0])
        }
        if variant.lazyEntry {
            if variant.landingPad { assembler.btiC() }
            assembler.address(Self.lazySlotRegister, ofOffset: layout.slot)
            assembler.load(branch, fromOffset: layout.lazyAnchor)
            assembler.branch(to: branch)
        }
    }

    /// Target with acquire semantics into x16, then the context, then `br x16`.
    private func emitTargetThenContext(into assembler: inout AArch64Assembler, layout: SlotLayout, contextRegister: Register) {
        let branch = Self.branchRegister
        assembler.address(branch, ofOffset: layout.target)
        assembler.loadAcquire(branch, from: branch)
        assembler.load(contextRegister, fromOffset: layout.context)
        assembler.branch(to: branch)
    }
}
