// The closure stubs' shared target (dispatch.c).
#ifndef STUBPOOL_FFI_DISPATCH_H
#define STUBPOOL_FFI_DISPATCH_H

/// Where libffi's trampoline keeps the entry it chose for the closure's cif, which the
/// dispatcher jumps to (dispatch.c hard-codes the same offsets in its two instructions).
#if defined(__x86_64__)
#define STUBPOOL_FFI_ENTRY_OFFSET 24  // endbr64; lea -0xb(%rip),%r10; jmp *0x7(%rip); then the entry word
#elif defined(__aarch64__)
#define STUBPOOL_FFI_ENTRY_OFFSET 16  // ldr x16, 16; adr x17, 0; br x16; then the entry word
#endif

/// Whether the smallest size class keeps its stubs' data slots in the closures (the context word
/// just before the entry word; see closures.c): on x86-64. AArch64 keeps the dispatcher (its
/// literal loads reach ±1 MiB, and the stand-in pool of the arm64 CI run has data regions only).
#if defined(__x86_64__)
#define STUBPOOL_FFI_DATA_IN_CLOSURE 1
#else
#define STUBPOOL_FFI_DATA_IN_CLOSURE 0
#endif

/// Jumps to the entry word of the closure in r10 / x17. Not a C function: only a stub's target.
__attribute__((visibility("hidden"))) void stubpool_ffi_dispatch(void);

#endif
