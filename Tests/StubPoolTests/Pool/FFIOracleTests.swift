import CFFI
import CTestHelpers
import Testing
@testable import StubPool

/// ABI transparency with libffi as the oracle: random signatures are called with `ffi_call`
/// directly and through forward and context stubs; what the callee received must not differ.
@Suite(.serialized) struct FFIOracleTests {
    static let signatureCount = 2_000

    struct Subject {
        let pool: StubPool
        let stub: Stub
        let context: UInt
        var kind: StubKind { pool.configuration.kind }
    }

    func makeSubjects() throws -> [Subject] {
        try [StubKind.forward, .context].flatMap { kind in
            try [false, true].map { pads in
                let pool = try StubPool(.init(kind: kind, landingPads: pads))
                let context: UInt = 0x5EED_0000_0000 + UInt(pads ? 1 : 0)
                return Subject(pool: pool, stub: try pool.allocate(target: CTargets.recorder, context: context), context: context)
            }
        }
    }

    /// The libffi closure records its arguments; its return value depends on all of them.
    @Test func randomSignaturesThroughLibffiClosure() throws {
        let seed = testSeed("FFI closure oracle")
        var random = SplitMix64(seed: seed)
        let factory = FFISignatureFactory()
        let subjects = try makeSubjects()
        let log = UnsafeMutablePointer<ct_closure_log>.allocate(capacity: 1)
        let logBuffer = UnsafeMutablePointer<UInt8>.allocate(capacity: 8192)
        defer { log.deallocate(); logBuffer.deallocate() }
        var mismatches = 0
        var variadic = 0
        for index in 0..<Self.signatureCount {
            let signature = factory.makeSignature(using: &random)
            if signature.fixedCount != nil { variadic += 1 }
            guard let closure = LibffiClosure(cif: signature.cif, handler: ct_closure_recorder, userData: UnsafeMutableRawPointer(log)) else {
                Issue.record("ffi_prep_closure_loc failed for \(factory.describe(signature))")
                continue
            }
            func call(_ function: UnsafeRawPointer) -> ([UInt8], [UInt8]) {
                log.initialize(to: ct_closure_log(bytes: logBuffer, capacity: 8192, length: 0, calls: 0))
                var result = [UInt8](repeating: 0, count: 64)
                result.withUnsafeMutableBytes { buffer in
                    signature.call(function, result: buffer.baseAddress!)
                }
                let received = Array(UnsafeBufferPointer(start: logBuffer, count: log.pointee.length))
                #expect(log.pointee.calls == 1)
                return (received, result)
            }
            let direct = call(closure.code)
            // The closure must outlive every call through the stubs below.
            defer { withExtendedLifetime(closure) {} }
            for subject in subjects {
                try subject.pool.retarget(subject.stub, to: closure.code)
                let through = call(subject.stub.entry)
                if through != direct {
                    mismatches += 1
                    Issue.record("signature #\(index) \(factory.describe(signature)) differs through \(subject.pool.configuration.kind) stub (landing pads: \(subject.pool.configuration.landingPads))")
                }
            }
        }
        print("FFI closure oracle: \(Self.signatureCount) signatures (\(variadic) variadic) × \(subjects.count) stubs, \(mismatches) mismatches")
        #expect(mismatches == 0)
    }

    /// Full register state: an assembly caller loads every argument register, rax (the varargs
    /// vector count), the context register, xmm0-7 and 16 stack words with random values and calls
    /// an assembly recorder. Through a stub, everything must arrive unchanged except what the
    /// kind defines: r10 for context stubs, the shifted integer registers for bindFirstArgument.
    @Test func fullRegisterStateThroughEveryKind() throws {
        let seed = testSeed("register state")
        var random = SplitMix64(seed: seed)
        let subjects = try StubKind.allCases.flatMap { kind in
            try [false, true].map { pads in
                let pool = try StubPool(.init(kind: kind, landingPads: pads))
                let context = UInt(random.next())
                return Subject(pool: pool, stub: try pool.allocate(target: CTargets.recorder, context: context), context: context)
            }
        }
        var mismatches = 0
        for round in 0..<Self.signatureCount {
            var input = ct_register_record.random(using: &random)
            let direct = ct_register_record.recordedCall(CTargets.recorder, &input)
            var expectedDirect = input
            expectedDirect.return_address = direct.return_address
            #expect(direct.bytes == expectedDirect.bytes, "the harness itself must be transparent")
            for subject in subjects {
                let through = ct_register_record.recordedCall(subject.stub.entry, &input)
                var expected = expectedDirect
                switch subject.kind {
                case .forward: break
                case .context: expected.context = UInt64(subject.context)
                case .bindFirstArgument:
                    expected.integer = (UInt64(subject.context), input.integer.0, input.integer.1,
                                        input.integer.2, input.integer.3, input.integer.4)
                }
                if through.bytes != expected.bytes {
                    mismatches += 1
                    Issue.record("round \(round): \(subject.kind) stub (landing pads: \(subject.pool.configuration.landingPads)) changed the register state")
                }
            }
        }
        print("register state: \(Self.signatureCount) random states × \(subjects.count) stubs, \(mismatches) mismatches")
        #expect(mismatches == 0)
    }
}
