// What the system libffi writes into a closure for each kind of cif, learned once (learned_trampolines.c).
#ifndef STUBPOOL_FFI_LEARNED_TRAMPOLINES_H
#define STUBPOOL_FFI_LEARNED_TRAMPOLINES_H

#include <ffi.h>

enum { STUBPOOL_FFI_LEARNED_EMPTY = 0, STUBPOOL_FFI_LEARNED_READY = 2 };

/// One learned trampoline: its state (empty, being written, ready), the cif's abi and flags, and
/// the bytes libffi wrote.
typedef struct {
    int state;
    ffi_abi abi;
    unsigned flags;
    unsigned char tramp[FFI_TRAMPOLINE_SIZE];
} stubpool_ffi_learned_t;

/// The table and the slot the last lookup found (learned_trampolines.c).
extern __attribute__((visibility("hidden"))) stubpool_ffi_learned_t stubpool_ffi_learned[];
extern __attribute__((visibility("hidden"))) unsigned stubpool_ffi_last_found;

/// The bytes learned for (`abi`, `flags`) if the slot the last lookup found holds them, else NULL
/// (then stubpool_ffi_learned_trampoline searches): inlined into the preparation's fast path.
static inline const unsigned char *stubpool_ffi_learned_hint(ffi_abi abi, unsigned flags) {
    const stubpool_ffi_learned_t *slot = &stubpool_ffi_learned[__atomic_load_n(&stubpool_ffi_last_found, __ATOMIC_RELAXED)];
    if (__atomic_load_n(&slot->state, __ATOMIC_ACQUIRE) != STUBPOOL_FFI_LEARNED_READY || slot->abi != abi || slot->flags != flags) {
        return NULL;
    }
    return slot->tramp;
}

/// Copies into `tramp` the trampoline bytes the system libffi wrote for a cif with this `abi`
/// and `flags` (its entry word included); 0 if none was learned yet.
__attribute__((visibility("hidden"))) int stubpool_ffi_learned_trampoline(ffi_abi abi, unsigned flags,
                                                                          unsigned char tramp[FFI_TRAMPOLINE_SIZE]);

/// Remembers `tramp`, which the system libffi wrote for a cif with this `abi` and `flags`.
__attribute__((visibility("hidden"))) void stubpool_ffi_learn_trampoline(ffi_abi abi, unsigned flags,
                                                                        const unsigned char tramp[FFI_TRAMPOLINE_SIZE]);

#endif
