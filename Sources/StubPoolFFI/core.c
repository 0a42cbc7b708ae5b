// Finding the StubPool core for the closures: linked in, or loaded on the first closure.
//
// The drop-in (libStubPoolFFI.so) is plain C and links no Swift: preloading it into a process
// costs a small C library, whatever the process does. The core (the Swift library behind
// stubpool.h, libStubPoolC.so, self-contained: its Swift runtime linked statically) is loaded
// the first time a closure is made. Programs that link the core themselves (the StubPoolC target:
// the tests, the benchmarks) resolve the weak references below at link time and load nothing.
#define _GNU_SOURCE
#include "internal/core.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma weak stubpool_config_init
#pragma weak stubpool_pool_create
#pragma weak stubpool_pool_destroy
#pragma weak stubpool_pool_allocate_closure
#pragma weak stubpool_pool_allocate_closures
#pragma weak stubpool_pool_payload_owner
#pragma weak stubpool_pool_payload_release_each
#pragma weak stubpool_pool_reclaim
#pragma weak stubpool_last_error

/// The table, published once with a compare-and-swap (racing first calls each build one; the
/// losers free theirs): no lock, so a fork() meanwhile leaves nothing half-held.
stubpool_ffi_core_t *stubpool_ffi_published_core;
/// Set once the core could not be found.
static int missing;

/// The core library's path: libStubPoolC.so beside the library this code is in (or
/// STUBPOOL_FFI_CORE, for tests and unusual layouts).
static int core_path(char *path, size_t size) {
    const char *override = getenv("STUBPOOL_FFI_CORE");
    if (override && *override) return snprintf(path, size, "%s", override) < (int)size;
    Dl_info self;
    if (!dladdr((void *)core_path, &self) || !self.dli_fname) return 0;
    const char *slash = strrchr(self.dli_fname, '/');
    int directory = slash ? (int)(slash - self.dli_fname) : 0;
    int written = slash ? snprintf(path, size, "%.*s/libStubPoolC.so", directory, self.dli_fname)
                        : snprintf(path, size, "libStubPoolC.so");
    return written > 0 && (size_t)written < size;
}

static int load(stubpool_ffi_core_t *found) {
    if (stubpool_pool_create) {
        *found = (stubpool_ffi_core_t){stubpool_config_init, stubpool_pool_create,
                                       stubpool_pool_destroy, stubpool_pool_allocate_closure, stubpool_pool_allocate_closures,
                                       stubpool_pool_payload_owner,
                                       stubpool_pool_payload_release_each, stubpool_pool_reclaim, stubpool_last_error};
        return 1;
    }
    char path[PATH_MAX];
    if (!core_path(path, sizeof path)) {
        fprintf(stderr, "stubpool-ffi: cannot tell where libStubPoolC.so is; closures stay the system libffi's\n");
        return 0;
    }
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        fprintf(stderr, "stubpool-ffi: %s; closures stay the system libffi's\n", dlerror());
        return 0;
    }
#define FIND(field, name)                                       \
    if (!(*(void **)&found->field = dlsym(library, name))) {    \
        fprintf(stderr, "stubpool-ffi: %s lacks %s\n", path, name); \
        return 0;                                               \
    }
    FIND(config_init, "stubpool_config_init")
    FIND(pool_create, "stubpool_pool_create")
    FIND(pool_destroy, "stubpool_pool_destroy")
    FIND(allocate_closure, "stubpool_pool_allocate_closure")
    FIND(allocate_closures, "stubpool_pool_allocate_closures")
    FIND(payload_owner, "stubpool_pool_payload_owner")
    FIND(payload_release_each, "stubpool_pool_payload_release_each")
    FIND(reclaim, "stubpool_pool_reclaim")
    FIND(last_error, "stubpool_last_error")
#undef FIND
    return 1;
}

const stubpool_ffi_core_t *stubpool_ffi_load_core(void) {
    stubpool_ffi_core_t *core = __atomic_load_n(&stubpool_ffi_published_core, __ATOMIC_ACQUIRE);
    if (__builtin_expect(core != NULL, 1)) return core;
    if (__atomic_load_n(&missing, __ATOMIC_RELAXED)) return NULL;
    stubpool_ffi_core_t *mine = malloc(sizeof *mine);
    if (!mine) return NULL;
    if (!load(mine)) {
        free(mine);
        __atomic_store_n(&missing, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    stubpool_ffi_core_t *expected = NULL;
    if (__atomic_compare_exchange_n(&stubpool_ffi_published_core, &expected, mine, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return mine;
    free(mine);
    return expected;
}
