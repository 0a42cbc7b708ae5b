// The trampolines the system libffi writes, learned once per kind of cif.
//
// ffi_prep_closure_loc writes a closure's trampoline (constant, position-independent code plus
// the address of the entry it chose) and its cif, fun and user_data. The entry depends on the
// cif's ABI and flags alone (x86-64: SSE arguments or not; AArch64: vector arguments or not), so
// after the first closure of each (abi, flags) the drop-in fills the next ones itself: the same
// bytes, without the call. The key is the whole flags word, a superset of what selects the
// entry; DropInTests compares the result with the system's byte for byte over 10,000 random
// signatures.
//
// A fixed table, each slot claimed with a compare-and-swap and published with a release store:
// no lock (a fork meanwhile leaves at most one slot half-written, which is never read), and a
// full table just means more calls to the system libffi.
#include "internal/learned_trampolines.h"

#include <string.h>

enum { slot_count = 64, empty = STUBPOOL_FFI_LEARNED_EMPTY, writing = 1, ready = STUBPOOL_FFI_LEARNED_READY };

stubpool_ffi_learned_t stubpool_ffi_learned[slot_count];

static unsigned slot_of(ffi_abi abi, unsigned flags) { return ((unsigned)abi * 0x9E3779B1u ^ flags * 0x85EBCA6Bu) % slot_count; }

/// The slot the last lookup found (any thread's: a hint, checked like any slot). Programs make
/// closures of one or two kinds, so the hash and probe are usually skipped.
unsigned stubpool_ffi_last_found;

/// Copies slot `index`'s bytes into `tramp` if, in `state`, it holds what was learned for
/// (abi, flags).
static int copy_if_learned(unsigned index, int state, ffi_abi abi, unsigned flags, unsigned char tramp[FFI_TRAMPOLINE_SIZE]) {
    if (state != ready || stubpool_ffi_learned[index].abi != abi || stubpool_ffi_learned[index].flags != flags) return 0;
    memcpy(tramp, stubpool_ffi_learned[index].tramp, FFI_TRAMPOLINE_SIZE);
    return 1;
}

int stubpool_ffi_learned_trampoline(ffi_abi abi, unsigned flags, unsigned char tramp[FFI_TRAMPOLINE_SIZE]) {
    const unsigned char *hint = stubpool_ffi_learned_hint(abi, flags);
    if (hint) {
        memcpy(tramp, hint, FFI_TRAMPOLINE_SIZE);
        return 1;
    }
    for (unsigned probe = 0, index = slot_of(abi, flags); probe < slot_count; probe++, index = (index + 1) % slot_count) {
        int state = __atomic_load_n(&stubpool_ffi_learned[index].state, __ATOMIC_ACQUIRE);
        if (state == empty) return 0;
        if (copy_if_learned(index, state, abi, flags, tramp)) {
            __atomic_store_n(&stubpool_ffi_last_found, index, __ATOMIC_RELAXED);
            return 1;
        }
    }
    return 0;
}

void stubpool_ffi_learn_trampoline(ffi_abi abi, unsigned flags, const unsigned char tramp[FFI_TRAMPOLINE_SIZE]) {
    for (unsigned probe = 0, index = slot_of(abi, flags); probe < slot_count; probe++, index = (index + 1) % slot_count) {
        stubpool_ffi_learned_t *slot = &stubpool_ffi_learned[index];
        int state = __atomic_load_n(&slot->state, __ATOMIC_ACQUIRE);
        if (state == ready && slot->abi == abi && slot->flags == flags) return;  // learned by another thread
        if (state != empty) continue;
        int expected = empty;
        if (!__atomic_compare_exchange_n(&slot->state, &expected, writing, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) continue;
        slot->abi = abi;
        slot->flags = flags;
        memcpy(slot->tramp, tramp, FFI_TRAMPOLINE_SIZE);
        __atomic_store_n(&slot->state, ready, __ATOMIC_RELEASE);
        return;
    }
}
