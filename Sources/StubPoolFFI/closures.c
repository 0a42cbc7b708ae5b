// libffi closures on StubPool stubs, under StubPool's own names (stubpool_ffi_*); the drop-in
// (Sources/StubPoolFFIDropIn) gives them libffi's names.
//
// ffi_closure_alloc returns ordinary writable memory for the closure and, as its code address, a
// StubPool `context` stub whose context is the closure. The closure lives in the stub's payload
// (writable memory the pool maps beside its data slots) behind a 16-byte header, so a closure
// costs no malloc; closures larger than a payload are malloc'ed instead. ffi_prep_closure_loc
// lets the system libffi fill the closure as usual, reads the entry libffi chose for the
// signature out of the trampoline it wrote (x86-64: tramp + 24; AArch64: tramp + 16), and points
// the stub there: the stub loads the closure into r10 / x17, exactly what libffi's own trampoline
// does. Nothing is ever writable and executable; nothing touches the file system. Everything else
// comes from the system libffi.
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
    /// check_word(closure, stub, where): tells the drop-in's closures from anybody else's, and
    /// whether the closure sits in its stub's payload or in malloc'ed memory.
    uintptr_t check;
} closure_header_t;

enum placement { in_payload = 0, in_malloc = 1 };

/// Payload bytes per stub: a header and a closure of libffi's own size.
enum { payload_size = (sizeof(closure_header_t) + sizeof(ffi_closure) + 15) / 16 * 16 };

static stubpool_pool_t *pool;
static prep_closure_loc_t system_prep_closure_loc;
static closure_free_t system_closure_free;
static pthread_once_t once = PTHREAD_ONCE_INIT;
/// Set (release) once `initialize` ran: the hot paths test it inline instead of calling pthread_once.
static int initialized;
static size_t quarantine_limit = 1024;

// Counters per thread, written by their thread with plain (relaxed) stores: a locked increment of
// shared counters measured ≈8 ns of every free. A thread's block joins a list on its first use
// and is folded into `retired` when the thread exits.
typedef struct thread_counters {
    stubpool_ffi_stats_t stats;
    /// Frees by this thread since it last reclaimed.
    size_t since_reclaim;
    struct thread_counters *next, *previous;
} thread_counters_t;

static pthread_mutex_t counters_lock = PTHREAD_MUTEX_INITIALIZER;
static thread_counters_t *counters_list;
static stubpool_ffi_stats_t retired;
static pthread_key_t counters_key;
static __thread thread_counters_t *thread_counters __attribute__((tls_model("initial-exec")));

static uintptr_t check_word(const void *closure, const void *stub, enum placement where) {
    return ((uintptr_t)0x53545542ffc10500ull ^ (uintptr_t)closure ^ ((uintptr_t)stub << 1)) + where;
}

/// Where an allocated but unprepared closure's stub goes.
static void unprepared_closure(void) {
    static const char text[] = "stubpool-ffi: call through a closure that ffi_prep_closure_loc has not prepared\n";
    (void)!write(2, text, sizeof text - 1);
    abort();
}

static void add_counts(stubpool_ffi_stats_t *into, const stubpool_ffi_stats_t *from) {
    into->allocated += __atomic_load_n(&from->allocated, __ATOMIC_RELAXED);
    into->prepared += __atomic_load_n(&from->prepared, __ATOMIC_RELAXED);
    into->freed += __atomic_load_n(&from->freed, __ATOMIC_RELAXED);
    into->forwarded += __atomic_load_n(&from->forwarded, __ATOMIC_RELAXED);
}

static void retire_counters(void *block) {
    thread_counters_t *counters = block;
    pthread_mutex_lock(&counters_lock);
    add_counts(&retired, &counters->stats);
    if (counters->previous) counters->previous->next = counters->next; else counters_list = counters->next;
    if (counters->next) counters->next->previous = counters->previous;
    pthread_mutex_unlock(&counters_lock);
    free(counters);
}

static void initialize(void) {
    system_prep_closure_loc = (prep_closure_loc_t)dlsym(RTLD_NEXT, "ffi_prep_closure_loc");
    system_closure_free = (closure_free_t)dlsym(RTLD_NEXT, "ffi_closure_free");
    const char *limit = getenv("STUBPOOL_FFI_QUARANTINE");
    if (limit && *limit) quarantine_limit = strtoul(limit, NULL, 10);
    pthread_key_create(&counters_key, retire_counters);
    stubpool_config_t config;
    stubpool_config_init(&config);
    config.kind = STUBPOOL_KIND_CONTEXT;
    config.payload_size = payload_size;
#if defined(__x86_64__)
    config.landing_pads = 1;  // as libffi's own trampolines (endbr64): IBT-compatible
#endif
    if (stubpool_pool_create(&config, &pool) != STUBPOOL_OK) {
        fprintf(stderr, "stubpool-ffi: no pool: %s\n", stubpool_last_error());
        pool = NULL;
    }
    if (!system_prep_closure_loc) fprintf(stderr, "stubpool-ffi: the system libffi's ffi_prep_closure_loc was not found\n");
    __atomic_store_n(&initialized, 1, __ATOMIC_RELEASE);
}

static inline void ensure_initialized(void) {
    if (__builtin_expect(!__atomic_load_n(&initialized, __ATOMIC_ACQUIRE), 0)) pthread_once(&once, initialize);
}

/// The calling thread's counters (a static fallback if its block cannot be allocated: counts
/// from such threads may then race, nothing else).
static thread_counters_t *counters(void) {
    thread_counters_t *mine = thread_counters;
    if (__builtin_expect(mine != NULL, 1)) return mine;
    static thread_counters_t fallback;
    mine = calloc(1, sizeof *mine);
    if (!mine) return thread_counters = &fallback;
    pthread_mutex_lock(&counters_lock);
    mine->next = counters_list;
    if (counters_list) counters_list->previous = mine;
    counters_list = mine;
    pthread_mutex_unlock(&counters_lock);
    pthread_setspecific(counters_key, mine);
    return thread_counters = mine;
}

static void count(size_t *counter) { __atomic_store_n(counter, *counter + 1, __ATOMIC_RELAXED); }

void *stubpool_ffi_closure_alloc(size_t size, void **code) {
    ensure_initialized();
    if (!pool || size > SIZE_MAX - sizeof(closure_header_t)) return NULL;
    closure_header_t *header;
    void *stub;
    enum placement where = sizeof(closure_header_t) + size <= payload_size ? in_payload : in_malloc;
    if (where == in_payload) {
        void *payload;
        if (stubpool_allocate_with_payload(pool, (const void *)unprepared_closure, 0, &stub, &payload) != STUBPOOL_OK) return NULL;
        header = payload;
    } else {
        header = malloc(sizeof(closure_header_t) + size);
        if (!header) return NULL;
        if (stubpool_allocate(pool, (const void *)unprepared_closure, 0, &stub) != STUBPOOL_OK) {
            free(header);
            return NULL;
        }
    }
    void *closure = header + 1;
    header->stub = stub;
    header->check = check_word(closure, stub, where);
    if (code) *code = stub;
    count(&counters()->stats.allocated);
    return closure;
}

/// The drop-in's header of `closure`, or NULL if `closure` is somebody else's; `*where` says
/// where the closure lives. Reads the 16 bytes before the closure, which every allocator (the
/// system libffi's included) owns: the check word ties them to this closure's address and stub,
/// and free clears it. The pool operation that follows (retarget, release) validates the stub
/// itself: one lookup, not two.
static closure_header_t *header_of(void *closure, enum placement *where) {
    if (!closure || !pool) return NULL;
    closure_header_t *header = (closure_header_t *)closure - 1;
    uintptr_t base = check_word(closure, header->stub, in_payload);
    if (header->check != base && header->check != base + in_malloc) return NULL;
    if (where) *where = (enum placement)(header->check - base);
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
    ensure_initialized();
    if (!system_prep_closure_loc) return FFI_BAD_ABI;
    closure_header_t *header = header_of(closure, NULL);
    if (!header || header->stub != codeloc) {
        count(&counters()->stats.forwarded);
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
    count(&counters()->stats.prepared);
    return FFI_OK;
}

ffi_status stubpool_ffi_prep_closure(ffi_closure *closure, ffi_cif *cif, void (*fun)(ffi_cif *, void *, void **, void *),
                            void *user_data) {
    // The deprecated form assumes code == closure; for the drop-in's closures the code is the stub.
    closure_header_t *header = header_of(closure, NULL);
    return stubpool_ffi_prep_closure_loc(closure, cif, fun, user_data, header ? header->stub : (void *)closure);
}

void stubpool_ffi_closure_free(void *closure) {
    if (!closure) return;
    ensure_initialized();
    enum placement where;
    closure_header_t *header = header_of(closure, &where);
    thread_counters_t *mine = counters();
    if (!header) {
        count(&mine->stats.forwarded);
        if (system_closure_free) system_closure_free(closure);
        return;
    }
    // From now on a call through the freed closure's address reports itself and aborts, until
    // the slot is reclaimed (after this thread's next quarantine_limit frees) and reused.
    uintptr_t check = header->check;
    header->check = 0;
    if (stubpool_release(pool, header->stub) != STUBPOOL_OK) {
        header->check = check;
        fprintf(stderr, "stubpool-ffi: ffi_closure_free(%p): %s\n", closure, stubpool_last_error());
        return;
    }
    if (where == in_malloc) free(header);
    count(&mine->stats.freed);
    count(&mine->since_reclaim);
    if (mine->since_reclaim >= quarantine_limit) {
        mine->since_reclaim = 0;
        stubpool_reclaim(pool);
    }
}

void stubpool_ffi_statistics(stubpool_ffi_stats_t *out) {
    if (!out) return;
    pthread_mutex_lock(&counters_lock);
    *out = retired;
    for (thread_counters_t *counters = counters_list; counters; counters = counters->next) add_counts(out, &counters->stats);
    pthread_mutex_unlock(&counters_lock);
}
