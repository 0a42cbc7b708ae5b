import Synchronization
import WasmKit
import WasmKitBridge
import WAT

#if canImport(Glibc)
import Glibc
#endif

/// The guest the tests bridge: arithmetic of every C-representable shape, a comparator and a
/// function table with a `call_indirect` dispatcher, a sort that calls back into the host's
/// `qsort`, and functions that trap.
enum Fixtures {
    static let guest = """
    (module
      (import "host" "qsort" (func $host_qsort (param i32 i32 i32 i32)))
      (memory (export "memory") 1)
      (type $compare (func (param i32 i32) (result i32)))
      (table 2 funcref)
      (elem (i32.const 0) $ascending $descending)
      (func $ascending (type $compare)
        (local $a i32) (local $b i32)
        (local.set $a (i32.load (local.get 0)))
        (local.set $b (i32.load (local.get 1)))
        (i32.sub (i32.gt_s (local.get $a) (local.get $b)) (i32.lt_s (local.get $a) (local.get $b))))
      (func $descending (type $compare)
        (call $ascending (local.get 1) (local.get 0)))
      (func (export "compare") (param i32 i32) (result i32)
        (call $ascending (local.get 0) (local.get 1)))
      (func (export "dispatch_compare") (param $slot i32) (param i32 i32) (result i32)
        (call_indirect (type $compare) (local.get 1) (local.get 2) (local.get $slot)))
      (func (export "sort") (param $base i32) (param $count i32) (param $slot i32)
        (call $host_qsort (local.get $base) (local.get $count) (i32.const 4) (local.get $slot)))
      (func (export "add") (param i32 i32) (result i32)
        (i32.add (local.get 0) (local.get 1)))
      (func (export "mix") (param i64 f64 i32 f32) (result f64)
        (f64.add (f64.add (f64.convert_i64_s (local.get 0)) (local.get 1))
                 (f64.add (f64.convert_i32_s (local.get 2)) (f64.promote_f32 (local.get 3)))))
      (func (export "half") (param f32) (result f32)
        (f32.mul (local.get 0) (f32.const 0.5)))
      (func (export "wide") (param i64 i64 i64 i64 i64) (result i64)
        (i64.add (i64.add (i64.add (local.get 0) (i64.mul (local.get 1) (i64.const 10)))
                          (i64.add (i64.mul (local.get 2) (i64.const 100)) (i64.mul (local.get 3) (i64.const 1000))))
                 (i64.mul (local.get 4) (i64.const 10000))))
      (func (export "divide") (param i32 i32) (result i32)
        (i32.div_s (local.get 0) (local.get 1)))
      (func (export "trap") (param i32) (result i32) unreachable)
      (func (export "pair") (param i32) (result i32 i32) (local.get 0) (local.get 0))
      (func (export "tooWide") (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32) (local.get 0))
    )
    """

    typealias Compare = @convention(c) (UnsafeRawPointer?, UnsafeRawPointer?) -> Int32
    static let comparePointers = try! NativeSignature(parameters: [.guestPointer, .guestPointer], result: .i32)

    /// Where the host's `qsort` import finds the callbacks for the guest's table slots, once the
    /// instance exists.
    final class Callbacks: @unchecked Sendable {
        var bridged: BridgedInstance?
        var slots: [BridgedFunction] = []
    }

    /// Instantiates the guest with a `host.qsort(base, count, size, slot)` import that sorts guest
    /// memory with C's `qsort`, comparing through the native callback of table slot `slot`.
    static func instantiate(_ bridge: Bridge, store: Store, mode: Bridge.Mode) throws -> (BridgedInstance, Callbacks) {
        let callbacks = Callbacks()
        let hostQsort = Function(store: store, parameters: [.i32, .i32, .i32, .i32]) { _, arguments in
            guard case .i32(let base) = arguments[0], case .i32(let count) = arguments[1],
                  case .i32(let size) = arguments[2], case .i32(let slot) = arguments[3],
                  let bridged = callbacks.bridged else { return [] }
            let compare = callbacks.slots[Int(slot)].function(as: Compare.self)
            qsort(try bridged.nativeAddress(ofGuestOffset: base), Int(count), Int(size), compare)
            return []
        }
        let module = try parseWasm(bytes: wat2wasm(guest))
        let bridged = try bridge.instantiate(module, store: store, imports: ["host": ["qsort": hostQsort]],
                                             signatures: ["compare": comparePointers], mode: mode)
        callbacks.bridged = bridged
        callbacks.slots = try bridged.callbacks(slots: [0, 1], through: "dispatch_compare", signature: comparePointers, mode: mode)
        return (bridged, callbacks)
    }

    /// `count` pseudo-random Int32s written to guest memory at `offset`.
    static func fill(_ bridged: BridgedInstance, offset: UInt32, count: Int, seed: UInt64) throws -> UnsafeMutablePointer<Int32> {
        let base = try bridged.nativeAddress(ofGuestOffset: offset).bindMemory(to: Int32.self, capacity: count)
        var state = seed
        for index in 0..<count {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            base[index] = Int32(truncatingIfNeeded: state >> 33) % 100_000
        }
        return base
    }
}

/// Errors a test's diagnostics handler collected (it runs on the calling thread).
final class Collected: Sendable {
    let errors = Mutex<[BridgeError]>([])
    var handler: @Sendable (BridgeError) -> Void { { error in self.errors.withLock { $0.append(error) } } }
}
