/// Small real stub bodies for the code arena's tests, benchmarks and examples, for either
/// architecture on any host.
public enum CodeEmitter {
    /// Why an emitter cannot produce a body.
    public enum EmitError: Error, Sendable, Hashable, CustomStringConvertible {
        /// Constants would not fit in the integer argument registers after the caller's own.
        case tooManyArguments(callerArguments: Int, constants: Int, registers: Int)

        /// A one-line explanation with the counts.
        public var description: String {
            switch self {
            case .tooManyArguments(let caller, let constants, let registers):
                "\(caller) caller arguments and \(constants) constants exceed \(registers) argument registers"
            }
        }
    }

    /// Integer argument registers per architecture.
    public static func argumentRegisterCount(_ architecture: Architecture) -> Int {
        architecture == .x86_64 ? X86_64StubEncoder.argumentRegisters.count : AArch64StubEncoder.argumentRegisters.count
    }

    /// A thunk that loads `constants` (at most six) into the integer argument registers that
    /// follow the caller's own `callerArguments`, then tail-jumps to `target`.
    /// x86-64: `movabs reg, imm` each, `movabs r11, target; jmp r11`. AArch64: `movz`/`movk`
    /// each, the target into x16, `br x16`. Plain bytes: use the ``CodeOperand`` form for a body
    /// whose target a ``StubImage`` can carry to another process.
    public static func bindConstants(_ constants: [UInt64], afterArguments callerArguments: Int, target: UInt,
                                     architecture: Architecture) throws(EmitError) -> [UInt8] {
        try bindConstants(constants.map { .constant($0) }, afterArguments: callerArguments,
                          target: .constant(UInt64(target)), architecture: architecture).bytes
    }

    /// ``bindConstants(_:afterArguments:target:architecture:)-([UInt64],_,_,_)`` with operands:
    /// every operand that is not a ``CodeOperand/constant(_:)`` is emitted as a full-width
    /// immediate (x86-64 `movabs`; AArch64 `movz` + 3 × `movk`) and recorded as a relocation, so
    /// the body can be a template (``CodeOperand/parameter(_:)``), point at another blob of its
    /// batch, or be saved in an image with its target named symbolically.
    public static func bindConstants(_ constants: [CodeOperand], afterArguments callerArguments: Int, target: CodeOperand,
                                     architecture: Architecture) throws(EmitError) -> CodeBody {
        let registers = argumentRegisterCount(architecture)
        // Compared without adding: `callerArguments` may be anything up to Int.max.
        guard constants.count <= 6, callerArguments >= 0, callerArguments <= registers - constants.count else {
            throw .tooManyArguments(callerArguments: callerArguments, constants: constants.count, registers: registers)
        }
        var body = BodyWriter(architecture: architecture)
        for (offset, constant) in constants.enumerated() {
            body.load(argument: callerArguments + offset, constant)
        }
        body.jump(to: target)
        return body.finish()
    }

    /// A function returning `value` in the integer return register, recording a relocation when
    /// `value` is not a constant (a template's parameter, an address).
    public static func returnValue(_ value: CodeOperand, architecture: Architecture) -> CodeBody {
        var body = BodyWriter(architecture: architecture)
        body.loadReturn(value)
        return body.finish()
    }

    /// A function returning `value` in the integer return register.
    public static func returnConstant(_ value: UInt64, architecture: Architecture) -> [UInt8] {
        returnValue(.constant(value), architecture: architecture).bytes
    }
}

/// One body for either architecture: loads of operands into registers (short forms for
/// constants, full-width immediates plus a relocation for anything else), then a jump or return.
private struct BodyWriter {
    let architecture: Architecture
    private var x86 = X86_64Assembler(origin: 0)
    private var arm = AArch64Assembler(origin: 0)
    private var relocations: [CodeRelocation] = []

    init(architecture: Architecture) { self.architecture = architecture }

    mutating func load(argument index: Int, _ operand: CodeOperand) {
        switch architecture {
        case .x86_64: load(x86: X86_64StubEncoder.argumentRegisters[index], operand)
        case .arm64: load(arm: AArch64StubEncoder.argumentRegisters[index], operand)
        }
    }

    mutating func loadReturn(_ operand: CodeOperand) {
        switch architecture {
        case .x86_64: load(x86: .rax, operand); x86.ret()
        case .arm64: load(arm: .x(0), operand); arm.ret()
        }
    }

    mutating func jump(to target: CodeOperand) {
        switch architecture {
        case .x86_64:
            load(x86: X86_64StubEncoder.branchRegister, target)
            x86.jump(to: X86_64StubEncoder.branchRegister)
        case .arm64:
            load(arm: AArch64StubEncoder.branchRegister, target)
            arm.branch(to: AArch64StubEncoder.branchRegister)
        }
    }

    private mutating func load(x86 register: X86_64Assembler.Register, _ operand: CodeOperand) {
        if case .constant(let value) = operand { return x86.moveImmediate(register, value) }
        // `movabs`: REX.W, B8+r, then the 8-byte immediate.
        relocations.append(CodeRelocation(offset: x86.bytes.count + 2, field: .absolute64, operand: operand))
        x86.moveImmediate(register, 0)
    }

    private mutating func load(arm register: AArch64Assembler.Register, _ operand: CodeOperand) {
        if case .constant(let value) = operand { return arm.moveImmediate(register, value) }
        let offset = arm.moveWideFixed(register, 0)
        relocations.append(CodeRelocation(offset: offset, field: .moveWide64, operand: operand))
    }

    func finish() -> CodeBody {
        CodeBody(bytes: architecture == .x86_64 ? x86.bytes : arm.bytes, relocations: relocations)
    }
}
