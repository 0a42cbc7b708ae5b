import CFFI

#if canImport(Glibc)
import Glibc
#endif

/// A plain C-convention target for every call benchmark.
let benchmarkTarget: @convention(c) (Int64, Int64, Int64) -> Int64 = { a, b, c in a &+ b &+ c }
var benchmarkTargetAddress: UnsafeRawPointer { unsafeBitCast(benchmarkTarget, to: UnsafeRawPointer.self) }

/// libffi closures, the FFI peer: one cif, a trivial handler.
final class LibffiPeer {
    let cif = UnsafeMutablePointer<ffi_cif>.allocate(capacity: 1)
    let types = UnsafeMutablePointer<UnsafeMutablePointer<ffi_type>?>.allocate(capacity: 3)

    static let handler: @convention(c) (UnsafeMutablePointer<ffi_cif>?, UnsafeMutableRawPointer?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutableRawPointer?) -> Void = { _, result, arguments, _ in
        guard let arguments, let result else { return }
        let a = arguments[0]!.load(as: Int64.self), b = arguments[1]!.load(as: Int64.self), c = arguments[2]!.load(as: Int64.self)
        result.storeBytes(of: a &+ b &+ c, as: Int64.self)
    }

    init() {
        for index in 0..<3 { types[index] = cffi_type_sint64() }
        precondition(ffi_prep_cif(cif, cffi_default_abi(), 3, cffi_type_sint64(), types) == FFI_OK)
    }

    /// Allocates and prepares one closure; returns (closure, code).
    func make() -> (UnsafeMutableRawPointer, UnsafeMutableRawPointer) {
        var code: UnsafeMutableRawPointer?
        let closure = ffi_closure_alloc(MemoryLayout<ffi_closure>.size, &code)!
        precondition(ffi_prep_closure_loc(closure.assumingMemoryBound(to: ffi_closure.self), cif, Self.handler, nil, code) == FFI_OK)
        return (closure, code!)
    }

    func free(_ closure: UnsafeMutableRawPointer) { ffi_closure_free(closure) }
}

/// One page per stub under W^X, today's engines: mmap read+write, write `jmp [rip+d]` and the
/// target, mprotect read+execute.
enum PagePerStubPeer {
    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    static func make(target: UnsafeRawPointer) -> UnsafeMutableRawPointer {
        let page = mmap(nil, pageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
        let bytes = page.assumingMemoryBound(to: UInt8.self)
        bytes[0] = 0xFF; bytes[1] = 0x25  // jmp [rip+2]: the target follows the 6-byte jump + 2 pad
        (page + 2).storeBytes(of: Int32(2).littleEndian, as: Int32.self)
        (page + 8).storeBytes(of: UInt(bitPattern: target), as: UInt.self)
        precondition(mprotect(page, pageSize, PROT_READ | PROT_EXEC) == 0)
        return page
    }

    static func free(_ page: UnsafeMutableRawPointer) { munmap(page, pageSize) }
}
