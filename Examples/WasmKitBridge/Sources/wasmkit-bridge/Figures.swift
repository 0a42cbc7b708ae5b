import Foundation
import StubPool
import WasmKit
import WasmKitBridge
import WAT

#if canImport(Glibc)
import Glibc
#endif

/// The README's figures: instantiation per export (eager vs lazy), the first call's batch,
/// per-call overhead of the stub path against a direct WasmKit invocation, memory per export.
enum Figures {
    typealias Unary = @convention(c) (Int32) -> Int32

    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    static func measure(_ body: () throws -> Void) rethrows -> Double {
        let start = now()
        try body()
        return Double(now() - start)
    }

    static func run(exports count: Int) throws {
        let functions = (0..<count).map { "(func (export \"f\($0)\") (param i32) (result i32) (i32.add (local.get 0) (i32.const \($0))))" }
        let module = try parseWasm(bytes: wat2wasm("(module \(functions.joined(separator: "\n")))"))
        print("\(count) exports, (i32) -> i32 each")

        // WasmKit's own instantiation, the base both modes pay.
        var plain = Double.infinity
        for _ in 0..<3 {
            let store = Store(engine: Engine())
            plain = min(plain, try measure { _ = try module.instantiate(store: store) })
        }
        var results: [Bridge.Mode: (instantiate: Double, stubs: Double, firstCall: Double)] = [:]
        var lazyBridge: Bridge?
        var lazyInstance: BridgedInstance?
        for mode in [Bridge.Mode.eager, .lazy] {
            var best = (instantiate: Double.infinity, stubs: Double.infinity, firstCall: Double.infinity)
            for _ in 0..<3 {
                let bridge = try Bridge()
                let store = Store(engine: Engine())
                var instance: BridgedInstance?
                let instantiate = try measure { instance = try bridge.instantiate(module, store: store, mode: mode) }
                let f = instance!.exports["f7"]!.function(as: Unary.self)
                let firstCall = measure { precondition(f(1) == 8) }
                best = (min(best.instantiate, instantiate), min(best.stubs, Double(instance!.stubNanoseconds)), min(best.firstCall, firstCall))
                if mode == .lazy { lazyBridge = bridge; lazyInstance = instance }
            }
            results[mode] = best
        }
        let perExport = { (total: Double) in total / Double(count) }
        print(String(format: "WasmKit instantiate alone          %10.0f ns per export", perExport(plain)))
        for mode in [Bridge.Mode.eager, .lazy] {
            let result = results[mode]!
            print(String(format: "bridged instantiate, %@          %10.0f ns per export, of which StubPool %.0f ns",
                          mode == .eager ? "eager" : "lazy ", perExport(result.instantiate), perExport(result.stubs)))
        }
        print(String(format: "lazy first call (builds all)       %10.0f ns per export, %.2f ms for the batch",
                      results[.lazy]!.firstCall / Double(count), results[.lazy]!.firstCall / 1e6))

        // Per call: native pointer through stub and adapter, against WasmKit's invoke.
        let bridged = lazyInstance!
        let f = bridged.exports["f3"]!.function(as: Unary.self)
        let direct = bridged.instance.exports[function: "f3"]!
        let calls = 100_000
        var sink: Int32 = 0
        var viaStub = Double.infinity, viaInvoke = Double.infinity
        for _ in 0..<7 {
            viaStub = min(viaStub, measure { for index in 0..<calls { sink &+= f(Int32(truncatingIfNeeded: index)) } } / Double(calls))
            viaInvoke = min(viaInvoke, try measure {
                for index in 0..<calls {
                    if case .i32(let value) = try direct.invoke([.i32(UInt32(truncatingIfNeeded: index))]).first { sink &+= Int32(bitPattern: value) }
                }
            } / Double(calls))
        }
        print(String(format: "call through the function pointer  %10.1f ns", viaStub))
        print(String(format: "direct WasmKit invoke              %10.1f ns", viaInvoke))
        print(String(format: "stub path overhead                 %10.1f ns per call (%.2f×)", viaStub - viaInvoke, viaStub / viaInvoke))

        let bridge = lazyBridge!
        let arena = bridge.arenaStatistics
        let stubBytes = Double(bridge.poolResidentBytes) / Double(count)
        print(String(format: "memory per export                  %10.1f B (stub pools %.1f B resident, adapter %.1f B of code)",
                      stubBytes + Double(arena.liveBytes) / Double(count), stubBytes, Double(arena.liveBytes) / Double(count)))
        print("one page per stub                        4096 B")
        print("arena: \(arena.liveBlobs) adapters, \(arena.commits) commits, \(arena.mappings) mappings; sink \(sink & 1)")
    }
}
