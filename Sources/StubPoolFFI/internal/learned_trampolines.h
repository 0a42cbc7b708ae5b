// What the system libffi writes into a closure for each kind of cif, learned once (learned_trampolines.c).
#ifndef STUBPOOL_FFI_LEARNED_TRAMPOLINES_H
#define STUBPOOL_FFI_LEARNED_TRAMPOLINES_H

#include <ffi.h>

/// Copies into `tramp` the trampoline bytes the system libffi wrote for a cif with this `abi`
/// and `flags` (its entry word included); 0 if none was learned yet.
__attribute__((visibility("hidden"))) int stubpool_ffi_learned_trampoline(ffi_abi abi, unsigned flags,
                                                                          unsigned char tramp[FFI_TRAMPOLINE_SIZE]);

/// Remembers `tramp`, which the system libffi wrote for a cif with this `abi` and `flags`.
__attribute__((visibility("hidden"))) void stubpool_ffi_learn_trampoline(ffi_abi abi, unsigned flags,
                                                                        const unsigned char tramp[FFI_TRAMPOLINE_SIZE]);

#endif
