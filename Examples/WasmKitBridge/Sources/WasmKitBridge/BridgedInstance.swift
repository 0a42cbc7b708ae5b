import StubPool
import Synchronization
import WasmKit

#if canImport(Glibc)
import Glibc
#endif

/// A native C function pointer for a guest function.
public struct BridgedFunction: @unchecked Sendable {
    /// The export's name (or `table[<slot>]` for a guest function pointer).
    public let name: String
    /// How native code calls it.
    public let signature: NativeSignature
    /// The stub's address: what native code calls.
    public let address: UnsafeRawPointer

    /// The function as a `@convention(c)` function type matching ``signature``.
    public func function<F>(as type: F.Type) -> F { unsafeBitCast(address, to: type) }
}

/// A WasmKit instance whose exported functions (and chosen guest function pointers) are native C
/// function pointers. Not `Sendable`: like its store, it belongs to the thread that created it.
///
/// A call from native code that traps in the guest, or that WasmKit cannot run, returns 0 (or
/// +0.0) to its caller and leaves a ``BridgeError`` in ``takeLastError()``; a call from another
/// thread is refused the same way with ``BridgeError/wrongThread(export:owner:caller:)``, and
/// ``diagnostics`` also receives it (by default printed to standard error).
public final class BridgedInstance {
    /// The WasmKit instance.
    public let instance: Instance
    let bridge: Bridge
    let memory: Memory?
    let owner = pthread_self()
    /// Exports whose types have no C form, with the reason.
    public internal(set) var skipped: [String: BridgeError] = [:]
    /// Native function pointers by export name.
    public internal(set) var exports: [String: BridgedFunction] = [:]
    /// Every record, kept until the instance goes away (after ``release()`` too): a call that
    /// passed its stub just before the release still finds its record alive.
    private var records: [ExportRecord] = []
    private var holdings: [(pool: StubPool, stubs: StubRange, blobs: [CodeBlob], records: [ExportRecord])] = []
    private var released = false
    /// Nanoseconds spent in StubPool (stub requests or allocation, adapter commits) while bridging
    /// this instance's functions: the share of instantiation the bridge's stubs cost.
    public private(set) var stubNanoseconds: UInt64 = 0
    private let lastError = Mutex<BridgeError?>(nil)
    /// Receives every error of a call from native code (trap, refused thread, bad pointer), on the
    /// calling thread. Default: print it to standard error.
    public var diagnostics: @Sendable (BridgeError) -> Void = { error in
        var line = "wasmkit-bridge: \(error)\n"
        _ = line.withUTF8 { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    init(instance: Instance, bridge: Bridge) {
        self.instance = instance
        self.bridge = bridge
        self.memory = instance.exports[memory: "memory"]
    }

    deinit {
        if !released { try? release() }
    }

    /// The error the last failed native call left, cleared by reading it.
    public func takeLastError() -> BridgeError? {
        lastError.withLock { error in
            defer { error = nil }
            return error
        }
    }

    func report(_ error: BridgeError) {
        lastError.withLock { $0 = error }
        diagnostics(error)
    }

    var isOwnerThread: Bool { pthread_equal(pthread_self(), owner) != 0 }
    var ownerDescription: String { "0x" + String(UInt(owner), radix: 16) }
    static var currentThreadDescription: String { "0x" + String(UInt(pthread_self()), radix: 16) }

    /// The guest offset of a native address inside the instance's memory.
    func guestOffset(of address: UInt) -> UInt32? {
        guard let memory, memory.byteCount > 0 else { return nil }
        let base = memory.withUnsafeMutableBufferPointer(offset: 0, count: memory.byteCount) { UInt(bitPattern: $0.baseAddress) }
        guard address >= base, address - base < UInt(memory.byteCount), address - base <= UInt(UInt32.max) else { return nil }
        return UInt32(address - base)
    }

    /// The native address of guest offset `offset` (valid until the memory grows).
    public func nativeAddress(ofGuestOffset offset: UInt32) throws(BridgeError) -> UnsafeMutableRawPointer {
        guard let memory else { throw .noMemory }
        guard Int(offset) < memory.byteCount else { throw .pointerOutsideMemory(export: "memory", address: UInt(offset)) }
        return memory.withUnsafeMutableBufferPointer(offset: UInt(offset), count: 1) { $0.baseAddress! }
    }

    /// Stubs (and adapters) for `new`, all or nothing; their function pointers in order.
    func attach(_ new: [ExportRecord], mode: Bridge.Mode) throws(BridgeError) -> [BridgedFunction] {
        guard !released else { throw .released }
        guard !new.isEmpty else { return [] }
        if memory == nil && new.contains(where: { $0.signature.parameters.contains(.guestPointer) }) { throw .noMemory }
        let start = ContinuousClock.now
        let made = try bridge.stubs(for: new, mode: mode)
        let elapsed = (ContinuousClock.now - start).components
        stubNanoseconds += UInt64(elapsed.seconds) * 1_000_000_000 + UInt64(elapsed.attoseconds / 1_000_000_000)
        holdings.append((made.pool, made.stubs, made.blobs, new))
        records += new
        return zip(new, made.stubs).map { BridgedFunction(name: $0.name, signature: $0.signature, address: $1.entry) }
    }

    /// Native callbacks for guest function pointers: `slots` of the instance's table, called
    /// through `dispatcher`, an exported function whose first parameter is the slot (an `i32`) and
    /// whose others are `signature`'s, and which calls the slot with `call_indirect`.
    ///
    /// - Returns: one function pointer per slot, in order.
    public func callbacks(slots: [Int], through dispatcher: String, signature: NativeSignature,
                          mode: Bridge.Mode = .eager) throws(BridgeError) -> [BridgedFunction] {
        guard !released else { throw .released }
        guard let function = instance.exports[function: dispatcher] else { throw .noSuchExport(dispatcher) }
        for slot in slots where !(0...Int(Int32.max)).contains(slot) {
            throw .unsupportedSignature("\(signature)", reason: "table slot \(slot) out of range")
        }
        guard signature.matches(function.type, leading: [.i32]) else {
            throw .signatureMismatch(export: dispatcher, wasm: "\(function.type)", native: "(i32 slot) + \(signature)")
        }
        let new = slots.map { ExportRecord(name: "table[\($0)]", function: function, signature: signature,
                                           leading: [.i32(UInt32($0))], owner: self) }
        return try attach(new, mode: mode)
    }

    /// Releases every stub and adapter of the instance. From now on a call through one of its
    /// function pointers reports `call through released stub` and aborts; the slots are reused
    /// after ``Bridge/reclaim()``. The WasmKit instance itself lives on.
    public func release() throws(BridgeError) {
        guard !released else { throw .released }
        released = true
        var first: BridgeError?
        for holding in holdings {
            do { try holding.pool.release(holding.stubs) } catch { first = first ?? .stubPool("\(error)") }
            for blob in holding.blobs { try? bridge.arena.free(blob) }
            bridge.freeLazyAdapters(of: holding.records)
        }
        holdings = []
        exports = [:]
        if let first { throw first }
    }
}
