import CTestHelpers
import StubPool

/// `unwind`: for each stub kind, a backtrace taken from a trap inside a fresh pool's chunk (its
/// anchor slot, trap fill), then the same after 200 pools whose chunks came and went. Prints
/// `<kind> <1 if the backtrace reached the caller, else 0>` per line, then `churn <0|1>`.
/// Unwind registration is whatever the environment says (`STUBPOOL_PERF=unwind` turns it on).
enum UnwindProbe {
    /// An int3 of the anchor slot (the code region's last slot: never handed out, trap fill).
    static func trap(in pool: StubPool, kind: StubKind, near stub: Stub) throws -> UnsafeRawPointer? {
        guard let code = pool.mappedRegions().first(where: { $0.executable.contains(stub.address) })?.executable else { return nil }
        let slotSize = try TemplateInspection(architecture: .host, variant: StubVariant(kind: kind)).slotSize
        let anchor = code.upperBound - UInt(slotSize)
        guard let trap = (anchor..<code.upperBound).first(where: { UnsafePointer<UInt8>(bitPattern: $0)!.pointee == 0xCC }) else { return nil }
        return UnsafeRawPointer(bitPattern: trap)
    }

    static func crosses(_ kind: StubKind) throws -> Int32 {
        let pool = try StubPool(.init(kind: kind))
        let stub = try pool.allocate(target: UnsafeRawPointer(bitPattern: 0x10000)!)
        guard let trap = try trap(in: pool, kind: kind, near: stub) else { return -1 }
        return ct_backtrace_crosses(trap)
    }

    static func run() throws {
        for kind in StubKind.allCases { print("\(kind.rawValue) \(try crosses(kind))") }
        for _ in 0..<200 {
            let pool = try StubPool(.init(shards: 1))
            let stubs = try pool.allocate(count: 40_000, target: UnsafeRawPointer(bitPattern: 0x10000)!)  // three chunks
            try pool.release(stubs)
            pool.reclaim()
            pool.trim()
        }
        print("churn \(try crosses(.forward))")
    }
}
