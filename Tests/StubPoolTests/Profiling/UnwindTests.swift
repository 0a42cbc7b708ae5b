import CTestHelpers
import Testing
@testable import StubPool

/// Unwinding through pool chunks: every chunk's code region is registered with the process's
/// unwinder as frameless code (UnwindRegistration), so a backtrace taken with the program counter
/// inside a chunk continues to the caller.
@Suite struct UnwindTests {
    /// An int3 of the chunk's anchor slot (never handed out: trap fill), for a SIGTRAP inside the chunk.
    func trapInside(_ pool: StubPool, near stub: Stub) throws -> UnsafeRawPointer {
        let code = try #require(pool.mappedRegions().first { $0.executable.contains(stub.address) }).executable
        let anchor = code.upperBound - UInt(pool.layout.geometry.slotSize)
        let trap = try #require((anchor..<code.upperBound).first { UnsafePointer<UInt8>(bitPattern: $0)!.pointee == 0xCC },
                                "the anchor slot holds trap fill")
        return UnsafeRawPointer(bitPattern: trap)!
    }

    @Test(.enabled(if: Architecture.host == .x86_64, "the trap-in-code helper is x86-64 only"))
    func backtraceFromInsideAChunkReachesTheCaller() throws {
        for kind in StubKind.allCases {
            let pool = try StubPool(.init(kind: kind))
            let stub = try pool.allocate(target: CTargets.weighted3)
            #expect(ct_backtrace_crosses(try trapInside(pool, near: stub)) == 1, "\(kind)")
        }
    }

    /// The control: arena bodies carry no call-frame information yet, so the same backtrace
    /// stops inside one (the test above could fail).
    @Test(.enabled(if: Architecture.host == .x86_64, "the trap-in-code helper is x86-64 only"))
    func backtraceFromCodeWithoutUnwindInformationStops() throws {
        let arena = CodeArena()
        let blob = try arena.commit([[0xCC, 0xCC, 0xCC, 0xCC]])[0]
        #expect(ct_backtrace_crosses(blob.entry) == 0)
    }

    /// Chunks come and go (pools created and destroyed, chunks trimmed): registrations follow,
    /// and unwinding still works afterwards.
    @Test(.enabled(if: Architecture.host == .x86_64, "the trap-in-code helper is x86-64 only"))
    func registrationsFollowChunksThroughTheirLives() throws {
        for _ in 0..<200 {
            let pool = try StubPool(.init(shards: 1))
            let stubs = try pool.allocate(count: 40_000, target: CTargets.weighted3)  // three chunks
            try pool.release(stubs)
            pool.reclaim()
            pool.trim()
        }
        let pool = try StubPool()
        let stub = try pool.allocate(target: CTargets.weighted3)
        #expect(ct_backtrace_crosses(try trapInside(pool, near: stub)) == 1)
    }

    @Test func theSectionDescribesTheRange() {
        let (bytes, fdeOffset) = UnwindRegistration.section(frameless: 0x1000..<0x41000, architecture: .x86_64)
        #expect(bytes.count % 4 == 0 && fdeOffset % 8 == 0)
        let word = { (offset: Int, count: Int) in (0..<count).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) } }
        #expect(word(fdeOffset + 4, 4) == UInt64(fdeOffset + 4), "the FDE points back to the CIE")
        #expect(word(fdeOffset + 8, 8) == 0x1000 && word(fdeOffset + 16, 8) == 0x40000)
        #expect(word(bytes.count - 4, 4) == 0, "terminated")
    }
}
