import StubPoolTestSupport
import Testing
@testable import StubPool

/// After every step of a scripted sequence no mapping is writable and executable (libffi's own
/// closure pages excepted, identified by the closures the tests made), StubPool's code regions are
/// read+execute only and its data regions read+write only.
@Suite struct WXAuditTests {
    func audit(_ step: String, pools: [StubPool]) {
        let maps = ProcessMaps.read()
        #expect(maps.contains { $0.isExecutable }, "could not read /proc/self/maps")
        for entry in maps where entry.isWritable && entry.isExecutable && !LibffiClosureRegistry.isLibffi(entry) {
            Issue.record("after \(step): writable+executable mapping \(String(entry.range.lowerBound, radix: 16))-\(String(entry.range.upperBound, radix: 16)) \(entry.permissions) \(entry.path)")
        }
        for pool in pools {
            for region in pool.mappedRegions() {
                #expect(!ProcessMaps.entries(overlapping: [region.executable], in: maps).isEmpty)
                for entry in ProcessMaps.entries(overlapping: [region.executable], in: maps) {
                    #expect(entry.permissions.hasPrefix("r-x"), "after \(step): code region mapped \(entry.permissions)")
                }
                for entry in ProcessMaps.entries(overlapping: [region.writable], in: maps) {
                    #expect(entry.permissions.hasPrefix("rw-"), "after \(step): data region mapped \(entry.permissions)")
                }
            }
        }
    }

    @Test(arguments: CodeStrategy.allCases)
    func scriptedSequenceNeverMapsWritableExecutable(strategy: CodeStrategy) throws {
        var pools: [StubPool] = []
        for kind in StubKind.allCases {
            pools.append(try StubPool(.init(kind: kind, landingPads: kind == .context, strategy: strategy)))
        }
        pools.append(try StubPool(.init(kind: .context, strategy: strategy, payloadSize: 80)))  // payloads: read+write
        audit("create", pools: pools)
        var stubs = try pools.map { try $0.allocate(target: CTargets.weighted3) }
        audit("allocate", pools: pools)
        let bulk = try pools.map { try $0.allocate(count: 20_000, target: CTargets.weighted3) }
        audit("bulk allocate", pools: pools)
        for (pool, stub) in zip(pools, stubs) { try pool.retarget(stub, to: CTargets.returnContextRegister, context: 5) }
        audit("retarget", pools: pools)
        for (pool, stubs) in zip(pools, bulk) { for stub in stubs.prefix(5_000) { try pool.release(stub) } }
        audit("release", pools: pools)
        for pool in pools { pool.reclaim() }
        audit("reclaim", pools: pools)
        let regions = pools.flatMap { $0.mappedRegions().flatMap { [$0.executable, $0.writable] } }
        stubs.removeAll()
        pools.removeAll()
        audit("destroy", pools: [])
        #expect(ProcessMaps.leftovers(in: regions).isEmpty, "destroyed pools left mappings behind")
    }
}
