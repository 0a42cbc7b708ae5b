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

    func assembler(origin: Int) -> AArch64Assembler { AArch64Assembler(origin: origin) }
}

extension AArch64Assembler: StubAssembling {
    typealias Encoder = AArch64StubEncoder

    mutating func landingPad() { btiC() }

    mutating func jump(through offset: Int) {
        load(Encoder.branchRegister, fromOffset: offset)
        branch(to: Encoder.branchRegister)
    }

    mutating func call(through offset: Int) {
        load(Encoder.branchRegister, fromOffset: offset)
        branchAndLink(to: Encoder.branchRegister)
    }

    mutating func shiftArgumentsUp() {
        let registers = Encoder.argumentRegisters
        for index in stride(from: registers.count - 1, to: 0, by: -1) { mov(registers[index], registers[index - 1]) }
    }

    /// The target with acquire semantics into x16, then the context, then `br x16`.
    mutating func jump(throughTarget target: Int, context: Int, intoFirstArgument: Bool) {
        let branch = Encoder.branchRegister
        address(branch, ofOffset: target)
        loadAcquire(branch, from: branch)
        load(intoFirstArgument ? Encoder.argumentRegisters[0] : Encoder.contextRegister, fromOffset: context)
        self.branch(to: branch)
    }

    mutating func lazyEntry(slot: Int, lazyAnchor: Int) {
        address(Encoder.lazySlotRegister, ofOffset: slot)
        load(Encoder.branchRegister, fromOffset: lazyAnchor)
        branch(to: Encoder.branchRegister)
    }
}
