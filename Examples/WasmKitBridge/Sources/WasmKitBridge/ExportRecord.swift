import StubPool
import WasmKit

#if canImport(Glibc)
import Glibc
#endif

/// What a native call of one bridged function needs: the guest function, how its arguments arrive
/// and the instance it belongs to. Its address is the constant the function's adapter loads.
///
/// `@unchecked Sendable`: its fields never change after creation, and the only thing that uses
/// the WasmKit objects it holds is ``call(integers:floats:)``, which first checks that it runs on
/// the thread that owns the store.
final class ExportRecord: @unchecked Sendable {
    let name: String
    let function: Function
    let signature: NativeSignature
    /// Arguments that precede the native ones (a guest function pointer's table slot).
    let leading: [Value]
    unowned let owner: BridgedInstance

    init(name: String, function: Function, signature: NativeSignature, leading: [Value], owner: BridgedInstance) {
        self.name = name
        self.function = function
        self.signature = signature
        self.leading = leading
        self.owner = owner
    }

    var address: UInt { UInt(bitPattern: Unmanaged.passUnretained(self).toOpaque()) }

    /// The receiver the record's adapter jumps to.
    var receiver: UInt64 {
        signature.result.isFloat ? NativeReceivers.floatResultAddress : NativeReceivers.integerResultAddress
    }

    /// What the record's adapter binds.
    var adapter: Bridge.PendingAdapter { Bridge.PendingAdapter(record: address, receiver: receiver, name: name) }

    /// From a receiver: the argument registers as the caller left them.
    static func receive<Integers, Floats>(_ record: UInt64, _ integers: Integers, _ floats: Floats) -> (integer: UInt64, float: Double) {
        let record = Unmanaged<ExportRecord>.fromOpaque(UnsafeRawPointer(bitPattern: UInt(record))!).takeUnretainedValue()
        return withUnsafeBytes(of: integers) { integers in
            withUnsafeBytes(of: floats) { floats in
                record.call(integers: integers.assumingMemoryBound(to: UInt64.self), floats: floats.assumingMemoryBound(to: Double.self))
            }
        }
    }

    /// The value a refused or trapping call returns: 0, or +0.0.
    static let defined: (integer: UInt64, float: Double) = (0, 0)

    func call(integers: UnsafeBufferPointer<UInt64>, floats: UnsafeBufferPointer<Double>) -> (integer: UInt64, float: Double) {
        guard owner.isOwnerThread else {
            owner.report(.wrongThread(export: name, owner: owner.ownerDescription, caller: BridgedInstance.currentThreadDescription))
            return Self.defined
        }
        var values = leading
        values.reserveCapacity(leading.count + signature.parameters.count)
        var integer = 0, float = 0
        for parameter in signature.parameters {
            switch parameter {
            case .i32:
                values.append(.i32(UInt32(truncatingIfNeeded: integers[integer])))
                integer += 1
            case .i64:
                values.append(.i64(integers[integer]))
                integer += 1
            case .guestPointer:
                let address = UInt(integers[integer])
                integer += 1
                guard let offset = owner.guestOffset(of: address) else {
                    owner.report(.pointerOutsideMemory(export: name, address: address))
                    return Self.defined
                }
                values.append(.i32(offset))
            case .f32:
                values.append(.f32(UInt32(truncatingIfNeeded: floats[float].bitPattern)))
                float += 1
            case .f64:
                values.append(.f64(floats[float].bitPattern))
                float += 1
            }
        }
        let results: [Value]
        do {
            results = try function.invoke(values)
        } catch {
            owner.report(.trap(export: name, message: "\(error)"))
            return Self.defined
        }
        switch (signature.result, results.first) {
        case (.i32, .i32(let value)?): return (UInt64(value), 0)
        case (.i64, .i64(let value)?): return (value, 0)
        // A float result is the low 32 bits of the vector register.
        case (.f32, .f32(let bits)?): return (0, Double(bitPattern: UInt64(bits)))
        case (.f64, .f64(let bits)?): return (0, Double(bitPattern: bits))
        default: return Self.defined
        }
    }
}
