import CFFI
import CStubPoolShim
import CTestHelpers
import CTestVectors256
import CTestVectors512
import Testing
@testable import StubPool

/// The resolvers are transparent: the first call of each lazy stub goes through one (batch limit
/// 1, so every stub gets its own first call), and the callee must not be able to tell — for every
/// kind, the first call arrives exactly as a call through a materialized stub of that kind would.
/// Generators overwrite every vector register the CPU has before returning, so anything a
/// resolver failed to save would show.
@Suite(.serialized) struct LazyOracleTests {
    static let signatureCount = 2_000

    /// The widest vector registers this CPU has: 2 (zmm), 1 (ymm) or 0 (xmm).
    static let vectorLevel: Int32 = ct_cpu_supports_avx512f() != 0 ? 2 : ct_cpu_supports_avx() != 0 ? 1 : 0

    static func lazyStubs(
        kind: StubKind = .context, landingPads: Bool = false, context: @escaping @Sendable (UInt) -> UInt = { $0 &* 0x9E37_79B9 }
    ) throws -> LazyStubs<UInt> {
        let pool = try StubPool(.init(kind: kind, landingPads: landingPads, lazyBatches: true))
        return try pool.lazyStubs(of: UInt.self, batchLimit: 1) { requests in
            ct_clobber_vector_registers(vectorLevel)
            return requests.map { LazyResolution(target: UnsafeRawPointer(bitPattern: $0.spec)!, context: context($0.spec)) }
        }
    }

    /// Forward and context stubs into libffi closures (bindFirstArgument changes the signature; the
    /// register-state test covers it).
    @Test(arguments: [StubKind.forward, .context])
    func randomSignaturesThroughTheResolver(kind: StubKind) throws {
        let seed = testSeed("lazy FFI oracle \(kind)")
        var random = SplitMix64(seed: seed)
        let factory = FFISignatureFactory()
        let lazy = try Self.lazyStubs(kind: kind)
        let log = UnsafeMutablePointer<ct_closure_log>.allocate(capacity: 1)
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: 8192)
        defer { log.deallocate(); buffer.deallocate() }
        var mismatches = 0, variadic = 0, stack = 0
        for index in 0..<Self.signatureCount {
            let signature = factory.makeSignature(using: &random)
            if signature.fixedCount != nil { variadic += 1 }
            if signature.stackBytes > 0 { stack += 1 }
            guard let closure = LibffiClosure(cif: signature.cif, handler: ct_closure_recorder, userData: UnsafeMutableRawPointer(log)) else {
                Issue.record("ffi_prep_closure_loc failed")
                continue
            }
            defer { withExtendedLifetime(closure) {} }
            func call(_ function: UnsafeRawPointer) -> ([UInt8], [UInt8]) {
                log.initialize(to: ct_closure_log(bytes: buffer, capacity: 8192, length: 0, calls: 0))
                var result = [UInt8](repeating: 0, count: 64)
                result.withUnsafeMutableBytes { signature.call(function, result: $0.baseAddress!) }
                return (Array(UnsafeBufferPointer(start: buffer, count: log.pointee.length)), result)
            }
            let direct = call(closure.code)
            let stub = try lazy.request(UInt(bitPattern: closure.code))
            let first = call(stub.entry)  // through the resolver
            let again = call(stub.entry)  // materialized
            if first != direct || again != direct {
                mismatches += 1
                Issue.record("signature #\(index) \(factory.describe(signature)) differs through a lazy stub")
            }
        }
        let statistics = lazy.statistics()
        print("lazy FFI oracle, \(kind) stubs: \(Self.signatureCount) signatures (\(variadic) variadic, \(stack) with stack arguments), first call of each through the resolver, \(mismatches) mismatches; \(statistics.batches) batches")
        #expect(mismatches == 0)
        #expect(statistics.batches == Self.signatureCount)
    }

    /// Every kind, with and without landing pads: what the target receives on the first call
    /// (through the kind's resolver) is what a materialized stub of that kind hands it.
    @Test(arguments: StubKind.allCases, [false, true])
    func fullRegisterStateSurvivesTheResolver(kind: StubKind, landingPads: Bool) throws {
        let seed = testSeed("lazy register state \(kind) \(landingPads)")
        var random = SplitMix64(seed: seed)
        let context: UInt = 0xC0_FFEE
        let lazy = try Self.lazyStubs(kind: kind, landingPads: landingPads, context: { _ in context })
        var mismatches = 0
        for round in 0..<Self.signatureCount / 2 {
            var input = ct_register_record.random(using: &random)
            var expected = ct_register_record.recordedCall(CTargets.recorder, &input)
            switch kind {
            case .forward: break
            case .context: expected.context = UInt64(context)
            case .bindFirstArgument:
                expected.integer = (UInt64(context), input.integer.0, input.integer.1,
                                    input.integer.2, input.integer.3, input.integer.4)
            }
            let stub = try lazy.request(UInt(bitPattern: CTargets.recorder))
            let first = ct_register_record.recordedCall(stub.entry, &input)
            let again = ct_register_record.recordedCall(stub.entry, &input)
            if first.bytes != expected.bytes || again.bytes != expected.bytes {
                mismatches += 1
                Issue.record("round \(round): the \(kind) resolver changed the register state (first call: \(first.bytes != expected.bytes), materialized: \(again.bytes != expected.bytes))")
            }
        }
        print("lazy register state, \(kind) stubs (landing pads: \(landingPads)): \(Self.signatureCount / 2) random states through the resolver, \(mismatches) mismatches")
        #expect(mismatches == 0)
        #expect(lazy.statistics().batches == Self.signatureCount / 2)
    }

    static func vectorCheck(_ target: UnsafeRawPointer, _ check: (UnsafeRawPointer, UInt32) -> Int32) throws {
        let lazy = try lazyStubs()
        for round in 0..<200 {
            let stub = try lazy.request(UInt(bitPattern: target))
            #expect(check(stub.entry, UInt32(round)) == 1, "first call (resolver), round \(round)")
            #expect(check(stub.entry, UInt32(round) + 1) == 1, "materialized, round \(round)")
        }
    }

    @Test func m128ArgumentsSurviveTheResolver() throws {
        try Self.vectorCheck(ct___m128_target_address()) { ct___m128_check($0, $1) }
    }

    @Test(.enabled(if: ct_cpu_supports_avx() != 0, "this CPU lacks AVX: __m256 arguments not tested"))
    func m256ArgumentsSurviveTheResolver() throws {
        try Self.vectorCheck(ct___m256_target_address()) { ct___m256_check($0, $1) }
    }

    @Test(.enabled(if: ct_cpu_supports_avx512f() != 0, "this CPU lacks AVX-512F: __m512 arguments not tested"))
    func m512ArgumentsSurviveTheResolver() throws {
        try Self.vectorCheck(ct___m512_target_address()) { ct___m512_check($0, $1) }
    }

    @Test func resolverSavesTheVectorStateCPUIDDescribes() {
        let size = stubpool_lazy_vector_state_size()
        let mask = stubpool_lazy_vector_state_mask()
        print("lazy resolver vector state: \(size) bytes, XSAVE mask 0x\(String(mask, radix: 16))")
        #expect(size >= 576 && size % 64 == 0)
        if ct_cpu_supports_avx() != 0 { #expect(mask & 0b110 == 0b110, "SSE and AVX state") }
        if ct_cpu_supports_avx512f() != 0 { #expect(mask & 0b1110_0000 == 0b1110_0000, "opmask and ZMM state") }
    }
}
