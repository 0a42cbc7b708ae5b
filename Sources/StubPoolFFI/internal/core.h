// The StubPool C API functions the closures use, found on first use (core.c).
#ifndef STUBPOOL_FFI_CORE_H
#define STUBPOOL_FFI_CORE_H

#include "stubpool.h"

typedef struct {
    void (*config_init)(stubpool_config_t *);
    stubpool_status_t (*pool_create)(const stubpool_config_t *, stubpool_pool_t **);
    void (*pool_destroy)(stubpool_pool_t *);
    stubpool_status_t (*allocate_closure)(stubpool_pool_t *, const void *, void **, void **);
    stubpool_status_t (*allocate_closures)(stubpool_pool_t *, size_t, const void *, void **, void **);
    stubpool_status_t (*payload_owner)(stubpool_pool_t *, const void *, void **);
    stubpool_status_t (*payload_release_each)(stubpool_pool_t *, size_t, const void *const *, stubpool_status_t *);
    size_t (*reclaim)(stubpool_pool_t *);
    const char *(*last_error)(void);
} stubpool_ffi_core_t;

/// The core's functions, or NULL if it cannot be found (the reason went to stderr once). Linked
/// into the same program (the StubPoolC target), they are used directly; otherwise the first
/// call loads libStubPoolC.so from the drop-in's own directory, so a process that preloads the
/// drop-in and never makes a closure never loads the core.
__attribute__((visibility("hidden"))) const stubpool_ffi_core_t *stubpool_ffi_load_core(void);

/// The table once published (core.c); NULL before the first closure.
extern __attribute__((visibility("hidden"))) stubpool_ffi_core_t *stubpool_ffi_published_core;

/// stubpool_ffi_load_core, with its fast path (one acquire load) inlined into every closure call.
static inline const stubpool_ffi_core_t *stubpool_ffi_core(void) {
    const stubpool_ffi_core_t *core = __atomic_load_n(&stubpool_ffi_published_core, __ATOMIC_ACQUIRE);
    return __builtin_expect(core != NULL, 1) ? core : stubpool_ffi_load_core();
}

#endif
