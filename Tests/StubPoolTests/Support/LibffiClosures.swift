import StubPoolTestSupport
import CFFI
import Synchronization
@testable import StubPool

/// Debian's libffi puts closures in writable+executable pages. Tests that create closures register
/// their addresses here so the W^X audit can attribute those pages to libffi, not to StubPool.
enum LibffiClosureRegistry {
    private static let addresses = Locked<[UInt]>([])

    static func note(_ address: UInt) { addresses.withLock { $0.append(address) } }

    static func isLibffi(_ entry: MapsEntry) -> Bool {
        addresses.withLock { $0.contains { entry.range.contains($0) } }
    }
}

/// A libffi closure that owns its allocation.
final class LibffiClosure {
    let closure: UnsafeMutablePointer<ffi_closure>
    let code: UnsafeMutableRawPointer

    init?(cif: UnsafeMutablePointer<ffi_cif>,
          handler: @convention(c) (UnsafeMutablePointer<ffi_cif>?, UnsafeMutableRawPointer?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutableRawPointer?) -> Void,
          userData: UnsafeMutableRawPointer) {
        var code: UnsafeMutableRawPointer?
        guard let raw = ffi_closure_alloc(MemoryLayout<ffi_closure>.size, &code), let code else { return nil }
        closure = raw.assumingMemoryBound(to: ffi_closure.self)
        self.code = code
        LibffiClosureRegistry.note(UInt(bitPattern: raw))
        LibffiClosureRegistry.note(UInt(bitPattern: code))
        guard ffi_prep_closure_loc(closure, cif, handler, userData, code) == FFI_OK else { return nil }
    }

    deinit { ffi_closure_free(closure) }
}
