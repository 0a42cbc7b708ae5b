import StubPool
import Synchronization
import WasmKit

/// Turns WasmKit guest functions into native C function pointers.
///
/// Every bridged function is a StubPool stub (its stable address, 16 bytes of data per stub) that
/// jumps to an adapter in the bridge's code arena: generated code that loads the function's record
/// and jumps to a receiver, which calls into WasmKit. Lazily bridged instances get all their stubs
/// in one request at instantiation; the first call of any of them emits every pending adapter, of
/// every instance, in one arena commit.
///
/// A bridge, like the WasmKit store it serves, belongs to one thread: instantiate, call and
/// release on it. Calls through the function pointers from other threads are refused with a
/// diagnostic (see ``BridgedInstance``).
public final class Bridge {
    /// When a bridged instance's adapters are generated.
    public enum Mode: Sendable {
        /// At instantiation: one commit for the instance's exports.
        case eager
        /// On the first call of any pending function: one commit for everything pending.
        case lazy
    }

    /// What a lazy stub stands for: the record its adapter binds, and the adapter's receiver.
    struct PendingAdapter: Sendable {
        let record: UInt
        let receiver: UInt64
        let name: String
    }

    /// Adapters by record address, filled by the lazy generator (on whichever thread calls first).
    final class Adapters: Sendable {
        let blobs = Mutex<[UInt: CodeBlob]>([:])
    }

    let arena: CodeArena
    let lazyPool: StubPool
    let eagerPool: StubPool
    let lazy: LazyStubs<PendingAdapter>
    let adapters: Adapters

    /// A bridge with its own stub pools and code arena.
    public init() throws(BridgeError) {
        let arena = CodeArena()
        let adapters = Adapters()
        self.adapters = adapters
        do {
            lazyPool = try StubPool(.init(kind: .forward, lazyBatches: true, name: "wasm-lazy"))
            eagerPool = try StubPool(.init(kind: .forward, name: "wasm-eager"))
            lazy = try lazyPool.lazyStubs(of: PendingAdapter.self) { batch in
                let blobs = try Self.commitAdapters(batch.map(\.spec), to: arena)
                adapters.blobs.withLock { table in
                    for (request, blob) in zip(batch, blobs) { table[request.spec.record] = blob }
                }
                return blobs.map { LazyResolution(targetAddress: $0.address, context: 0) }
            }
        } catch {
            throw .stubPool("\(error)")
        }
        self.arena = arena
    }

    /// Lazy batches so far (each one arena commit of adapters).
    public var lazyStatistics: LazyStatistics { lazy.statistics() }

    /// The arena's counters: blobs, commits, mappings.
    public var arenaStatistics: CodeArenaStatistics { arena.statistics() }

    /// Resident bytes of both pools (stub code, data, bookkeeping).
    public var poolResidentBytes: Int { lazyPool.statistics().residentBytes + eagerPool.statistics().residentBytes }

    /// Makes released stubs' slots reusable: call it once no thread can still be inside a stub of a
    /// released instance (a safepoint, see StubPool's "Release and Reclaim").
    public func reclaim() {
        lazyPool.reclaim()
        eagerPool.reclaim()
    }

    /// Instantiates `module` and bridges its exported functions.
    ///
    /// - Parameters:
    ///   - signatures: native signatures for exports that differ from their wasm type's default
    ///     (an `i32` that is a pointer into guest memory: ``NativeParameter/guestPointer``).
    ///   - mode: whether adapters are generated now or on the first call.
    /// - Returns: the instance with a native function pointer per exported function whose type has
    ///   a C form; the others are listed in ``BridgedInstance/skipped``.
    public func instantiate(_ module: Module, store: Store, imports: Imports = [:],
                            signatures: [String: NativeSignature] = [:], mode: Mode = .lazy) throws -> BridgedInstance {
        let instance = try module.instantiate(store: store, imports: imports)
        let bridged = BridgedInstance(instance: instance, bridge: self)
        var records: [ExportRecord] = []
        // Modules repeat a few function types over many exports: derive each native form once.
        var derived: [FunctionType: Result<NativeSignature, BridgeError>] = [:]
        for (name, value) in instance.exports {
            guard case .function(let function) = value else { continue }
            do throws(BridgeError) {
                let type = function.type
                let signature: NativeSignature
                if let given = signatures[name] {
                    guard given.matches(type, leading: []) else {
                        throw .signatureMismatch(export: name, wasm: "\(type)", native: "\(given)")
                    }
                    signature = given
                } else {
                    if derived[type] == nil { derived[type] = Result { () throws(BridgeError) in try NativeSignature(type) } }
                    signature = try derived[type]!.get()
                }
                records.append(ExportRecord(name: name, function: function, signature: signature, leading: [], owner: bridged))
            } catch {
                if signatures[name] != nil { throw error }
                bridged.skipped[name] = error
            }
        }
        let functions = try bridged.attach(records, mode: mode)
        bridged.exports.reserveCapacity(functions.count)
        for function in functions { bridged.exports[function.name] = function }
        return bridged
    }

    /// Stubs for `records`, all or nothing.
    func stubs(for records: [ExportRecord], mode: Mode) throws(BridgeError) -> (pool: StubPool, stubs: StubRange, blobs: [CodeBlob]) {
        do {
            switch mode {
            case .lazy:
                let stubs = try lazy.request(records.map(\.adapter))
                return (lazyPool, stubs, [])
            case .eager:
                let blobs = try Self.commitAdapters(records.map(\.adapter), to: arena)
                let stubs: StubRange
                do {
                    stubs = try eagerPool.allocate(count: records.count, target: blobs[0].entry)
                } catch {
                    for blob in blobs { try? arena.free(blob) }
                    throw error
                }
                for (stub, blob) in zip(stubs, blobs) { try eagerPool.retarget(stub, to: blob.entry) }
                return (eagerPool, stubs, blobs)
            }
        } catch {
            throw .stubPool("\(error)")
        }
    }

    /// One adapter per entry, all in one arena commit: the adapter template instantiated with the
    /// record's address and its receiver, named `wasm-entry:<export>` for profilers.
    static func commitAdapters(_ adapters: [PendingAdapter], to arena: CodeArena) throws(CodeArenaError) -> [CodeBlob] {
        try arena.instantiate(NativeReceivers.adapterTemplate,
                              arguments: adapters.map { [.constant(UInt64($0.record)), .constant($0.receiver)] },
                              names: adapters.map { "wasm-entry:" + $0.name })
    }

    /// Frees the adapters of `records` that the lazy generator made.
    func freeLazyAdapters(of records: [ExportRecord]) {
        let blobs = adapters.blobs.withLock { table in records.compactMap { table.removeValue(forKey: $0.address) } }
        for blob in blobs { try? arena.free(blob) }
    }
}
