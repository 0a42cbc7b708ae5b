// libffi closures on StubPool stubs, under StubPool's own names. The drop-in library
// (libStubPoolFFI.so) exports them under libffi's names for LD_PRELOAD or for linking ahead of
// -lffi; a program can also call these directly and keep the system libffi's allocator too.
//
// The functions behave as their libffi namesakes (same arguments, results and threading rules);
// the differences:
// - The code address is a StubPool `context` stub (its context is the closure, its target the
//   entry the system libffi chose for the signature): never in a writable mapping, and nothing
//   written to the file system, so they work under PR_SET_MDWE.
// - A thread's frees are released 64 at a time (STUBPOOL_FFI_FREE_BATCH=1: each at once), and
//   when it exits or calls stubpool_ffi_statistics. Once released, a call through the freed code
//   address reports "call through released stub" and aborts, until the slot is reused: slots are
//   reclaimed in batches, after STUBPOOL_FFI_QUARANTINE (default 1024) further releases.
// - Closures not made by stubpool_ffi_closure_alloc (by the system libffi, or user memory used with
//   ffi_prep_closure_loc) are passed on to the system libffi unchanged. Which closures are this
//   library's is decided from their address alone (its pools' chunk index), without reading them.
// - Closure memory comes in payload classes of 64 (one ffi_closure), 128, 256, 1024 and 4096
//   bytes; a larger request is the system libffi's own closure.
#ifndef STUBPOOL_FFI_H
#define STUBPOOL_FFI_H

#include <ffi.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// As ffi_closure_alloc: writable closure memory of `size` bytes; `*code` receives the stub.
/// NULL when out of memory (or when no pool could be created; the reason goes to stderr).
void *stubpool_ffi_closure_alloc(size_t size, void **code);
/// As ffi_closure_free: the closure's stub is released and its memory freed with the thread's
/// batch of frees (see above). NULL is ignored.
void stubpool_ffi_closure_free(void *closure);
/// As ffi_prep_closure_loc; `codeloc` must be the code address stubpool_ffi_closure_alloc gave.
ffi_status stubpool_ffi_prep_closure_loc(ffi_closure *closure, ffi_cif *cif,
                                         void (*fun)(ffi_cif *, void *, void **, void *), void *user_data,
                                         void *codeloc);
/// As the deprecated ffi_prep_closure: for a closure of stubpool_ffi_closure_alloc, prepares its stub.
ffi_status stubpool_ffi_prep_closure(ffi_closure *closure, ffi_cif *cif,
                                     void (*fun)(ffi_cif *, void *, void **, void *), void *user_data);
/// As ffi_prep_raw_closure_loc, ffi_prep_raw_closure and their Java forms: this library's
/// closures are prepared by the system libffi and their stubs pointed at the entry it chose;
/// anybody else's are passed on.
ffi_status stubpool_ffi_prep_raw_closure_loc(ffi_raw_closure *closure, ffi_cif *cif,
                                             void (*fun)(ffi_cif *, void *, ffi_raw *, void *), void *user_data,
                                             void *codeloc);
ffi_status stubpool_ffi_prep_raw_closure(ffi_raw_closure *closure, ffi_cif *cif,
                                         void (*fun)(ffi_cif *, void *, ffi_raw *, void *), void *user_data);
ffi_status stubpool_ffi_prep_java_raw_closure_loc(ffi_java_raw_closure *closure, ffi_cif *cif,
                                                  void (*fun)(ffi_cif *, void *, ffi_java_raw *, void *),
                                                  void *user_data, void *codeloc);
ffi_status stubpool_ffi_prep_java_raw_closure(ffi_java_raw_closure *closure, ffi_cif *cif,
                                              void (*fun)(ffi_cif *, void *, ffi_java_raw *, void *), void *user_data);

/// Counters, process-wide.
typedef struct stubpool_ffi_stats {
    /// Closures handed out (each with a StubPool stub as its code address).
    size_t allocated;
    /// Preparations that pointed a StubPool stub at libffi's entry.
    size_t prepared;
    /// Closures freed and released (a thread's unreleased frees count once released; the
    /// calling thread's are released first).
    size_t freed;
    /// Preparations and frees passed on to the system libffi (not this library's closures).
    size_t forwarded;
} stubpool_ffi_stats_t;

/// Fills `*out` with the counters, after releasing the calling thread's pending frees.
void stubpool_ffi_statistics(stubpool_ffi_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
