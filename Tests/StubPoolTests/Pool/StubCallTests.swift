import CTestHelpers
import Testing
@testable import StubPool

/// Every kind, with and without landing pads, under both code strategies: called from Swift and C.
@Suite struct StubCallTests {
    static let configurations: [StubPool.Configuration] = StubKind.allCases.flatMap { kind in
        [false, true].flatMap { pads in
            CodeStrategy.allCases.map { StubPool.Configuration(kind: kind, landingPads: pads, strategy: $0) }
        }
    }

    @Test(arguments: configurations.filter { $0.kind == .forward })
    func forwardCallsTargetWithArgumentsIntact(configuration: StubPool.Configuration) throws {
        let pool = try StubPool(configuration)
        let stub = try pool.allocate(target: CTargets.weighted3)
        let function = stub.function(as: Weighted3.self)
        #expect(function(1, 2, 3) == 1 + 6 + 21)
        #expect(ct_call3(stub.entry, -5, 7, 11) == -5 + 21 + 77)
    }

    @Test(arguments: configurations.filter { $0.kind == .context })
    func contextStubLoadsContextRegister(configuration: StubPool.Configuration) throws {
        let pool = try StubPool(configuration)
        let stubs = try (0..<40).map { try pool.allocate(target: CTargets.returnContextRegister, context: 0xC0DE_0000 + UInt($0)) }
        for (index, stub) in stubs.enumerated() {
            #expect(stub.function(as: ReturnsWord.self)() == 0xC0DE_0000 + UInt64(index))
            #expect(ct_call0(stub.entry) == 0xC0DE_0000 + UInt64(index))
        }
        // A context stub still passes the arguments through.
        let forwarding = try pool.allocate(target: CTargets.weighted3, context: 99)
        #expect(ct_call3(forwarding.entry, 4, 5, 6) == 4 + 15 + 42)
    }

    @Test(arguments: configurations.filter { $0.kind == .bindFirstArgument })
    func bindFirstArgumentPrependsContext(configuration: StubPool.Configuration) throws {
        let pool = try StubPool(configuration)
        var capture = ct_capture()
        try withUnsafeMutablePointer(to: &capture) { pointer in
            let stub = try pool.allocate(target: CTargets.boundCapture, context: UInt(bitPattern: pointer))
            let viaSwift = stub.function(as: BoundCapture.self)(10, 1.5, 20, 30, 2.25, 40, 50)
            #expect(pointer.pointee.ints == (10, 20, 30, 40, 50))
            #expect(pointer.pointee.doubles == (1.5, 2.25))
            #expect(viaSwift == 10 + 40 + 90 + 160 + 250 + 15 + 225)
            pointer.pointee = ct_capture()
            let viaC = ct_call_bound(stub.entry, -1, -0.5, -2, -3, 8.0, Int64.max, Int64.min)
            #expect(pointer.pointee.ints == (-1, -2, -3, Int64.max, Int64.min))
            #expect(pointer.pointee.doubles == (-0.5, 8.0))
            #expect(viaC == ct_bound_capture(pointer, -1, -0.5, -2, -3, 8.0, Int64.max, Int64.min))
        }
    }

    @Test func retargetSwitchesTargetAndContext() throws {
        let pool = try StubPool(.init(kind: .context))
        let stub = try pool.allocate(target: CTargets.returnContextRegister, context: 1)
        #expect(ct_call0(stub.entry) == 1)
        try pool.setContext(2, for: stub)
        #expect(ct_call0(stub.entry) == 2)
        try pool.retarget(stub, to: CTargets.weighted3, context: 3)
        #expect(ct_call3(stub.entry, 1, 1, 1) == 11)
        #expect(try pool.context(of: stub) == 3)
        #expect(try pool.target(of: stub) == CTargets.weighted3)
        try pool.retarget(stub, to: CTargets.returnContextRegister)
        #expect(ct_call0(stub.entry) == 3)
    }

    @Test func bulkStubsAllWork() throws {
        let pool = try StubPool(.init(kind: .context, shards: 1))
        let stubs = try pool.allocate(count: 40_000, target: CTargets.returnContextRegister, context: 0)
        #expect(Set(stubs.map(\.address)).count == 40_000)
        #expect(Set(stubs.map(\.id)).count == 40_000)
        for (index, stub) in stubs.enumerated() where index % 97 == 0 {
            try pool.setContext(UInt(index), for: stub)
            #expect(ct_call0(stub.entry) == UInt64(index))
        }
        #expect(pool.statistics().liveStubs == 40_000)
        #expect(pool.layout.capacity == ChunkGeometry.defaultCodeSize / pool.layout.geometry.slotSize - 1)
        #expect(pool.statistics().chunks == (40_000 + pool.layout.capacity - 1) / pool.layout.capacity)
    }
}
