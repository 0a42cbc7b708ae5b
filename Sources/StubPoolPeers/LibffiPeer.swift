import CFFI
import StubPoolFFI

/// libffi closures, StubPool's FFI peer: one `(int64, int64, int64) -> int64` cif and a handler
/// that returns the sum of the arguments, like ``benchmarkTarget``.
public final class LibffiPeer: @unchecked Sendable {
    // Written once in init, read-only afterwards.
    private let cif = UnsafeMutablePointer<ffi_cif>.allocate(capacity: 1)
    private let types = UnsafeMutablePointer<UnsafeMutablePointer<ffi_type>?>.allocate(capacity: 3)

    private static let handler: @convention(c) (UnsafeMutablePointer<ffi_cif>?, UnsafeMutableRawPointer?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutableRawPointer?) -> Void = { _, result, arguments, _ in
        guard let arguments, let result else { return }
        let a = arguments[0]!.load(as: Int64.self), b = arguments[1]!.load(as: Int64.self), c = arguments[2]!.load(as: Int64.self)
        result.storeBytes(of: a &+ b &+ c, as: Int64.self)
    }

    /// Whose closure allocator: the system libffi's, or StubPool's (``stubpool_ffi_closure_alloc``,
    /// what the libffi drop-in serves), both preparing closures with the system libffi.
    public enum Allocator: Sendable { case system, stubPool }
    public let allocator: Allocator

    public init(allocator: Allocator = .system) {
        self.allocator = allocator
        for index in 0..<3 { types[index] = cffi_type_sint64() }
        precondition(ffi_prep_cif(cif, cffi_default_abi(), 3, cffi_type_sint64(), types) == FFI_OK)
    }

    deinit {
        cif.deallocate()
        types.deallocate()
    }

    /// Allocates and prepares one closure (`ffi_closure_alloc` + `ffi_prep_closure_loc`).
    /// - Returns: the closure (for ``free(_:)``) and its executable entry.
    public func make() -> (closure: UnsafeMutableRawPointer, code: UnsafeMutableRawPointer) {
        var code: UnsafeMutableRawPointer?
        switch allocator {
        case .system:
            let closure = ffi_closure_alloc(MemoryLayout<ffi_closure>.size, &code)!
            precondition(ffi_prep_closure_loc(closure.assumingMemoryBound(to: ffi_closure.self), cif, Self.handler, nil, code) == FFI_OK)
            return (closure, code!)
        case .stubPool:
            let closure = stubpool_ffi_closure_alloc(MemoryLayout<ffi_closure>.size, &code)!
            precondition(stubpool_ffi_prep_closure_loc(closure.assumingMemoryBound(to: ffi_closure.self), cif, Self.handler, nil, code) == FFI_OK)
            return (closure, code!)
        }
    }

    /// Frees a closure from ``make()``.
    public func free(_ closure: UnsafeMutableRawPointer) {
        switch allocator {
        case .system: ffi_closure_free(closure)
        case .stubPool: stubpool_ffi_closure_free(closure)
        }
    }
}
