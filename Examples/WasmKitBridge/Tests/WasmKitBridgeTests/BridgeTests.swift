import Foundation
import StubPool
import Synchronization
import Testing
import WasmKit
@testable import WasmKitBridge
import WAT

#if canImport(Glibc)
import Glibc
#endif

@Suite struct BridgeTests {
    typealias Add = @convention(c) (Int32, Int32) -> Int32
    typealias Mix = @convention(c) (Int64, Double, Int32, Float) -> Double
    typealias Half = @convention(c) (Float) -> Float
    typealias Wide = @convention(c) (Int64, Int64, Int64, Int64, Int64) -> Int64
    typealias Sort = @convention(c) (Int32, Int32, Int32) -> Void

    @Test(arguments: [Bridge.Mode.eager, .lazy])
    func everyShapeArrivesIntact(_ mode: Bridge.Mode) throws {
        let bridge = try Bridge()
        let (bridged, _) = try Fixtures.instantiate(bridge, store: Store(engine: Engine()), mode: mode)
        #expect(bridged.exports["add"]!.function(as: Add.self)(40, 2) == 42)
        #expect(bridged.exports["add"]!.function(as: Add.self)(-50, 8) == -42)
        #expect(bridged.exports["mix"]!.function(as: Mix.self)(1 << 40, 0.25, -3, 1.5) == Double(1 << 40) + 0.25 - 3 + 1.5)
        #expect(bridged.exports["half"]!.function(as: Half.self)(-5) == -2.5)
        #expect(bridged.exports["wide"]!.function(as: Wide.self)(1, 2, 3, 4, 5) == 54_321)
        // No C form: several results, more integer parameters than registers.
        #expect(bridged.skipped.keys.sorted() == ["pair", "tooWide"])
        #expect(bridged.takeLastError() == nil)
    }

    @Test(arguments: [Bridge.Mode.eager, .lazy])
    func qsortWithAWasmComparator(_ mode: Bridge.Mode) throws {
        let bridge = try Bridge()
        let (bridged, _) = try Fixtures.instantiate(bridge, store: Store(engine: Engine()), mode: mode)
        let count = 2_000
        let numbers = try Fixtures.fill(bridged, offset: 4096, count: count, seed: 7)
        let expected = (0..<count).map { numbers[$0] }.sorted()
        qsort(numbers, count, 4, bridged.exports["compare"]!.function(as: Fixtures.Compare.self))
        #expect((0..<count).map { numbers[$0] } == expected)
        if mode == .lazy {
            // The export and both table callbacks were pending together: one batch built them.
            #expect(bridge.lazyStatistics.batches == 1 && bridge.lazyStatistics.materialized == bridged.exports.count + 2)
        }
        #expect(bridged.takeLastError() == nil)
    }

    @Test(arguments: [Bridge.Mode.eager, .lazy])
    func guestFunctionPointersAsCallbacks(_ mode: Bridge.Mode) throws {
        let bridge = try Bridge()
        let (bridged, callbacks) = try Fixtures.instantiate(bridge, store: Store(engine: Engine()), mode: mode)
        let numbers = try Fixtures.fill(bridged, offset: 4096, count: 500, seed: 11)
        let expected = (0..<500).map { numbers[$0] }.sorted(by: >)
        qsort(numbers, 500, 4, callbacks.slots[1].function(as: Fixtures.Compare.self))   // table[1]: descending
        #expect((0..<500).map { numbers[$0] } == expected)
        #expect(callbacks.slots.map(\.name) == ["table[0]", "table[1]"])
    }

    /// native → stub → wasm `sort` → host `qsort` import → C qsort → stub → wasm comparator.
    @Test(arguments: [Bridge.Mode.eager, .lazy])
    func reentrantChain(_ mode: Bridge.Mode) throws {
        let bridge = try Bridge()
        let (bridged, _) = try Fixtures.instantiate(bridge, store: Store(engine: Engine()), mode: mode)
        let numbers = try Fixtures.fill(bridged, offset: 8192, count: 300, seed: 3)
        let expected = (0..<300).map { numbers[$0] }.sorted()
        bridged.exports["sort"]!.function(as: Sort.self)(8192, 300, 0)
        #expect((0..<300).map { numbers[$0] } == expected)
        bridged.exports["sort"]!.function(as: Sort.self)(8192, 300, 1)
        #expect((0..<300).map { numbers[$0] } == expected.reversed())
        #expect(bridged.takeLastError() == nil)
    }

    @Test func trapsReturnZeroAndRecordTheError() throws {
        let bridge = try Bridge()
        let (bridged, _) = try Fixtures.instantiate(bridge, store: Store(engine: Engine()), mode: .lazy)
        let collected = Collected()
        bridged.diagnostics = collected.handler
        #expect(bridged.exports["trap"]!.function(as: Add.self)(1, 0) == 0)
        guard case .trap(let export, let message)? = bridged.takeLastError() else {
            Issue.record("no trap recorded")
            return
        }
        #expect(export == "trap" && message.contains("unreachable"))
        #expect(bridged.exports["divide"]!.function(as: Add.self)(7, 0) == 0)
        #expect(bridged.takeLastError().map { if case .trap("divide", _) = $0 { true } else { false } } == true)
        // The instance still works, and a good call leaves no error.
        #expect(bridged.exports["divide"]!.function(as: Add.self)(84, 2) == 42)
        #expect(bridged.takeLastError() == nil)
        #expect(collected.errors.withLock { $0.count } == 2)
    }

    @Test func aPointerOutsideGuestMemoryIsRefused() throws {
        let bridge = try Bridge()
        let (bridged, _) = try Fixtures.instantiate(bridge, store: Store(engine: Engine()), mode: .eager)
        bridged.diagnostics = Collected().handler
        var outside: Int32 = 5
        let compare = bridged.exports["compare"]!.function(as: Fixtures.Compare.self)
        #expect(compare(&outside, &outside) == 0)
        guard case .pointerOutsideMemory("compare", _)? = bridged.takeLastError() else {
            Issue.record("no pointer error recorded")
            return
        }
    }

    @Test func callsFromAnotherThreadAreRefused() throws {
        let bridge = try Bridge()
        let (bridged, _) = try Fixtures.instantiate(bridge, store: Store(engine: Engine()), mode: .lazy)
        let collected = Collected()
        bridged.diagnostics = collected.handler
        let add = UInt(bitPattern: bridged.exports["add"]!.address)
        let result = Mutex<Int32>(-1)
        let thread = Thread {
            result.withLock { $0 = unsafeBitCast(UnsafeRawPointer(bitPattern: add)!, to: Add.self)(40, 2) }
        }
        thread.start()
        while result.withLock({ $0 }) == -1 { usleep(1_000) }
        #expect(result.withLock { $0 } == 0)
        let errors = collected.errors.withLock { $0 }
        #expect(errors.count == 1)
        guard case .wrongThread("add", let owner, let caller)? = errors.first else {
            Issue.record("no wrong-thread diagnostic: \(errors)")
            return
        }
        #expect(owner != caller)
        #expect("\(errors[0])".contains("call refused"))
        // The owner thread still calls it.
        #expect(bridged.exports["add"]!.function(as: Add.self)(40, 2) == 42)
    }

    @Test func tenThousandExportsMaterializeInOneBatch() throws {
        let count = 10_000
        let functions = (0..<count).map { "(func (export \"f\($0)\") (param i32) (result i32) (i32.add (local.get 0) (i32.const \($0))))" }
        let module = try parseWasm(bytes: wat2wasm("(module \(functions.joined(separator: "\n")))"))
        let bridge = try Bridge()
        let bridged = try bridge.instantiate(module, store: Store(engine: Engine()), mode: .lazy)
        #expect(bridged.exports.count == count)
        #expect(bridge.lazyStatistics.pending == count && bridge.lazyStatistics.batches == 0)
        #expect(bridge.arenaStatistics.liveBlobs == 0)
        typealias Unary = @convention(c) (Int32) -> Int32
        #expect(bridged.exports["f1234"]!.function(as: Unary.self)(1) == 1235)
        let statistics = bridge.lazyStatistics
        #expect(statistics.batches == 1 && statistics.materialized == count && statistics.pending == 0)
        #expect(bridge.arenaStatistics.commits == 1 && bridge.arenaStatistics.liveBlobs == count)
        for index in stride(from: 0, to: count, by: 997) {
            #expect(bridged.exports["f\(index)"]!.function(as: Unary.self)(5) == Int32(5 + index))
        }
        #expect(bridge.lazyStatistics.batches == 1)
    }

    @Test(arguments: [Bridge.Mode.eager, .lazy])
    func releaseGivesBackStubsAndCode(_ mode: Bridge.Mode) throws {
        let bridge = try Bridge()
        let (bridged, _) = try Fixtures.instantiate(bridge, store: Store(engine: Engine()), mode: mode)
        #expect(bridged.exports["add"]!.function(as: Add.self)(1, 2) == 3)   // lazy: materializes all
        let blobs = bridge.arenaStatistics.liveBlobs
        #expect(blobs == bridged.exports.count + 2)
        try bridged.release()
        #expect(bridge.arenaStatistics.liveBlobs == 0)
        #expect(bridged.exports.isEmpty)
        #expect(throws: BridgeError.released) { try bridged.release() }
        #expect(throws: BridgeError.released) {
            try bridged.callbacks(slots: [0], through: "dispatch_compare", signature: Fixtures.comparePointers)
        }
        bridge.reclaim()
    }

    @Test func aReleasedFunctionPointerAbortsWithTheStubDiagnostic() throws {
        let executable = Self.sibling("wasmkit-bridge")
        try #require(FileManager.default.isExecutableFile(atPath: executable.path), "\(executable.path) not built")
        let process = Process()
        process.executableURL = executable
        process.arguments = ["call-released"]
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        process.environment = environment
        let error = Pipe()
        process.standardError = error
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGABRT, "\(text)")
        #expect(text.contains("stubpool: call through released stub #"), "\(text)")
    }

    @Test func badInputIsATypedError() throws {
        let bridge = try Bridge()
        let (bridged, _) = try Fixtures.instantiate(bridge, store: Store(engine: Engine()), mode: .eager)
        let live = bridge.arenaStatistics.liveBlobs
        #expect(throws: BridgeError.noSuchExport("nothing")) {
            try bridged.callbacks(slots: [0], through: "nothing", signature: Fixtures.comparePointers)
        }
        #expect(throws: BridgeError.self) {
            try bridged.callbacks(slots: [0], through: "add", signature: Fixtures.comparePointers)
        }
        #expect(throws: BridgeError.self) {
            try NativeSignature(parameters: Array(repeating: .i64, count: NativeSignature.maximumIntegerParameters + 1), result: .void)
        }
        let module = try parseWasm(bytes: wat2wasm("(module (func (export \"f\") (param i32) (result i32) local.get 0))"))
        #expect(throws: BridgeError.self) {
            try bridge.instantiate(module, store: Store(engine: Engine()),
                                   signatures: ["f": try NativeSignature(parameters: [.f64], result: .i32)])
        }
        #expect(bridge.arenaStatistics.liveBlobs == live)
    }

    static func sibling(_ name: String) -> URL {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(name)
    }
}
