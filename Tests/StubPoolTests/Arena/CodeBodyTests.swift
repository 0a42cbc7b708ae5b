import CTestHelpers
import Testing
@testable import StubPool

/// Relocated bodies and templates (Sources/StubPool/Arena/CodeBody.swift and the arena's
/// relocating commit).
@Suite struct CodeBodyTests {
    typealias OneArgument = @convention(c) (Int64) -> Int64

    @Test func operandBodiesRunWithTheirFieldsFilled() throws {
        let arena = CodeArena()
        let weighted3 = UInt(bitPattern: CTargets.weighted3)
        // Blob 0 binds 2 and 3 after one argument and jumps to weighted3 through an address field;
        // blob 1 jumps to blob 0 through a blob field; blob 2 returns blob 1's address.
        let bodies = try [
            CodeEmitter.bindConstants([.constant(2), .constant(3)], afterArguments: 1, target: .address(weighted3), architecture: .host),
            CodeEmitter.bindConstants([], afterArguments: 0, target: .blob(0), architecture: .host),
            CodeEmitter.returnValue(.blob(1, offset: 0), architecture: .host),
        ]
        #expect(bodies[0].relocations.count == 1 && bodies[0].relocations[0].field == (Architecture.host == .x86_64 ? .absolute64 : .moveWide64))
        let blobs = try arena.commit(bodies, names: ["bind", "hop", "address"])
        #expect(blobs[0].function(as: OneArgument.self)(10) == 10 + 2 * 3 + 3 * 7)
        #expect(blobs[1].function(as: OneArgument.self)(10) == 10 + 2 * 3 + 3 * 7, "through the blob field")
        #expect(UInt(ct_call_constant(blobs[2].entry)) == blobs[1].address)
        #expect(arena.statistics().cacheMaintenancePasses == 1)
        let fields = arena.state.withLock { state in blobs.map { state.addressFields(of: $0) } }
        #expect(fields.map(\.count) == [1, 1, 1], "every blob has one address-valued field")
        try arena.free(blobs[1])
        let reused = try arena.commit([CodeEmitter.returnConstant(1, architecture: .host)])[0]
        #expect(reused.address == blobs[1].address)
        #expect(arena.state.withLock { $0.addressFields(of: reused) }.isEmpty, "freed blobs forget their fields")
        #expect(arena.state.withLock { $0.addressFields(of: blobs[2]) }.count == 1)
    }

    @Test func templatesInstantiateManyTimesInOneCommit() throws {
        let arena = CodeArena()
        let template = try CodeEmitter.bindConstants([.parameter(0)], afterArguments: 2, target: .parameter(1), architecture: .host)
        let weighted3 = UInt(bitPattern: CTargets.weighted3)
        let count = 500
        let blobs = try arena.instantiate(template, arguments: (0..<count).map { [.constant(UInt64($0)), .address(weighted3)] })
        #expect(blobs.count == count)
        for (index, blob) in blobs.enumerated() {
            #expect(ct_call3(blob.entry, 1, 4, 999) == 1 + 4 * 3 + Int64(index) * 7)
        }
        let statistics = arena.statistics()
        #expect(statistics.commits == 1 && statistics.cacheMaintenancePasses == 1)
        // Instances naming each other: a chain where each returns the next one's address.
        let chain = try arena.instantiate(CodeEmitter.returnValue(.parameter(0), architecture: .host),
                                          arguments: (0..<10).map { [.blob(($0 + 1) % 10)] })
        for index in 0..<10 { #expect(UInt(ct_call_constant(chain[index].entry)) == chain[(index + 1) % 10].address) }
    }

    @Test func badRelocationsAreTypedErrorsAndCommitNothing() throws {
        let arena = CodeArena()
        _ = try arena.commit([CodeEmitter.returnConstant(1, architecture: .host)])
        let before = arena.statistics()
        let good = CodeEmitter.returnValue(.parameter(0), architecture: .host)
        let field = good.relocations[0]
        func expectProblem(_ expected: CodeRelocationError, _ bodies: [CodeBody], at index: Int = 0) {
            #expect(throws: CodeArenaError.relocation(expected, blob: index)) { try arena.commit(bodies) }
        }
        expectProblem(.unfilledParameter(0), [good])
        var shifted = good
        shifted.relocations[0].offset = good.bytes.count - 2
        shifted.relocations[0].operand = .constant(1)
        expectProblem(.outOfBounds(offset: good.bytes.count - 2, size: field.field.size, bodySize: good.bytes.count), [shifted])
        var negative = shifted
        negative.relocations[0].offset = -1
        expectProblem(.outOfBounds(offset: -1, size: field.field.size, bodySize: good.bytes.count), [negative])
        var foreign = shifted
        foreign.relocations[0] = CodeRelocation(offset: 0, field: Architecture.host == .x86_64 ? .moveWide64 : .absolute64, operand: .constant(1))
        foreign.bytes += Array(repeating: 0, count: 16)
        expectProblem(.malformedField(offset: 0, field: foreign.relocations[0].field), [foreign])
        var noBlob = good
        noBlob.relocations[0].operand = .blob(3)
        expectProblem(.noSuchBlob(3, batch: 2), [CodeEmitter.returnValue(.address(0x1234), architecture: .host), noBlob], at: 1)
        var overlapping = CodeEmitter.returnValue(.address(0x1234), architecture: .host)
        overlapping.relocations.append(overlapping.relocations[0])
        expectProblem(.overlapping(offset: field.offset), [overlapping])
        #expect(throws: CodeArenaError.relocation(.unfilledParameter(0), blob: 1)) {
            try arena.instantiate(good, arguments: [[.constant(1)], []])
        }
        if Architecture.host == .x86_64 {
            // rel32 to an address more than 2 GiB from any arena: detected after placement, the
            // batch taken back.
            let call = CodeBody(bytes: [0xE8, 0, 0, 0, 0, 0xC3],
                                relocations: [CodeRelocation(offset: 1, field: .relative32, operand: .address(0x1000))])
            #expect(throws: CodeArenaError.self) { try arena.commit([CodeEmitter.returnValue(.address(0x1234), architecture: .host), call]) }
        }
        let after = arena.statistics()
        #expect(after.liveBlobs == before.liveBlobs && after.commits == before.commits && after.liveBytes == before.liveBytes)
    }

    /// The AArch64 field on any host: four `movz`/`movk`, every 16-bit part written and read back.
    @Test func moveWideFieldsRoundTrip() throws {
        let body = CodeEmitter.returnValue(.parameter(0), architecture: .arm64)
        #expect(body.bytes.count == 20 && body.relocations == [CodeRelocation(offset: 0, field: .moveWide64, operand: .parameter(0))])
        var bytes = body.bytes
        for value: UInt64 in [0, 1, 0xFFFF_0000_FFFF_0000, 0x1234_5678_9ABC_DEF0, .max] {
            try bytes.withUnsafeMutableBytes { raw in
                try CodeRelocation.Field.moveWide64.store(value, at: 0, in: raw, origin: 0)
                #expect(AArch64Assembler.isMoveWideSequence(UnsafeRawBufferPointer(raw), at: 0))
                #expect(CodeRelocation.Field.moveWide64.load(at: 0, in: UnsafeRawBufferPointer(raw), origin: 0) == value)
            }
            // The same as the short-form emitter's value, by what the code loads.
            #expect(bytes.withUnsafeBytes { CodeRelocation.Field.moveWide64.load(at: 0, in: $0, origin: 0) } == value)
        }
        bytes[7] ^= 0x40  // the second instruction: movk becomes another opcode
        #expect(!bytes.withUnsafeBytes { AArch64Assembler.isMoveWideSequence($0, at: 0) })
    }

    @Test func relative32FieldsPointAtTheirTarget() throws {
        var bytes = [UInt8](repeating: 0, count: 8)
        try bytes.withUnsafeMutableBytes { raw in
            try CodeRelocation.Field.relative32.store(0x1_0000, at: 2, in: raw, origin: 0x2_0000)
            #expect(CodeRelocation.Field.relative32.load(at: 2, in: UnsafeRawBufferPointer(raw), origin: 0x2_0000) == 0x1_0000)
            #expect(throws: CodeRelocationError.outOfRange(offset: 2, value: 0x1_0000_0000_0000)) {
                try CodeRelocation.Field.relative32.store(0x1_0000_0000_0000, at: 2, in: raw, origin: 0x2_0000)
            }
        }
    }
}
