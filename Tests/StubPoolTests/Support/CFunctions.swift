import CTestHelpers
import Synchronization
@testable import StubPool

typealias Weighted3 = @convention(c) (Int64, Int64, Int64) -> Int64
typealias ReturnsWord = @convention(c) () -> UInt64
typealias ReturnsInt = @convention(c) () -> Int64
typealias BoundCapture = @convention(c) (Int64, Double, Int64, Int64, Double, Int64, Int64) -> Int64

extension ct_register_record {
    /// A record of random register values for `ct_call_with_registers` (`extra`, which x86-64
    /// does not load, stays zero).
    static func random(using random: inout SplitMix64) -> ct_register_record {
        var record = ct_register_record()
        withUnsafeMutableBytes(of: &record) { raw in
            for index in 0..<raw.count { raw[index] = UInt8(truncatingIfNeeded: random.next()) }
        }
        record.extra = (0, 0)
        return record
    }

    /// The record's bytes, for comparing whole records.
    var bytes: [UInt8] { withUnsafeBytes(of: self, Array.init) }

    /// Calls `entry` with the registers of `input` and returns what the recorder saw. The
    /// recorder writes one process-wide record, and suites run in parallel: the call and the
    /// read happen under one lock.
    static func recordedCall(_ entry: UnsafeRawPointer, _ input: inout ct_register_record) -> ct_register_record {
        recorderLock.withLock { _ in
            ct_call_with_registers(entry, &input)
            return ct_last_record().pointee
        }
    }
}

private let recorderLock = Mutex<Void>(())

/// Addresses of the C test targets.
enum CTargets {
    static var weighted3: UnsafeRawPointer { unsafeBitCast(ct_weighted3 as Weighted3, to: UnsafeRawPointer.self) }
    static var returnContextRegister: UnsafeRawPointer { unsafeBitCast(ct_return_context_register as ReturnsWord, to: UnsafeRawPointer.self) }
    static var recorder: UnsafeRawPointer { unsafeBitCast(ct_recorder as @convention(c) () -> Void, to: UnsafeRawPointer.self) }
    static var boundCapture: UnsafeRawPointer {
        unsafeBitCast(
            ct_bound_capture as @convention(c) (UnsafeMutablePointer<ct_capture>?, Int64, Double, Int64, Int64, Double, Int64, Int64) -> Int64,
            to: UnsafeRawPointer.self)
    }

    /// `ct_constant_functions[k]`: a function returning `k`.
    static func constant(_ k: Int) -> UnsafeRawPointer {
        withUnsafePointer(to: ct_constant_functions) { tuple in
            tuple.withMemoryRebound(to: UnsafeRawPointer?.self, capacity: 8) { $0[k]! }
        }
    }
}
