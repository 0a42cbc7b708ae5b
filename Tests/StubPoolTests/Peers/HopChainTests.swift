import StubPool
import StubPoolPeers
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The icache experiment measures what it claims only if every chain really visits N distinct
/// stubs laid out by its placement and ends in the target.
@Suite struct HopChainTests {
    static let pageSize = UInt(sysconf(Int32(_SC_PAGESIZE)))

    @Test(arguments: HopKind.allCases, HopPlacement.allCases)
    func chainsReachTheTargetThroughDistinctStubs(kind: HopKind, placement: HopPlacement) throws {
        for stubs in [1, 2, 37, 300] {
            let chain = try HopChain(kind: kind, placement: placement, stubs: stubs)
            #expect(chain.addresses.count == stubs)
            #expect(Set(chain.addresses).count == stubs)
            #expect(callLoop(chain.entry, count: 3) == (0 + 3) + (1 + 3) + (2 + 3))
            let pages = Set(chain.addresses.map { $0 / Self.pageSize })
            let offsets = chain.addresses.map { $0 % Self.pageSize }
            switch placement {
            case .packed:
                // Consecutive in address order: a few pages at most.
                #expect(pages.count <= 1 + stubs * 32 / Int(Self.pageSize) + 1)
            case .pageStart:
                #expect(pages.count == stubs)
                #expect(offsets.allSatisfy { $0 == 0 })
            case .staggered:
                #expect(pages.count == stubs)
                if stubs > 1 { #expect(Set(offsets).count == min(stubs, Int(Self.pageSize) / 64)) }
            case .random:
                if stubs >= 37 { #expect(chain.addresses != chain.addresses.sorted()) }
            }
        }
    }
}

@Suite struct PeerTests {
    @Test func pagePerStubJumpsToItsTargetAndRetargets() {
        let page = PagePerStubPeer.make(target: benchmarkTargetAddress)
        defer { PagePerStubPeer.free(page) }
        #expect(callLoop(page, count: 2) == (0 + 3) + (1 + 3))
        let negate: Target3 = { a, _, _ in -a }
        PagePerStubPeer.retarget(page, to: unsafeBitCast(negate, to: UnsafeRawPointer.self))
        #expect(callLoop(page, count: 3) == 0 - 1 - 2)
    }

    @Test func libffiClosureComputesTheSameSum() {
        let peer = LibffiPeer()
        let (closure, code) = peer.make()
        defer { peer.free(closure) }
        // Debian's libffi keeps this closure's page writable+executable: not StubPool's (W^X audit).
        LibffiClosureRegistry.note(UInt(bitPattern: closure))
        LibffiClosureRegistry.note(UInt(bitPattern: code))
        #expect(callLoop(code, count: 4) == callLoop(benchmarkTargetAddress, count: 4))
    }
}
