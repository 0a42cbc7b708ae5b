import CXXTestHelpers
import StubPool

#if canImport(Glibc)
import Glibc
#endif

/// `cxx-exception cfi|none`: a C++ caller calls an arena body (x86-64: `push rbp; mov rbp, rsp;
/// movabs rax, callee; call rax; pop rbp; ret`) that calls a C++ function that throws. With the
/// body's ``CodeFrame`` (`cfi`) the exception crosses the body and the caller catches it: prints
/// `caught 1`. Without it (`none`) the unwinder finds no frame for the body and the process ends
/// in std::terminate (SIGABRT). First it prints which unwinder the library registers with, by the
/// library's own rule: `unwinder llvm-libunwind` when the process has LLVM's
/// `__unw_add_dynamic_fde` (LLVM's libunwind preloaded), else `unwinder libgcc`.
enum FrameProbe {
    /// The body's frame: after `push rbp` the CFA is rsp + 16 and rbp is saved at CFA - 16; after
    /// `mov rbp, rsp` the CFA follows rbp; after `pop rbp` it is rsp + 8 again.
    static let framePointerFrame = CodeFrame(steps: [
        .init(from: 1, .cfaOffset(16)), .init(from: 1, .saved(.x86_64FramePointer, cfaOffset: -16)),
        .init(from: 4, .cfaRegister(.x86_64FramePointer)),
        .init(from: 17, .cfa(.x86_64StackPointer, offset: 8)),
    ])

    static func body(calling callee: UInt, frame: CodeFrame?) -> CodeBody {
        let bytes: [UInt8] = [0x55, 0x48, 0x89, 0xE5, 0x48, 0xB8] + [UInt8](repeating: 0, count: 8) + [0xFF, 0xD0, 0x5D, 0xC3]
        return CodeBody(bytes: bytes, relocations: [.init(offset: 6, field: .absolute64, operand: .address(callee))], frame: frame)
    }

    static func run(withFrame: Bool) throws {
        print("unwinder \(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__unw_add_dynamic_fde") != nil ? "llvm-libunwind" : "libgcc")")
        let arena = CodeArena()
        let callee = unsafeBitCast(cxx_throw_from_callee as @convention(c) () -> Void, to: UInt.self)
        let blob = try arena.commit([body(calling: callee, frame: withFrame ? framePointerFrame : nil)])[0]
        print("caught \(cxx_catch_through(blob.entry))")
    }
}
