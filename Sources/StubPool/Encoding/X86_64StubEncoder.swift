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

    func assembler(origin: Int) -> X86_64Assembler { X86_64Assembler(origin: origin) }
}

extension X86_64Assembler: StubAssembling {
    typealias Encoder = X86_64StubEncoder

    mutating func landingPad() { endbr64() }

    mutating func jump(through offset: Int) { jumpIndirect(throughOffset: offset) }

    mutating func call(through offset: Int) { callIndirect(throughOffset: offset) }

    mutating func shiftArgumentsUp() {
        let registers = Encoder.argumentRegisters
        for index in stride(from: registers.count - 1, to: 0, by: -1) { mov(registers[index], registers[index - 1]) }
    }

    mutating func jump(throughTarget target: Int, context: Int, intoFirstArgument: Bool) {
        load(Encoder.branchRegister, fromOffset: target)
        load(intoFirstArgument ? Encoder.argumentRegisters[0] : Encoder.contextRegister, fromOffset: context)
        jump(to: Encoder.branchRegister)
    }

    mutating func lazyEntry(slot: Int, lazyAnchor: Int) {
        loadAddress(Encoder.branchRegister, ofOffset: slot)
        jumpIndirect(throughOffset: lazyAnchor)
    }
}
