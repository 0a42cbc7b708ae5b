import Testing
@testable import StubPool

/// Bad input gets a typed error and changes nothing.
@Suite struct BadInputTests {
    @Test func doubleReleaseThrowsAndChangesNothing() throws {
        let pool = try StubPool()
        let stub = try pool.allocate(target: CTargets.weighted3)
        _ = try pool.allocate(target: CTargets.weighted3)
        try pool.release(stub)
        let before = pool.statistics()
        #expect(throws: StubPoolError.released(id: stub.id)) { try pool.release(stub) }
        #expect(throws: StubPoolError.released(id: stub.id)) { try pool.release(address: stub.address) }
        #expect(pool.statistics() == before)
    }

    @Test func foreignAddressesThrow() throws {
        let pool = try StubPool()
        let stub = try pool.allocate(target: CTargets.weighted3)
        let before = pool.statistics()
        for address in [UInt(0), 1, UInt(bitPattern: CTargets.weighted3), stub.address + 1, UInt.max] {
            #expect(throws: StubPoolError.foreignAddress(address)) { try pool.release(address: address) }
        }
        #expect(pool.stub(containing: UInt(bitPattern: CTargets.weighted3)) == nil)
        #expect(pool.stub(containing: stub.address + 5) == stub, "interior addresses find their stub")
        #expect(pool.statistics() == before)
    }

    @Test func handleOfAnotherPoolThrows() throws {
        let pool = try StubPool()
        let other = try StubPool()
        let foreign = try other.allocate(target: CTargets.weighted3)
        _ = try pool.allocate(target: CTargets.weighted3)
        let before = pool.statistics()
        #expect(throws: StubPoolError.foreignStub(foreign)) { try pool.release(foreign) }
        #expect(throws: StubPoolError.foreignStub(foreign)) { try pool.retarget(foreign, to: CTargets.weighted3) }
        #expect(throws: StubPoolError.foreignStub(foreign)) { try pool.setContext(1, for: foreign) }
        #expect(throws: StubPoolError.foreignAddress(foreign.address)) { try pool.release(address: foreign.address) }
        #expect(pool.statistics() == before)
        #expect(other.statistics().liveStubs == 1)
    }

    @Test(arguments: [0, -1, Int.min, StubPool.maximumBulkCount + 1, Int.max])
    func absurdBulkCountsThrow(count: Int) throws {
        let pool = try StubPool()
        let before = pool.statistics()
        #expect(throws: StubPoolError.invalidCount(count)) { try pool.allocate(count: count, target: CTargets.weighted3) }
        #expect(pool.statistics() == before)
    }

    @Test(arguments: [UInt(1), 0x10, 0xFFF])
    func targetsInTheNullPageThrowAndChangeNothing(address: UInt) throws {
        let pool = try StubPool(.init(kind: .context))
        let stub = try pool.allocate(target: CTargets.weighted3, context: 5)
        let before = pool.statistics()
        let target = UnsafeRawPointer(bitPattern: address)!
        #expect(throws: StubPoolError.invalidTarget(address)) { try pool.allocate(target: target) }
        #expect(throws: StubPoolError.invalidTarget(address)) { try pool.allocate(count: 10, target: target) }
        #expect(throws: StubPoolError.invalidTarget(address)) { try pool.retarget(stub, to: target, context: 6) }
        #expect(throws: StubPoolError.invalidTarget(address)) { try pool.retarget(stub, to: target) }
        #expect(pool.statistics() == before)
        #expect(try pool.target(of: stub) == CTargets.weighted3)
        #expect(try pool.context(of: stub) == 5)
    }

    @Test func retargetToOwnTrapThrows() throws {
        let pool = try StubPool(.init(kind: .context))
        let stub = try pool.allocate(target: CTargets.weighted3)
        let trap = pool.layout.releasedState(entry: stub.address).target
        #expect(throws: StubPoolError.invalidTarget(trap)) { try pool.retarget(stub, to: UnsafeRawPointer(bitPattern: trap)!) }
        #expect(try pool.target(of: stub) == CTargets.weighted3)
    }

    @Test func invalidConfigurationsThrow() {
        #expect(throws: StubPoolError.self) { try StubPool(.init(shards: 0)) }
        #expect(throws: StubPoolError.self) { try StubPool(.init(codeSize: 1000)) }
        #expect(throws: StubPoolError.self) { try StubPool(.init(codeSize: 64 << 20)) }
    }
}
