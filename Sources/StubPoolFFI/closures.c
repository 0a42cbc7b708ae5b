// libffi closures on StubPool stubs, under StubPool's own names (stubpool_ffi_*); the drop-in
// (Sources/StubPoolFFIDropIn) gives them libffi's names.
//
// ffi_closure_alloc returns, as the closure, the payload of a StubPool `context` stub (writable
// memory the pool maps beside its data slots, never executable) and, as its code address, the
// stub itself, whose context is the closure and whose target is the shared dispatcher
// (dispatch.c): it loads the closure into r10 / x17, exactly what libffi's own trampoline does,
// and the dispatcher jumps to the entry word of the closure's trampoline. Pools come in payload
// size classes (the smallest holds exactly an ffi_closure); a closure larger than the largest
// class is the system libffi's.
//
// Each thread keeps a reserve of ready closures of the first size class, allocated by one core
// call (stubpool_pool_allocate_closures) per 64, and collects its frees, released by one core call
// (stubpool_pool_payload_release_each) per 64: most allocations and frees never leave this file.
// A thread that exits gives its reserve back and releases what it collected, and its releases
// join a process-wide count, so short-lived threads lead to reclaims too.
//
// ffi_prep_closure_loc writes the closure as libffi would: for the first closure of each kind of
// cif the system libffi writes it (its trampoline names the entry it chose for the signature:
// plain, SSE, ...), later ones get the same bytes from learned_trampolines.c. The stub itself is
// never touched between allocation and free. Nothing is ever writable and executable; nothing
// touches the file system.
//
// Ownership is decided from the address alone (stubpool_pool_payload_owner: the pools' chunk index),
// before anything is read: a closure made by somebody else (the system libffi, cffi's own
// executable memory, a first byte of a mapping) is passed to the system libffi untouched.
//
// fork(): this file owns one lock (the list of per-thread blocks), held only around list
// updates and taken by its fork handlers; set-up is lock-free (compare-and-swap publication), so
// a fork during another thread's set-up leaves nothing half-held. The pools' own locks are the
// core's (ForkLocks). In the child, the threads that did not fork are gone with their reserves
// and pending frees: those closures stay allocated, never released (at most 64 + 64 per thread).
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

#include "internal/core.h"
#include "internal/dispatch.h"
#include "internal/learned_trampolines.h"

typedef void (*closure_fun_t)(ffi_cif *, void *, void **, void *);
typedef void (*raw_closure_fun_t)(ffi_cif *, void *, ffi_raw *, void *);
typedef ffi_status (*prep_closure_loc_t)(ffi_closure *, ffi_cif *, closure_fun_t, void *, void *);
typedef ffi_status (*prep_raw_closure_loc_t)(ffi_raw_closure *, ffi_cif *, raw_closure_fun_t, void *, void *);
typedef void *(*closure_alloc_t)(size_t, void **);
typedef void (*closure_free_t)(void *);

/// Payload bytes of each size class: the first holds an ffi_closure exactly (56 bytes on x86-64,
/// 8-byte aligned, as malloc would give it; 48 on AArch64).
enum { class_count = 5 };
static const size_t class_sizes[class_count] = {(sizeof(ffi_closure) + 7) / 8 * 8, 128, 256, 1024, 4096};

/// The system libffi's functions (found once; every thread finds the same ones).
typedef struct {
    prep_closure_loc_t prep_closure_loc;
    prep_raw_closure_loc_t prep_raw_closure_loc;
    prep_raw_closure_loc_t prep_java_raw_closure_loc;
    closure_alloc_t closure_alloc;
    closure_free_t closure_free;
} system_libffi_t;

static system_libffi_t system_libffi;
/// 0: not looked up; 1: looked up (release-published).
static int system_found;
/// One pool per size class, created on first use and published with a compare-and-swap.
static stubpool_pool_t *pools[class_count];
/// Closures of the first size class a thread allocates ahead with one core call, and frees a
/// thread collects before it releases them with one core call.
enum { reserve_capacity = 64, pending_capacity = 64 };
static size_t quarantine_limit = 1024;
/// Frees a thread collects before releasing them (1...pending_capacity; 1: each at once).
static size_t free_batch = pending_capacity;
/// Releases by threads that exited since the last reclaim (each thread counts its own until then).
static size_t exited_since_reclaim;


// A block per thread: its counters, written by their thread with plain (relaxed) stores (a locked
// increment of shared counters measured ≈8 ns of every free), and its reserve of ready closures.
// A thread's block joins a list on its first use; when the thread exits, its counts are folded
// into `retired` and its reserve goes back to the pool.
typedef struct thread_state {
    // What every allocation and free reads, first: one cache line (the shared flag placed after
    // the arrays measured as a miss on 40% of a free's samples).
    stubpool_ffi_stats_t stats;
    /// Frees by this thread since it last reclaimed.
    size_t since_reclaim;
    /// Closures of size class 0 allocated (each stub's target already set) and not yet handed
    /// out: reserve_stubs[reserve_next..reserve_count), lowest addresses first. One core call
    /// per reserve_capacity closures instead of one per closure: ≈130 instructions of each
    /// allocation were the call into the core and its layers.
    size_t reserve_next, reserve_count;
    /// Closures freed by the thread and not released yet: pending[0..pending_count).
    size_t pending_count;
    /// Set in the static block threads share when theirs cannot be allocated: no reserve and no
    /// pending frees there.
    int shared;
    void *reserve_stubs[reserve_capacity], *reserve_closures[reserve_capacity];
    void *pending[pending_capacity];
    struct thread_state *next, *previous;
} thread_state_t;

static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;
static thread_state_t *threads_list;
static stubpool_ffi_stats_t retired;
/// 0 until the thread-exit key exists (+1 so that key 0 is distinguishable).
static uintptr_t threads_key_plus_one;
static __thread thread_state_t *thread_block __attribute__((tls_model("initial-exec")));

static void lock_threads_for_fork(void) { pthread_mutex_lock(&threads_lock); }
static void unlock_threads_after_fork(void) { pthread_mutex_unlock(&threads_lock); }

/// Where an allocated but unprepared closure's entry word points.
static void unprepared_closure(void) {
    static const char text[] = "stubpool-ffi: call through a closure that ffi_prep_closure_loc has not prepared\n";
    (void)!write(2, text, sizeof text - 1);
    abort();
}

/// The lookup behind system_ffi(), once.
__attribute__((noinline)) static const system_libffi_t *find_system_ffi(void) {
    // The next definitions after this library's: the system libffi, when it is in the global
    // scope (linked by the program). A client that was itself dlopen'ed (CPython's _ctypes)
    // brings libffi in its own local scope, where RTLD_NEXT does not look: then the loaded
    // libffi.so.8 itself. Racing threads compute the same values; the release store publishes them.
    void *next = RTLD_NEXT;
    if (!dlsym(RTLD_NEXT, "ffi_prep_closure_loc")) {
        void *loaded = dlopen("libffi.so.8", RTLD_LAZY | RTLD_NOLOAD);
        if (loaded) next = loaded;
    }
    system_libffi_t found = {
        .prep_closure_loc = (prep_closure_loc_t)dlsym(next, "ffi_prep_closure_loc"),
        .prep_raw_closure_loc = (prep_raw_closure_loc_t)dlsym(next, "ffi_prep_raw_closure_loc"),
        .prep_java_raw_closure_loc = (prep_raw_closure_loc_t)dlsym(next, "ffi_prep_java_raw_closure_loc"),
        .closure_alloc = (closure_alloc_t)dlsym(next, "ffi_closure_alloc"),
        .closure_free = (closure_free_t)dlsym(next, "ffi_closure_free"),
    };
    if (!found.prep_closure_loc) fprintf(stderr, "stubpool-ffi: the system libffi's ffi_prep_closure_loc was not found\n");
    system_libffi = found;
    __atomic_store_n(&system_found, 1, __ATOMIC_RELEASE);
    return &system_libffi;
}

/// The system libffi's functions: one acquire load once found (inlined into every closure call;
/// a call to the whole lookup was ≈10 instructions of each preparation).
static inline const system_libffi_t *system_ffi(void) {
    if (__builtin_expect(__atomic_load_n(&system_found, __ATOMIC_ACQUIRE), 1)) return &system_libffi;
    return find_system_ffi();
}

/// The environment's settings, read before the first pool is published (racing creators read
/// the same values): STUBPOOL_FFI_QUARANTINE, releases between reclaims, and
/// STUBPOOL_FFI_FREE_BATCH, frees released together (1 releases each at once, for hunting calls
/// through freed closures).
static void read_settings(void) {
    const char *limit = getenv("STUBPOOL_FFI_QUARANTINE");
    if (limit && *limit) __atomic_store_n(&quarantine_limit, strtoul(limit, NULL, 10), __ATOMIC_RELAXED);
    const char *batch = getenv("STUBPOOL_FFI_FREE_BATCH");
    if (batch && *batch) {
        unsigned long value = strtoul(batch, NULL, 10);
        __atomic_store_n(&free_batch, value < 1 ? 1 : value > pending_capacity ? pending_capacity : value, __ATOMIC_RELAXED);
    }
}

/// The pool of size class `index`, created on first use (NULL if it cannot be).
static stubpool_pool_t *pool_of_class(size_t index) {
    stubpool_pool_t *pool = __atomic_load_n(&pools[index], __ATOMIC_ACQUIRE);
    if (__builtin_expect(pool != NULL, 1)) return pool;
    read_settings();
    const stubpool_ffi_core_t *core = stubpool_ffi_core();
    if (!core) return NULL;
    stubpool_config_t config;
    core->config_init(&config);
    config.kind = STUBPOOL_KIND_CONTEXT;
    config.payload_size = class_sizes[index];
#if defined(__x86_64__)
    config.landing_pads = 1;  // as libffi's own trampolines (endbr64): IBT-compatible
#endif
#if STUBPOOL_FFI_DATA_IN_CLOSURE
    // The stub's data slot inside the closure: its context word (the closure itself, which the
    // stub loads into r10) just before the entry word (its target: the entry libffi chose), so
    // the stub jumps straight to libffi's entry and a closure costs its 56 bytes, no data slot.
    if (index == 0) config.payload_data_offset = STUBPOOL_FFI_ENTRY_OFFSET - 8;
#endif
    stubpool_pool_t *fresh;
    if (core->pool_create(&config, &fresh) != STUBPOOL_OK) {
        fprintf(stderr, "stubpool-ffi: no pool: %s\n", core->last_error());
        return NULL;
    }
    stubpool_pool_t *expected = NULL;
    if (__atomic_compare_exchange_n(&pools[index], &expected, fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        // From the first pool on, the threads' lock joins fork() (it is never held while
        // another lock is taken, so its place among the handlers does not matter).
        static int registered;
        if (!__atomic_exchange_n(&registered, 1, __ATOMIC_ACQ_REL)) {
            pthread_atfork(lock_threads_for_fork, unlock_threads_after_fork, unlock_threads_after_fork);
        }
        return fresh;
    }
    core->pool_destroy(fresh);
    return expected;
}

/// The drop-in's stub for `closure`, from the closure's address alone; NULL if the closure is
/// somebody else's. Nothing at `closure` is read.
static void *stub_of(const void *closure) {
    if (!closure) return NULL;
    // Fetched at the first pool: a pool exists only once the core is loaded, so foreign closures
    // alone never load it.
    const stubpool_ffi_core_t *core = NULL;
    for (size_t index = 0; index < class_count; index++) {
        stubpool_pool_t *pool = __atomic_load_n(&pools[index], __ATOMIC_ACQUIRE);
        if (!pool) continue;
        if (!core) core = stubpool_ffi_core();
        void *stub;
        if (core->payload_owner(pool, closure, &stub) == STUBPOOL_OK) return stub;
    }
    return NULL;
}

/// The closure this thread allocated last and its stub, until it is prepared or freed: the
/// usual ffi_closure_alloc, then ffi_prep_closure_loc of the same closure, decides ownership
/// without asking the core again. Only this thread's allocation puts a closure here, and only
/// that closure's preparation or free takes it out, so it names one of this library's live
/// closures (a closure freed by another thread before its allocator prepared it is a use after
/// free in the client).
typedef struct {
    const void *closure;
    void *stub;
} recent_allocation_t;

static __thread recent_allocation_t recent __attribute__((tls_model("initial-exec")));

/// The stub of `closure` if it is one of this library's: this thread's last allocation, else the
/// core's answer from the address alone.
static void *owned_stub(const void *closure) {
    if (closure && closure == recent.closure) {
        void *stub = recent.stub;
        recent = (recent_allocation_t){NULL, NULL};
        return stub;
    }
    return stub_of(closure);
}

static void set_entry(void *closure, const void *entry) {
    memcpy((char *)closure + STUBPOOL_FFI_ENTRY_OFFSET, &entry, sizeof entry);
}

/// Whether pools of size class `index` keep their stubs' data slots in the closures.
static int data_in_closure(size_t index) {
#if STUBPOOL_FFI_DATA_IN_CLOSURE
    return index == 0;
#else
    (void)index;
    return 0;
#endif
}

/// After a preparation wrote libffi's trampoline bytes over it: the stub's context word is the
/// closure again (harmless in the closures of other classes, whose stubs read their data region:
/// the trampoline's code bytes are never run, the stub is the code).
static void restore_context(void *closure) {
#if STUBPOOL_FFI_DATA_IN_CLOSURE
    memcpy((char *)closure + STUBPOOL_FFI_ENTRY_OFFSET - 8, &closure, sizeof closure);
#else
    (void)closure;
#endif
}

static void add_counts(stubpool_ffi_stats_t *into, const stubpool_ffi_stats_t *from) {
    into->allocated += __atomic_load_n(&from->allocated, __ATOMIC_RELAXED);
    into->prepared += __atomic_load_n(&from->prepared, __ATOMIC_RELAXED);
    into->freed += __atomic_load_n(&from->freed, __ATOMIC_RELAXED);
    into->forwarded += __atomic_load_n(&from->forwarded, __ATOMIC_RELAXED);
}

/// Adds `amount` to one of the calling thread's counters (a plain load and a relaxed store: only
/// its thread writes it).
static void count_by(size_t *counter, size_t amount) { __atomic_store_n(counter, *counter + amount, __ATOMIC_RELAXED); }
static void count(size_t *counter) { count_by(counter, 1); }

/// Makes every pool's quarantined closures allocatable again.
static void reclaim_all(void) {
    for (size_t index = 0; index < class_count; index++) {
        stubpool_pool_t *pool = __atomic_load_n(&pools[index], __ATOMIC_ACQUIRE);
        if (pool) stubpool_ffi_core()->reclaim(pool);
    }
}

/// Counts `released` more releases by the calling thread; reclaims once they reach the limit.
static void count_releases(thread_state_t *mine, size_t released) {
    size_t total = mine->since_reclaim + released;
    if (total < __atomic_load_n(&quarantine_limit, __ATOMIC_RELAXED)) {
        mine->since_reclaim = total;
        return;
    }
    mine->since_reclaim = 0;
    reclaim_all();
}

/// Releases `count` closures freed by the calling thread (at most pending_capacity; the array is
/// reordered): each pool in turn releases those that are its own, in one call; the rest are
/// somebody else's and go to the system libffi.
static void release_closures(thread_state_t *mine, void **closures, size_t count) {
    stubpool_status_t statuses[pending_capacity];
    size_t released = 0, left = count;
    for (size_t index = 0; index < class_count && left > 0; index++) {
        stubpool_pool_t *pool = __atomic_load_n(&pools[index], __ATOMIC_ACQUIRE);
        if (!pool) continue;
        const stubpool_ffi_core_t *core = stubpool_ffi_core();
        if (core->payload_release_each(pool, left, (const void *const *)closures, statuses) != STUBPOOL_OK) {
            fprintf(stderr, "stubpool-ffi: ffi_closure_free: %s\n", core->last_error());
            return;
        }
        // From now on a call through a released closure's stub reports itself and aborts, until
        // the slot is reclaimed and reused. Closures that are not this pool's move to the front.
        size_t kept = 0;
        for (size_t i = 0; i < left; i++) {
            if (statuses[i] == STUBPOOL_OK) {
                released++;
            } else if (statuses[i] == STUBPOOL_E_FOREIGN_STUB) {
                closures[kept++] = closures[i];
            } else {
                fprintf(stderr, "stubpool-ffi: ffi_closure_free(%p): the closure was freed already\n", closures[i]);
            }
        }
        left = kept;
    }
    count_by(&mine->stats.freed, released);
    if (left) {
        count_by(&mine->stats.forwarded, left);
        const system_libffi_t *system = system_ffi();
        for (size_t i = 0; i < left; i++) {
            if (system->closure_free) system->closure_free(closures[i]);
        }
    }
    if (released) count_releases(mine, released);
}

/// Releases the calling thread's pending frees.
static void release_pending(thread_state_t *mine) {
    size_t count = mine->pending_count;
    mine->pending_count = 0;
    if (count) release_closures(mine, mine->pending, count);
}

static void retire_thread_state(void *block) {
    thread_state_t *state = block;
    release_pending(state);
    // The reserve's closures were never handed out: released (their stubs trap) and reclaimed
    // like freed ones. A thread's releases since its last reclaim join the exited threads' count,
    // so that programs whose threads each free a few closures reclaim too.
    size_t released = state->since_reclaim;
    if (state->reserve_next < state->reserve_count) {
        size_t count = state->reserve_count - state->reserve_next;
        stubpool_status_t statuses[reserve_capacity];
        stubpool_ffi_core()->payload_release_each(__atomic_load_n(&pools[0], __ATOMIC_ACQUIRE), count,
                                                  (const void *const *)state->reserve_closures + state->reserve_next, statuses);
        released += count;
        state->reserve_next = state->reserve_count = 0;
    }
    if (released && __atomic_add_fetch(&exited_since_reclaim, released, __ATOMIC_RELAXED) >= __atomic_load_n(&quarantine_limit, __ATOMIC_RELAXED)) {
        __atomic_store_n(&exited_since_reclaim, 0, __ATOMIC_RELAXED);
        reclaim_all();
    }
    pthread_mutex_lock(&threads_lock);
    add_counts(&retired, &state->stats);
    if (state->previous) state->previous->next = state->next; else threads_list = state->next;
    if (state->next) state->next->previous = state->previous;
    pthread_mutex_unlock(&threads_lock);
    // The key's destructors run on the exiting thread: a later destructor that makes or frees a
    // closure gets a new block (and this destructor again), never the freed one.
    if (thread_block == state) thread_block = NULL;
    free(state);
}

/// The calling thread's first use of its block: made and listed (a static fallback if it cannot
/// be allocated: counts from such threads may then race, and they keep no reserve).
__attribute__((noinline)) static thread_state_t *make_thread_state(void) {
    thread_state_t *mine;
    static thread_state_t fallback = {.shared = 1};
    uintptr_t key = __atomic_load_n(&threads_key_plus_one, __ATOMIC_ACQUIRE);
    if (!key) {
        pthread_key_t fresh;
        if (pthread_key_create(&fresh, retire_thread_state) != 0) return thread_block = &fallback;
        uintptr_t expected = 0;
        if (__atomic_compare_exchange_n(&threads_key_plus_one, &expected, (uintptr_t)fresh + 1, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            key = (uintptr_t)fresh + 1;
        } else {
            pthread_key_delete(fresh);
            key = expected;
        }
    }
    mine = calloc(1, sizeof *mine);
    if (!mine) return thread_block = &fallback;
    pthread_mutex_lock(&threads_lock);
    mine->next = threads_list;
    if (threads_list) threads_list->previous = mine;
    threads_list = mine;
    pthread_mutex_unlock(&threads_lock);
    pthread_setspecific((pthread_key_t)(key - 1), mine);
    return thread_block = mine;
}

/// The calling thread's block, inlined: one thread-local load after the first use.
static inline thread_state_t *thread_state(void) {
    thread_state_t *mine = thread_block;
    return __builtin_expect(mine != NULL, 1) ? mine : make_thread_state();
}


/// Fills the thread's empty reserve with one core call; 0 if it cannot (a shared block, or the
/// batch failed: the caller then allocates the one closure it needs on its own).
__attribute__((noinline)) static int refill_reserve(thread_state_t *mine, stubpool_pool_t *pool, const void *target) {
    if (mine->shared) return 0;
    if (stubpool_ffi_core()->allocate_closures(pool, reserve_capacity, target, mine->reserve_stubs, mine->reserve_closures) !=
        STUBPOOL_OK) {
        return 0;
    }
    mine->reserve_next = 0;
    mine->reserve_count = reserve_capacity;
    return 1;
}

/// A closure made ready for the caller: unprepared, remembered as this thread's last, counted.
static inline void *hand_out(thread_state_t *mine, void *closure, void *stub, void **code) {
    set_entry(closure, (const void *)unprepared_closure);
    recent = (recent_allocation_t){closure, stub};
    if (code) *code = stub;
    count(&mine->stats.allocated);
    return closure;
}

/// Everything but the fast path of stubpool_ffi_closure_alloc: a larger class, an empty
/// reserve, the first closure of the process or of the thread.
__attribute__((noinline)) static void *closure_alloc_slowly(size_t size, void **code) {
    size_t index = 0;
    while (index < class_count && class_sizes[index] < size) index++;
    if (index == class_count || !stubpool_ffi_core()) {
        // Larger than any payload, or no core to be found: the system libffi's closure (this
        // library never sees it again).
        const system_libffi_t *system = system_ffi();
        if (!system->closure_alloc) return NULL;
        count(&thread_state()->stats.forwarded);
        return system->closure_alloc(size, code);
    }
    stubpool_pool_t *pool = pool_of_class(index);
    if (!pool) return NULL;
    void *stub, *closure;
    // A closure whose data slot it holds is its own target (the entry word, unprepared below);
    // the others go through the dispatcher, which jumps through the entry word.
    const void *target = data_in_closure(index) ? (const void *)unprepared_closure : (const void *)stubpool_ffi_dispatch;
    thread_state_t *mine = thread_state();
    if (index == 0 && (mine->reserve_next < mine->reserve_count || refill_reserve(mine, pool, target))) {
        stub = mine->reserve_stubs[mine->reserve_next];
        closure = mine->reserve_closures[mine->reserve_next++];
    } else if (stubpool_ffi_core()->allocate_closure(pool, target, &stub, &closure) != STUBPOOL_OK) {
        return NULL;
    }
    return hand_out(mine, closure, stub, code);
}

void *stubpool_ffi_closure_alloc(size_t size, void **code) {
    // The usual case, with no call and no register saved: a closure of the first class from the
    // thread's reserve (which exists only once the core and the class's pool do).
    thread_state_t *mine = thread_block;
    if (size <= class_sizes[0] && mine && mine->reserve_next < mine->reserve_count) {
        size_t next = mine->reserve_next++;
        return hand_out(mine, mine->reserve_closures[next], mine->reserve_stubs[next], code);
    }
    return closure_alloc_slowly(size, code);
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
    if (!dladdr(entry, &entry_info) || !dladdr((void *)system_ffi()->prep_closure_loc, &libffi_info) ||
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

/// Set while a raw form runs the system libffi's (see prep_raw).
static __thread int inside_raw_prep __attribute__((tls_model("initial-exec")));


/// Counts a preparation of `counter`'s kind unless a raw form will count it.
static void count_prep(size_t *counter) {
    if (!inside_raw_prep) count(counter);
}

/// After the system libffi prepared one of this library's closures (its trampoline written into
/// the closure's `tramp`, plain writable memory here): the entry word it wrote must lie inside the
/// system libffi, since the dispatcher will jump there. Otherwise the closure goes back to
/// unprepared and the preparation fails.
static ffi_status check_entry(void *closure) {
    void *entry;
    memcpy(&entry, (const char *)closure + STUBPOOL_FFI_ENTRY_OFFSET, sizeof entry);
    if (!is_libffi_entry(entry)) {
        fprintf(stderr, "stubpool-ffi: the system libffi's trampoline layout is not the one expected "
                        "(entry %p outside libffi); is it built with static trampolines?\n", entry);
        set_entry(closure, (const void *)unprepared_closure);
        return FFI_BAD_ABI;
    }
    count_prep(&thread_state()->stats.prepared);
    return FFI_OK;
}

/// What a preparation writes besides the learned trampoline bytes: the stub's context word back
/// (the bytes covered it), and the closure's fields.
static inline void set_fields(ffi_closure *closure, ffi_cif *cif, closure_fun_t fun, void *user_data) {
    restore_context(closure);
    closure->cif = cif;
    closure->fun = fun;
    closure->user_data = user_data;
}

/// Everything but the fast path of stubpool_ffi_prep_closure_loc: somebody else's closure, the
/// first closure of its kind of cif, a closure this thread did not just allocate.
__attribute__((noinline)) static ffi_status prep_closure_slowly(ffi_closure *closure, ffi_cif *cif, closure_fun_t fun,
                                                                void *user_data, void *codeloc) {
    const system_libffi_t *system = system_ffi();
    if (!system->prep_closure_loc) return FFI_BAD_ABI;
    void *stub = owned_stub(closure);
    if (!stub || stub != codeloc) {
        // Somebody else's closure, or the caller names other code for it: libffi's business.
        count_prep(&thread_state()->stats.forwarded);
        return system->prep_closure_loc(closure, cif, fun, user_data, codeloc);
    }
    // The same bytes libffi would write, once it wrote them for this kind of cif.
    if (stubpool_ffi_learned_trampoline(cif->abi, cif->flags, (unsigned char *)closure->tramp)) {
        set_fields(closure, cif, fun, user_data);
        count_prep(&thread_state()->stats.prepared);
        return FFI_OK;
    }
    // The first closure of its kind: libffi prepares it; its trampoline is learned.
    ffi_status status = system->prep_closure_loc(closure, cif, fun, user_data, codeloc);
    if (status != FFI_OK) return status;
    status = check_entry(closure);
    if (status == FFI_OK) stubpool_ffi_learn_trampoline(cif->abi, cif->flags, (const unsigned char *)closure->tramp);
    restore_context(closure);
    return status;
}

ffi_status stubpool_ffi_prep_closure_loc(ffi_closure *closure, ffi_cif *cif, closure_fun_t fun, void *user_data,
                                         void *codeloc) {
    // The usual case, with no call and no register saved: the closure this thread allocated last,
    // at the code address it was given, for a kind of cif the last lookup found (a raw form's
    // nested call never gets here: the raw form took the closure out of `recent` first). The
    // whole preparation measured 89 instructions through one function with the slow paths in it.
    const unsigned char *learned;
    thread_state_t *mine = thread_block;
    if (closure && closure == recent.closure && codeloc == recent.stub && mine &&
        (learned = stubpool_ffi_learned_hint(cif->abi, cif->flags))) {
        recent = (recent_allocation_t){NULL, NULL};
        memcpy(closure->tramp, learned, FFI_TRAMPOLINE_SIZE);
        set_fields(closure, cif, fun, user_data);
        count(&mine->stats.prepared);
        return FFI_OK;
    }
    return prep_closure_slowly(closure, cif, fun, user_data, codeloc);
}

ffi_status stubpool_ffi_prep_closure(ffi_closure *closure, ffi_cif *cif, closure_fun_t fun, void *user_data) {
    // The deprecated form assumes code == closure; for this library's closures the code is the stub.
    void *stub = stub_of(closure);
    if (stub) return stubpool_ffi_prep_closure_loc(closure, cif, fun, user_data, stub);
    // As libffi's own: the closure is its own code (and its ffi_prep_closure calls
    // ffi_prep_closure_loc through the PLT, which would count it twice).
    return stubpool_ffi_prep_closure_loc(closure, cif, fun, user_data, closure);
}

/// The raw and Java raw forms: the same protocol (libffi writes the same trampoline), different
/// system functions.
static ffi_status prep_raw(prep_raw_closure_loc_t system_prep, ffi_raw_closure *closure, ffi_cif *cif,
                           raw_closure_fun_t fun, void *user_data, void *codeloc) {
    if (!system_prep) return FFI_BAD_ABI;
    void *stub = owned_stub(closure);
    // libffi's raw forms call ffi_prep_closure_loc, through its PLT (that is, this library's)
    // in some builds: counted here, not there.
    inside_raw_prep++;
    ffi_status status = system_prep(closure, cif, fun, user_data, codeloc);
    inside_raw_prep--;
    if (!stub || stub != codeloc) {
        count(&thread_state()->stats.forwarded);
        return status;
    }
    restore_context(closure);
    if (status != FFI_OK) return status;
#if !FFI_NATIVE_RAW_API
    // libffi's argument translator finds the raw closure through the code address, which in its
    // own closures maps the same bytes as the closure; here the code is the stub: name the
    // closure itself.
    closure->this_closure = closure;
#endif
    return check_entry(closure);
}

ffi_status stubpool_ffi_prep_raw_closure_loc(ffi_raw_closure *closure, ffi_cif *cif, raw_closure_fun_t fun,
                                             void *user_data, void *codeloc) {
    return prep_raw(system_ffi()->prep_raw_closure_loc, closure, cif, fun, user_data, codeloc);
}

ffi_status stubpool_ffi_prep_raw_closure(ffi_raw_closure *closure, ffi_cif *cif, raw_closure_fun_t fun, void *user_data) {
    void *stub = stub_of(closure);
    return prep_raw(system_ffi()->prep_raw_closure_loc, closure, cif, fun, user_data, stub ? stub : (void *)closure);
}

ffi_status stubpool_ffi_prep_java_raw_closure_loc(ffi_java_raw_closure *closure, ffi_cif *cif,
                                                  void (*fun)(ffi_cif *, void *, ffi_java_raw *, void *), void *user_data,
                                                  void *codeloc) {
    return prep_raw(system_ffi()->prep_java_raw_closure_loc, (ffi_raw_closure *)closure, cif, (raw_closure_fun_t)fun,
                    user_data, codeloc);
}

ffi_status stubpool_ffi_prep_java_raw_closure(ffi_java_raw_closure *closure, ffi_cif *cif,
                                              void (*fun)(ffi_cif *, void *, ffi_java_raw *, void *), void *user_data) {
    void *stub = stub_of(closure);
    return prep_raw(system_ffi()->prep_java_raw_closure_loc, (ffi_raw_closure *)closure, cif, (raw_closure_fun_t)fun,
                    user_data, stub ? stub : (void *)closure);
}

void stubpool_ffi_closure_free(void *closure) {
    if (!closure) return;
    if (closure == recent.closure) recent = (recent_allocation_t){NULL, NULL};
    thread_state_t *mine = thread_state();
    if (!__atomic_load_n(&pools[0], __ATOMIC_ACQUIRE) || mine->shared) {
        // No pool of the common class yet (so, most likely, a foreign closure), or no block of
        // the thread's own: released, or passed on, at once.
        release_closures(mine, &closure, 1);
        return;
    }
    // Released with the thread's next free_batch - 1 frees, in one core call (≈60 instructions
    // less per free than a call each): until then the closure is untouched (a call through it
    // still runs it, as libffi's own freed closures do); from then on its stub traps until
    // reclaimed.
    mine->pending[mine->pending_count++] = closure;
    if (mine->pending_count >= __atomic_load_n(&free_batch, __ATOMIC_RELAXED)) release_pending(mine);
}

void stubpool_ffi_statistics(stubpool_ffi_stats_t *out) {
    if (!out) return;
    // The calling thread's pending frees first, so that its own frees are counted (and their
    // closures released) when it asks; other threads' count when they release theirs.
    thread_state_t *mine = thread_block;
    if (mine && !mine->shared) release_pending(mine);
    pthread_mutex_lock(&threads_lock);
    *out = retired;
    for (thread_state_t *state = threads_list; state; state = state->next) add_counts(out, &state->stats);
    pthread_mutex_unlock(&threads_lock);
}
