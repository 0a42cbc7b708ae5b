import Testing
@testable import StubPool

@Suite struct X86_64StubEncoderTests {
    let encoder = X86_64StubEncoder()
    let layout = SlotLayout(slot: 0x40, context: 0x1_0000 + 0x40, target: 0x1_0000 + 0x48, anchor: 0x1_FFF0)

    func displacement(_ bytes: [UInt8], at offset: Int) -> Int {
        Int(Int32(littleEndian: bytes[offset..<offset + 4].withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }))
    }

    @Test func slotSizesArePowersOfTwo() {
        for kind in StubKind.allCases {
            for pads in [false, true] {
                let size = encoder.slotSize(for: StubVariant(kind: kind, landingPad: pads))
                #expect(size & (size - 1) == 0)
                #expect(encoder.encodeSlot(StubVariant(kind: kind, landingPad: pads), layout: layout).count == size)
            }
        }
        #expect(encoder.slotSize(for: .init(kind: .forward)) == 16)
        #expect(encoder.slotSize(for: .init(kind: .context)) == 32)
        #expect(encoder.slotSize(for: .init(kind: .forward, landingPad: true)) == 32)
        #expect(encoder.slotSize(for: .init(kind: .bindFirstArgument)) == 32)
    }

    @Test func forwardIsRIPRelativeJumpThenReleasedEntryThenTraps() {
        let bytes = encoder.encodeSlot(.init(kind: .forward), layout: layout)
        #expect(Array(bytes[0..<2]) == [0xFF, 0x25])
        #expect(0x40 + 6 + displacement(bytes, at: 2) == layout.target)
        #expect(encoder.releasedEntryOffset(for: .init(kind: .forward)) == 6)
        #expect(Array(bytes[6..<8]) == [0xFF, 0x15])
        #expect(0x40 + 12 + displacement(bytes, at: 8) == layout.anchor)
        #expect(bytes[12...].allSatisfy { $0 == 0xCC })
    }

    @Test func contextLoadsTargetThenContextThenJumps() {
        let bytes = encoder.encodeSlot(.init(kind: .context, landingPad: true), layout: layout)
        #expect(Array(bytes[0..<4]) == [0xF3, 0x0F, 0x1E, 0xFA])
        #expect(Array(bytes[4..<7]) == [0x4C, 0x8B, 0x1D])  // mov r11, [rip+d]
        #expect(0x40 + 11 + displacement(bytes, at: 7) == layout.target)
        #expect(Array(bytes[11..<14]) == [0x4C, 0x8B, 0x15])  // mov r10, [rip+d]
        #expect(0x40 + 18 + displacement(bytes, at: 14) == layout.context)
        #expect(Array(bytes[18..<21]) == [0x41, 0xFF, 0xE3])  // jmp r11
        #expect(bytes[21...].allSatisfy { $0 == 0xCC })
    }

    @Test func bindShiftsArgumentRegisters() {
        let bytes = encoder.encodeSlot(.init(kind: .bindFirstArgument), layout: layout)
        // mov r9,r8; mov r8,rcx; mov rcx,rdx; mov rdx,rsi; mov rsi,rdi; mov rdi,[rip+d]; jmp [rip+d]
        #expect(Array(bytes[0..<15]) == [0x4D, 0x89, 0xC1, 0x49, 0x89, 0xC8, 0x48, 0x89, 0xD1,
                                          0x48, 0x89, 0xF2, 0x48, 0x89, 0xFE])
        #expect(Array(bytes[15..<18]) == [0x4C, 0x8B, 0x1D])  // mov r11, [rip+d]
        #expect(0x40 + 22 + displacement(bytes, at: 18) == layout.target)
        #expect(Array(bytes[22..<25]) == [0x48, 0x8B, 0x3D])  // mov rdi, [rip+d]
        #expect(0x40 + 29 + displacement(bytes, at: 25) == layout.context)
    }
}
