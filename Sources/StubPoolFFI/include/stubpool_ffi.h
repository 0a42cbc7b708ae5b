// StubPool's libffi drop-in (libStubPoolFFI.so): ffi_closure_alloc, ffi_closure_free,
// ffi_prep_closure_loc and ffi_prep_closure served from a StubPool pool of context stubs, every
// other libffi function left to the system libffi. Use it with LD_PRELOAD or link it ahead of
// -lffi. See README "Embedding from C".
#ifndef STUBPOOL_FFI_H
#define STUBPOOL_FFI_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Counters of the drop-in, process-wide.
typedef struct stubpool_ffi_stats {
    /// Closures handed out by ffi_closure_alloc (each with a StubPool stub as its code address).
    size_t allocated;
    /// ffi_prep_closure_loc calls that pointed a StubPool stub at libffi's entry.
    size_t prepared;
    /// Closures given back with ffi_closure_free.
    size_t freed;
    /// Calls passed on to the system libffi because the closure was not the drop-in's.
    size_t forwarded;
} stubpool_ffi_stats_t;

/// Fills `*out` with the drop-in's counters.
void stubpool_ffi_statistics(stubpool_ffi_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
