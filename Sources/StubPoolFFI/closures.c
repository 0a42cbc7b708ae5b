// libffi closures on StubPool stubs, under StubPool's own names (stubpool_ffi_*); the drop-in
// (Sources/StubPoolFFIDropIn) gives them libffi's names.
//
// ffi_closure_alloc returns ordinary writable memory for the closure (malloc, behind a 16-byte
// header) and, as its code address, a StubPool `context` stub whose context is the closure.
// ffi_prep_closure_loc lets the system libffi fill the closure as usual, reads the entry libffi
// chose for the signature out of the trampoline it wrote (x86-64: tramp + 24; AArch64:
// tramp + 16), and points the stub there: the stub loads the closure into r10 / x17, exactly
// what libffi's own trampoline does. Nothing is ever writable and executable; nothing touches
// the file system. Everything else comes from the system libffi.
#define _GNU_SOURCE
#include "stubpool_ffi.h"

#include <dlfcn.h>
#include <ffi.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stubpool.h"

#if defined(__x86_64__)
enum { entry_offset = 24 };  // lea -0xb(%rip),%r10; jmp *0x7(%rip); then the entry word
#elif defined(__aarch64__)
enum { entry_offset = 16 };  // ldr x16, 16; adr x17, 0; br x16; then the entry word
#else
#error "the StubPool libffi drop-in supports x86-64 and AArch64"
#endif

typedef ffi_status (*prep_closure_loc_t)(ffi_closure *, ffi_cif *, void (*)(ffi_cif *, void *, void **, void *),
                                         void *, void *);
typedef void (*closure_free_t)(void *);

/// In front of every closure the drop-in hands out; 16 bytes keep the closure 16-aligned.
typedef struct {
    void *stub;
    /// check_word(closure, stub): tells the drop-in's closures from anybody else's.
    uintptr_t check;
} closure_header_t;

static stubpool_pool_t *pool;
static prep_closure_loc_t system_prep_closure_loc;
static closure_free_t system_closure_free;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static size_t quarantine_limit = 1024;
static size_t released_since_reclaim;
static stubpool_ffi_stats_t stats;

static uintptr_t check_word(const void *closure, const void *stub) {
    return (uintptr_t)0x53545542ffc10500ull ^ (uintptr_t)closure ^ ((uintptr_t)stub << 1);
}

/// Where an allocated but unprepared closure's stub goes.
static void unprepared_closure(void) {
    static const char text[] = "stubpool-ffi: call through a closure that ffi_prep_closure_loc has not prepared\n";
    (void)!write(2, text, sizeof text - 1);
    abort();
}

static void initialize(void) {
    system_prep_closure_loc = (prep_closure_loc_t)dlsym(RTLD_NEXT, "ffi_prep_closure_loc");
    system_closure_free = (closure_free_t)dlsym(RTLD_NEXT, "ffi_closure_free");
    const char *limit = getenv("STUBPOOL_FFI_QUARANTINE");
    if (limit && *limit) quarantine_limit = strtoul(limit, NULL, 10);
    stubpool_config_t config;
    stubpool_config_init(&config);
    config.kind = STUBPOOL_KIND_CONTEXT;
#if defined(__x86_64__)
    config.landing_pads = 1;  // as libffi's own trampolines (endbr64): IBT-compatible
#endif
    if (stubpool_pool_create(&config, &pool) != STUBPOOL_OK) {
        fprintf(stderr, "stubpool-ffi: no pool: %s\n", stubpool_last_error());
        pool = NULL;
    }
    if (!system_prep_closure_loc) fprintf(stderr, "stubpool-ffi: the system libffi's ffi_prep_closure_loc was not found\n");
}


static void count(size_t *counter) { __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED); }

void *stubpool_ffi_closure_alloc(size_t size, void **code) {
    pthread_once(&once, initialize);
    if (!pool || size > SIZE_MAX - sizeof(closure_header_t)) return NULL;
    closure_header_t *header = malloc(sizeof(closure_header_t) + (size ? size : 1));
    if (!header) return NULL;
    void *closure = header + 1;
    void *stub;
    if (stubpool_allocate(pool, (const void *)unprepared_closure, (uintptr_t)closure, &stub) != STUBPOOL_OK) {
        free(header);
        return NULL;
    }
    header->stub = stub;
    header->check = check_word(closure, stub);
    if (code) *code = stub;
    count(&stats.allocated);
    return closure;
}

/// The drop-in's header of `closure`, or NULL if `closure` is somebody else's. Reads the 16
/// bytes before the closure, which every allocator (the system libffi's included) owns.
static closure_header_t *header_of(void *closure) {
    if (!closure || !pool) return NULL;
    closure_header_t *header = (closure_header_t *)closure - 1;
    if (header->check != check_word(closure, header->stub)) return NULL;
    uintptr_t context;
    if (stubpool_get_target(pool, header->stub, NULL, &context) != STUBPOOL_OK || context != (uintptr_t)closure) {
        // The stub is not ours, or was released (context is the released state's).
        return NULL;
    }
    return header;
}

/// Entries already found inside the system libffi (it has a handful: plain, SSE, Go, ...):
/// dladdr, which checks the others, costs hundreds of nanoseconds.
static void *known_entries[8];

static int is_libffi_entry(void *entry) {
    for (size_t i = 0; i < sizeof known_entries / sizeof *known_entries; i++) {
        void *known = __atomic_load_n(&known_entries[i], __ATOMIC_ACQUIRE);
        if (known == entry) return 1;
        if (!known) break;
    }
    Dl_info entry_info, libffi_info;
    if (!dladdr(entry, &entry_info) || !dladdr((void *)system_prep_closure_loc, &libffi_info) ||
        entry_info.dli_fbase != libffi_info.dli_fbase) {
        return 0;
    }
    for (size_t i = 0; i < sizeof known_entries / sizeof *known_entries; i++) {
        void *expected = NULL;
        if (__atomic_compare_exchange_n(&known_entries[i], &expected, entry, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED) ||
            expected == entry) {
            break;
        }
    }
    return 1;
}

ffi_status stubpool_ffi_prep_closure_loc(ffi_closure *closure, ffi_cif *cif, void (*fun)(ffi_cif *, void *, void **, void *),
                                void *user_data, void *codeloc) {
    pthread_once(&once, initialize);
    if (!system_prep_closure_loc) return FFI_BAD_ABI;
    closure_header_t *header = header_of(closure);
    if (!header || header->stub != codeloc) {
        count(&stats.forwarded);
        return system_prep_closure_loc(closure, cif, fun, user_data, codeloc);
    }
    // libffi writes its trampoline into the closure (plain writable memory here) and the
    // entry it chose for the signature after it.
    ffi_status status = system_prep_closure_loc(closure, cif, fun, user_data, codeloc);
    if (status != FFI_OK) return status;
    void *entry;
    memcpy(&entry, (const char *)closure->tramp + entry_offset, sizeof entry);
    if (!is_libffi_entry(entry)) {
        fprintf(stderr, "stubpool-ffi: the system libffi's trampoline layout is not the one expected "
                        "(entry %p outside libffi); is it built with static trampolines?\n", entry);
        return FFI_BAD_ABI;
    }
    if (stubpool_retarget(pool, codeloc, entry, (uintptr_t)closure) != STUBPOOL_OK) {
        fprintf(stderr, "stubpool-ffi: %s\n", stubpool_last_error());
        return FFI_BAD_ABI;
    }
    count(&stats.prepared);
    return FFI_OK;
}

ffi_status stubpool_ffi_prep_closure(ffi_closure *closure, ffi_cif *cif, void (*fun)(ffi_cif *, void *, void **, void *),
                            void *user_data) {
    // The deprecated form assumes code == closure; for the drop-in's closures the code is the stub.
    closure_header_t *header = header_of(closure);
    return stubpool_ffi_prep_closure_loc(closure, cif, fun, user_data, header ? header->stub : (void *)closure);
}

void stubpool_ffi_closure_free(void *closure) {
    if (!closure) return;
    pthread_once(&once, initialize);
    closure_header_t *header = header_of(closure);
    if (!header) {
        count(&stats.forwarded);
        if (system_closure_free) system_closure_free(closure);
        return;
    }
    // From now on a call through the freed closure's address reports itself and aborts, until
    // the slot is reclaimed (after quarantine_limit more frees) and reused.
    if (stubpool_release(pool, header->stub) != STUBPOOL_OK) {
        fprintf(stderr, "stubpool-ffi: ffi_closure_free(%p): %s\n", closure, stubpool_last_error());
        return;
    }
    header->check = 0;
    free(header);
    count(&stats.freed);
    if (__atomic_add_fetch(&released_since_reclaim, 1, __ATOMIC_RELAXED) >= quarantine_limit) {
        __atomic_store_n(&released_since_reclaim, 0, __ATOMIC_RELAXED);
        stubpool_reclaim(pool);
    }
}

void stubpool_ffi_statistics(stubpool_ffi_stats_t *out) {
    if (!out) return;
    out->allocated = __atomic_load_n(&stats.allocated, __ATOMIC_RELAXED);
    out->prepared = __atomic_load_n(&stats.prepared, __ATOMIC_RELAXED);
    out->freed = __atomic_load_n(&stats.freed, __ATOMIC_RELAXED);
    out->forwarded = __atomic_load_n(&stats.forwarded, __ATOMIC_RELAXED);
}
