import CFFI

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

    public init() {
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
        let closure = ffi_closure_alloc(MemoryLayout<ffi_closure>.size, &code)!
        precondition(ffi_prep_closure_loc(closure.assumingMemoryBound(to: ffi_closure.self), cif, Self.handler, nil, code) == FFI_OK)
        return (closure, code!)
    }

    /// Frees a closure from ``make()``.
    public func free(_ closure: UnsafeMutableRawPointer) { ffi_closure_free(closure) }
}
