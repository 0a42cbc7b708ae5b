// The target of every closure stub: jumps to the entry the closure's trampoline names.
//
// A closure stub (a `context` stub) loads its context, the closure, into r10 (x86-64) or x17
// (AArch64) and jumps to its target: this code, shared by all closures. It reads the entry word of
// the closure's libffi trampoline (x86-64: tramp + 24; AArch64: tramp + 16), which
// ffi_prep_closure_loc writes, and jumps there with that register unchanged, so libffi's entry
// finds its closure as it does behind libffi's own trampoline. Preparing a closure therefore only
// writes the closure: the stub never changes between allocation and free, and a closure prepared
// again for another kind of cif (another entry) needs nothing else.
//
// Until it is prepared, a closure's entry word names unprepared_closure (closures.c), which
// reports the call and aborts.
#include "internal/dispatch.h"

#if defined(__x86_64__)
__asm__(".text\n"
        ".globl stubpool_ffi_dispatch\n"
        ".hidden stubpool_ffi_dispatch\n"
        ".type stubpool_ffi_dispatch, @function\n"
        ".p2align 4\n"
        "stubpool_ffi_dispatch:\n"
        ".cfi_startproc\n"
        "endbr64\n"                 // a landing pad, as the stubs themselves (IBT)
        "jmp *24(%r10)\n"           // STUBPOOL_FFI_ENTRY_OFFSET
        ".cfi_endproc\n"
        ".size stubpool_ffi_dispatch, . - stubpool_ffi_dispatch\n");
#elif defined(__aarch64__)
__asm__(".text\n"
        ".globl stubpool_ffi_dispatch\n"
        ".hidden stubpool_ffi_dispatch\n"
        ".type stubpool_ffi_dispatch, %function\n"
        ".p2align 4\n"
        "stubpool_ffi_dispatch:\n"
        ".cfi_startproc\n"
        "hint #38\n"                // bti jc: reached by the stub's br (BTI)
        "ldr x16, [x17, #16]\n"     // STUBPOOL_FFI_ENTRY_OFFSET
        "br x16\n"
        ".cfi_endproc\n"
        ".size stubpool_ffi_dispatch, . - stubpool_ffi_dispatch\n");
#else
#error "the StubPool libffi drop-in supports x86-64 and AArch64"
#endif
