import Foundation
import Testing
@testable import StubPool

/// Byte-exact: each encoder's slot equals what LLVM's assembler (the clang shipped with the
/// Swift toolchain) makes of the same stub written as assembly, for every kind and option.
@Suite struct LLVMCrossCheckTests {
    /// A slot in the middle of a 256 KiB chunk and data words past its end, as in a real chunk.
    static let layout = SlotLayout(slot: 0x140, context: 0x4_0140, target: 0x4_0148, anchor: 0x7_FFF0)

    /// The stub as assembly text (the specification the encoders are checked against), with
    /// data words named relative to the chunk's first byte.
    static func assembly(_ variant: StubVariant, on architecture: Architecture) -> [String] {
        let target = "chunk + \(layout.target)", context = "chunk + \(layout.context)", anchor = "chunk + \(layout.anchor)"
        let slot = "chunk + \(layout.slot)", lazyAnchor = "chunk + \(layout.anchor + 8)"
        switch architecture {
        case .x86_64:
            let pad = variant.landingPad ? ["endbr64"] : []
            let lazy = variant.lazyEntry ? pad + ["lea r11, [rip + \(slot)]", "jmp qword ptr [rip + \(lazyAnchor)]"] : []
            switch variant.kind {
            case .forward:
                return pad + ["jmp qword ptr [rip + \(target)]"] + pad + ["call qword ptr [rip + \(anchor)]"] + lazy
            case .context:
                return pad + ["mov r11, qword ptr [rip + \(target)]", "mov r10, qword ptr [rip + \(context)]", "jmp r11"] + lazy
            case .bindFirstArgument:
                return pad + ["mov r9, r8", "mov r8, rcx", "mov rcx, rdx", "mov rdx, rsi", "mov rsi, rdi",
                              "mov r11, qword ptr [rip + \(target)]", "mov rdi, qword ptr [rip + \(context)]", "jmp r11"] + lazy
            }
        case .arm64:
            let pad = variant.landingPad ? ["bti c"] : []
            let lazy = variant.lazyEntry ? pad + ["adr x17, \(slot)", "ldr x16, \(lazyAnchor)", "br x16"] : []
            switch variant.kind {
            case .forward:
                return pad + ["ldr x16, \(target)", "br x16"] + pad + ["ldr x16, \(anchor)", "blr x16"] + lazy
            case .context:
                return pad + ["adr x16, \(target)", "ldar x16, [x16]", "ldr x17, \(context)", "br x16"] + lazy
            case .bindFirstArgument:
                return pad + (1...7).reversed().map { "mov x\($0), x\($0 - 1)" }
                    + ["adr x16, \(target)", "ldar x16, [x16]", "ldr x0, \(context)", "br x16"] + lazy
            }
        }
    }

    /// Slot sizes users can rely on.
    static func expectedSlotSize(_ variant: StubVariant, on architecture: Architecture) -> Int {
        switch (architecture, variant.kind, variant.landingPad) {
        case (_, .forward, false) where variant.lazyEntry, (_, .context, false) where variant.lazyEntry: 32
        case (_, _, _) where variant.lazyEntry: 64
        case (_, .forward, false): 16
        case (_, .forward, true): 32
        case (.x86_64, .context, _): 32
        case (.arm64, .context, false): 16
        case (.arm64, .context, true): 32
        case (.x86_64, .bindFirstArgument, false): 32
        case (_, .bindFirstArgument, _): 64
        }
    }

    static var variants: [StubVariant] {
        StubKind.allCases.flatMap { kind in [false, true].map { StubVariant(kind: kind, landingPad: $0) } }
            + StubKind.allCases.flatMap { kind in [false, true].map { StubVariant(kind: kind, landingPad: $0, lazyEntry: true) } }
    }

    /// Assembles `lines` at chunk offset `layout.slot` and returns the instruction bytes.
    static func assemble(_ lines: [String], on architecture: Architecture) throws -> [UInt8] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stubpool-llvm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("stub.s"), object = directory.appendingPathComponent("stub.o")
        let prologue = architecture == .x86_64 ? [".intel_syntax noprefix"] : []
        let text = prologue + [".text", "chunk:", ".skip \(layout.slot)"] + lines
        try (text.joined(separator: "\n") + "\n").write(to: source, atomically: true, encoding: .utf8)
        let triple = architecture == .x86_64 ? "x86_64-linux-gnu" : "aarch64-linux-gnu"
        try ExternalTools.run(ExternalTools.clang, ["--target=\(triple)", "-c", source.path, "-o", object.path],
                              missing: ExternalTools.clangMissing)
        return Array(try ELFText.read(Data(contentsOf: object)).dropFirst(layout.slot))
    }

    func check(_ architecture: Architecture) throws {
        let encoder = architecture.encoder
        for variant in Self.variants {
            let reference = try Self.assemble(Self.assembly(variant, on: architecture), on: architecture)
            let slot = encoder.encodeSlot(variant, layout: Self.layout)
            #expect(slot.count == Self.expectedSlotSize(variant, on: architecture), "\(architecture) \(variant) slot size")
            #expect(Array(slot.prefix(reference.count)) == reference, "\(architecture) \(variant) differs from LLVM")
            #expect(Array(slot.dropFirst(reference.count)) == encoder.trapBytes(slot.count - reference.count),
                    "\(architecture) \(variant) padding is not trap fill")
        }
        print("\(architecture): \(Self.variants.count) variants byte-identical to LLVM's assembler")
    }

    @Test("AArch64 slots equal LLVM's encoding",
          .enabled(if: ExternalTools.clang != nil || ExternalTools.isCI, "\(ExternalTools.clangMissing)"))
    func aarch64MatchesLLVM() throws { try check(.arm64) }

    @Test("x86-64 slots equal LLVM's encoding",
          .enabled(if: ExternalTools.clang != nil || ExternalTools.isCI, "\(ExternalTools.clangMissing)"))
    func x86_64MatchesLLVM() throws { try check(.x86_64) }

    @Test("AArch64 trap fill is brk #0") func aarch64TrapFill() throws {
        #expect(AArch64StubEncoder().trapFill == [0x00, 0x00, 0x20, 0xD4])
    }
}

/// The arena's emitters against LLVM's assembler, both architectures.
extension LLVMCrossCheckTests {
    static let constants: [UInt64] = [0, 0xFFFF, 0x1_0000, 0x1234_5678_9ABC_DEF0, 0x8000_0000_0000_0000, 42]
    static let emitterTarget: UInt = 0x0000_7F12_3456_7890

    static func emitterCases(_ architecture: Architecture) throws -> [(name: String, bytes: [UInt8], assembly: [String])] {
        var cases: [(String, [UInt8], [String])] = []
        func move(_ register: String, _ value: UInt64) -> [String] {
            switch architecture {
            case .x86_64: return ["movabs \(register), \(value)"]
            case .arm64:
                return ["movz \(register), #\(value & 0xFFFF)"] + (1..<4).compactMap { part in
                    let half = (value >> (16 * UInt64(part))) & 0xFFFF
                    return half == 0 ? nil : "movk \(register), #\(half), lsl #\(16 * part)"
                }
            }
        }
        let arguments = architecture == .x86_64 ? ["rdi", "rsi", "rdx", "rcx", "r8", "r9"] : (0...7).map { "x\($0)" }
        for value in constants {
            let assembly = architecture == .x86_64 ? move("rax", value) + ["ret"] : move("x0", value) + ["ret"]
            cases.append(("returnConstant(\(value))", CodeEmitter.returnConstant(value, architecture: architecture), assembly))
        }
        for caller in 0...2 {
            for count in 0...min(6, arguments.count - caller) {
                let values = Array(constants.prefix(count))
                var assembly = values.enumerated().flatMap { move(arguments[caller + $0.offset], $0.element) }
                assembly += architecture == .x86_64
                    ? move("r11", UInt64(emitterTarget)) + ["jmp r11"]
                    : move("x16", UInt64(emitterTarget)) + ["br x16"]
                let bytes = try CodeEmitter.bindConstants(values, afterArguments: caller, target: emitterTarget, architecture: architecture)
                cases.append(("bindConstants(\(count) after \(caller))", bytes, assembly))
            }
        }
        return cases
    }

    func checkEmitters(_ architecture: Architecture) throws {
        let cases = try Self.emitterCases(architecture)
        for item in cases {
            #expect(try Self.assemble(item.assembly, on: architecture) == item.bytes, "\(architecture) \(item.name)")
        }
        print("\(architecture): \(cases.count) emitted bodies byte-identical to LLVM's assembler")
    }

    @Test("AArch64 arena emitters equal LLVM's encoding",
          .enabled(if: ExternalTools.clang != nil || ExternalTools.isCI, "\(ExternalTools.clangMissing)"))
    func aarch64EmittersMatchLLVM() throws { try checkEmitters(.arm64) }

    @Test("x86-64 arena emitters equal LLVM's encoding",
          .enabled(if: ExternalTools.clang != nil || ExternalTools.isCI, "\(ExternalTools.clangMissing)"))
    func x86_64EmittersMatchLLVM() throws { try checkEmitters(.x86_64) }
}
