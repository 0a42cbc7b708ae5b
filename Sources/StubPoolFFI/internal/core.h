// The StubPool C API functions the closures use, found on first use (core.c).
#ifndef STUBPOOL_FFI_CORE_H
#define STUBPOOL_FFI_CORE_H

#include "stubpool.h"

typedef struct {
    void (*config_init)(stubpool_config_t *);
    stubpool_status_t (*pool_create)(const stubpool_config_t *, stubpool_pool_t **);
    void (*pool_destroy)(stubpool_pool_t *);
    stubpool_status_t (*allocate_with_payload)(stubpool_pool_t *, const void *, uintptr_t, void **, void **);
    stubpool_status_t (*payload_owner)(stubpool_pool_t *, const void *, void **);
    stubpool_status_t (*retarget)(stubpool_pool_t *, void *, const void *, uintptr_t);
    stubpool_status_t (*release)(stubpool_pool_t *, void *);
    size_t (*reclaim)(stubpool_pool_t *);
    const char *(*last_error)(void);
} stubpool_ffi_core_t;

/// The core's functions, or NULL if it cannot be found (the reason went to stderr once). Linked
/// into the same program (the StubPoolC target), they are used directly; otherwise the first
/// call loads libStubPoolC.so from the drop-in's own directory, so a process that preloads the
/// drop-in and never makes a closure never loads the core.
__attribute__((visibility("hidden"))) const stubpool_ffi_core_t *stubpool_ffi_core(void);

#endif
