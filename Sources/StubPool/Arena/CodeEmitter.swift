/// Small real stub bodies for the code arena's tests, benchmarks and examples, for either
/// architecture on any host.
public enum CodeEmitter {
    /// Why an emitter cannot produce a body.
    public enum Problem: Error, Sendable, Hashable, CustomStringConvertible {
        /// Constants would not fit in the integer argument registers after the caller's own.
        case tooManyArguments(callerArguments: Int, constants: Int, registers: Int)

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
    /// each, the target into x16, `br x16`.
    public static func bindConstants(_ constants: [UInt64], afterArguments callerArguments: Int, target: UInt,
                                     architecture: Architecture) throws(Problem) -> [UInt8] {
        let registers = argumentRegisterCount(architecture)
        // Compared without adding: `callerArguments` may be anything up to Int.max.
        guard constants.count <= 6, callerArguments >= 0, callerArguments <= registers - constants.count else {
            throw .tooManyArguments(callerArguments: callerArguments, constants: constants.count, registers: registers)
        }
        switch architecture {
        case .x86_64:
            var asm = X86_64Assembler(origin: 0)
            for (offset, constant) in constants.enumerated() {
                asm.moveImmediate(X86_64StubEncoder.argumentRegisters[callerArguments + offset], constant)
            }
            asm.moveImmediate(X86_64StubEncoder.branchRegister, UInt64(target))
            asm.jump(to: X86_64StubEncoder.branchRegister)
            return asm.bytes
        case .arm64:
            var asm = AArch64Assembler(origin: 0)
            for (offset, constant) in constants.enumerated() {
                asm.moveImmediate(AArch64StubEncoder.argumentRegisters[callerArguments + offset], constant)
            }
            asm.moveImmediate(AArch64StubEncoder.branchRegister, UInt64(target))
            asm.branch(to: AArch64StubEncoder.branchRegister)
            return asm.bytes
        }
    }

    /// A function returning `value` in the integer return register.
    public static func returnConstant(_ value: UInt64, architecture: Architecture) -> [UInt8] {
        switch architecture {
        case .x86_64:
            var asm = X86_64Assembler(origin: 0)
            asm.moveImmediate(.rax, value)
            asm.ret()
            return asm.bytes
        case .arm64:
            var asm = AArch64Assembler(origin: 0)
            asm.moveImmediate(.x(0), value)
            asm.ret()
            return asm.bytes
        }
    }
}
