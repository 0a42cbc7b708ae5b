/*
 * stubpool.h — the C API of StubPool: small executable stubs packed many per page, lazy stubs
 * materialized in batches, and a W^X code arena for generated code.
 *
 * Link with `-lStubPoolC` (shared, `libStubPoolC.so`) or the static archive
 * `libStubPoolCStatic.a` plus the Swift runtime; see README "Embedding from C" and the generated
 * `stubpool.pc`.
 *
 * Conventions, for every function below:
 * - A stub is named by its executable address (`void *`), the address callers call. It stays
 *   the same for the stub's whole life; after release + reclaim the same address may name a new
 *   stub.
 * - Functions that can fail return a `stubpool_status_t`: `STUBPOOL_OK` (0) or an error code.
 *   On error nothing changed, output parameters are untouched, and `stubpool_last_error()`
 *   returns a message for the calling thread. Bad input (NULL where a handle is needed, a
 *   foreign or released stub, a count out of range, a target in the first page) is an error,
 *   never an abort. A dangling pool/arena/lazy handle (used after destroy) cannot be detected.
 * - Every function is thread-safe unless it says otherwise. Handles may be shared by threads.
 * - Ownership: `*_create` returns a handle the caller owns and gives back with `*_destroy`.
 *   Nothing else allocates memory the caller must free.
 */
#ifndef STUBPOOL_H
#define STUBPOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The API version this header describes; `stubpool_api_version()` returns the library's.
 * 2: stub payloads (`payload_size`, payloads, allocation with a payload).
 * 3: names, profiling, descriptions; payload owners and release by payload, closures.
 * 4: one naming scheme: every function that acts on a pool or its stubs is stubpool_pool_*
 *    (stubpool_pool_allocate, stubpool_pool_release, ...), as the lazy and arena functions are
 *    stubpool_lazy_* and stubpool_arena_*; STUBPOOL_PROFILE_UNWIND; STUBPOOL_ARENA_SPREAD.
 * 5: the statistics structs begin with struct_size, set by the caller, so that they can grow;
 *    payload_data_offset (data slots inside the payloads).
 */
#define STUBPOOL_API_VERSION 5

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                      */

/** Result of every fallible call. */
typedef enum stubpool_status {
    STUBPOOL_OK = 0,
    /** A required pointer was NULL, or a value was out of its documented range. */
    STUBPOOL_E_INVALID_ARGUMENT = 1,
    /** The pool configuration cannot be built (bad shard count, code size, payload size...). */
    STUBPOOL_E_INVALID_CONFIGURATION = 2,
    /** The address is not the entry of a stub of this pool. */
    STUBPOOL_E_FOREIGN_STUB = 3,
    /** The stub was already released. */
    STUBPOOL_E_RELEASED = 4,
    /** A count outside 1...stubpool_max_bulk_count(). */
    STUBPOOL_E_INVALID_COUNT = 5,
    /** The target cannot be code (first page) or is the stub's own released-stub trap. */
    STUBPOOL_E_INVALID_TARGET = 6,
    /** A system call failed; the message names it and its errno. */
    STUBPOOL_E_SYSTEM = 7,
    /** No live arena blob starts at the address. */
    STUBPOOL_E_NOT_LIVE = 8,
    /** An arena write would leave its blob, or a blob is empty or too large. */
    STUBPOOL_E_OUT_OF_BOUNDS = 9,
    /** A lazy batch failed (the generator returned non-zero). */
    STUBPOOL_E_GENERATOR = 10,
    /** Nothing found (lookups). */
    STUBPOOL_E_NOT_FOUND = 11,
    /** Not available on this host or in this process (for example privateCopy under MDWE). */
    STUBPOOL_E_UNSUPPORTED = 12,
} stubpool_status_t;

/**
 * The message of the calling thread's most recent failed call: what failed and why. Never
 * NULL ("" before any failure). Valid until the thread's next failing StubPool call.
 */
const char *stubpool_last_error(void);
/** The status of the calling thread's most recent failed call (STUBPOOL_OK before any). */
stubpool_status_t stubpool_last_error_code(void);
/** A constant name for `status` ("STUBPOOL_E_RELEASED"...). Never NULL. */
const char *stubpool_status_name(stubpool_status_t status);
/** The library's API version (compare with STUBPOOL_API_VERSION). */
int stubpool_api_version(void);

/* ------------------------------------------------------------------------------------------ */
/* Pools                                                                                       */

/** An opaque pool of stubs. */
typedef struct stubpool_pool stubpool_pool_t;

/** What a stub does when called (see README "Stub kinds"). */
typedef enum stubpool_kind {
    /** Jumps to its target; no register is written. */
    STUBPOOL_KIND_FORWARD = 0,
    /** Loads its context into r10 (x86-64) / x17 (AArch64), then jumps (libffi's protocol). */
    STUBPOOL_KIND_CONTEXT = 1,
    /** Shifts integer arguments up by one, passes the context as the first, then jumps. */
    STUBPOOL_KIND_BIND_FIRST_ARGUMENT = 2,
} stubpool_kind_t;

/** Where a pool places stubs in code memory. */
typedef enum stubpool_placement {
    STUBPOOL_PLACEMENT_PACKED = 0,
    STUBPOOL_PLACEMENT_PAGE_START = 1,
    STUBPOOL_PLACEMENT_STAGGERED = 2,
    /** Pseudo-random free slots, reproducible from `random_seed`. */
    STUBPOOL_PLACEMENT_RANDOM = 3,
} stubpool_placement_t;

/** How code pages become executable. */
typedef enum stubpool_strategy {
    /** One sealed memfd template per stub variant, mapped read+execute by every chunk. */
    STUBPOOL_STRATEGY_SHARED_TEMPLATE = 0,
    /** Private pages written then mprotect'ed read+execute (fails under PR_SET_MDWE). */
    STUBPOOL_STRATEGY_PRIVATE_COPY = 1,
} stubpool_strategy_t;

/** Pool configuration. Fill with stubpool_config_init, then change fields. */
typedef struct stubpool_config {
    /** sizeof(stubpool_config_t), set by stubpool_config_init (lets the struct grow). */
    uint32_t struct_size;
    stubpool_kind_t kind;
    stubpool_placement_t placement;
    stubpool_strategy_t strategy;
    /** Seed of STUBPOOL_PLACEMENT_RANDOM. */
    uint64_t random_seed;
    /** Begin each stub with endbr64 / bti c. */
    int landing_pads;
    /**
     * Whether the pool hands out lazy stubs (stubpool_lazy_attach), of any kind: a pending stub's
     * first call reaches its target exactly as a call through the materialized stub would (a
     * BIND_FIRST_ARGUMENT stub's target gets the resolved context first), having only used the
     * scratch register r11 (x86-64) / x17 (AArch64). Each slot also holds a lazy entry.
     */
    int lazy_batches;
    /** Allocation shards, 1...64; 0 = one per CPU (packed) or 1 (other placements). */
    uint32_t shards;
    /** Bytes of code per chunk, a multiple of 64 KiB up to 512 KiB; 0 = default. */
    uint32_t code_size;
    /**
     * Bytes of writable memory beside each stub, its payload (0 = none, or a multiple of 8 up to
     * 4096): state that lives as long as the stub, e.g. a closure's record. 16-byte aligned when
     * a multiple of 16, 8-byte aligned otherwise. Never executable; resident only once written;
     * not cleared when a slot is reused. (API version 2.)
     */
    uint32_t payload_size;
    /**
     * The pool's name in profiles, debuggers and inspection (its stubs' default names are
     * `<name>#<id>`), copied; NULL = `stubpool:<kind>`. (API version 3: a struct_size from
     * version 2 is accepted and means NULL.)
     */
    const char *name;
    /**
     * Where each stub's data slot (context word, then target word) lives: -1 (the default) in the
     * chunk's data region; an offset to keep it at `offset..offset+16` inside the stub's own
     * payload (a multiple of 8; CONTEXT and BIND_FIRST_ARGUMENT pools with a payload and no lazy
     * batches), so that a stub costs its payload alone. A slot never handed out then holds
     * target 0 (a call through it faults at address 0); a released stub reports itself as usual.
     * (API version 5: a struct_size from before means -1.)
     */
    int32_t payload_data_offset;
} stubpool_config_t;

/** Fills `config` with the defaults (forward kind, packed, shared template). */
void stubpool_config_init(stubpool_config_t *config);

/**
 * Creates a pool. `config` may be NULL for the defaults. On success `*out_pool` owns the pool.
 * Errors: INVALID_ARGUMENT (out_pool NULL, struct_size too small), INVALID_CONFIGURATION, SYSTEM.
 */
stubpool_status_t stubpool_pool_create(const stubpool_config_t *config, stubpool_pool_t **out_pool);

/**
 * Destroys a pool and unmaps all its stubs (and its lazy stubs). No thread may be inside or about
 * to call any of its stubs. NULL is ignored.
 */
void stubpool_pool_destroy(stubpool_pool_t *pool);

/** The largest count stubpool_pool_allocate_n and stubpool_lazy_request_n accept. */
size_t stubpool_max_bulk_count(void);

/**
 * Allocates one stub that jumps to `target` with `context`; `*out_stub` receives its entry.
 * Errors: INVALID_ARGUMENT, INVALID_TARGET, SYSTEM.
 */
stubpool_status_t stubpool_pool_allocate(stubpool_pool_t *pool, const void *target, uintptr_t context,
                                    void **out_stub);

/**
 * As stubpool_pool_allocate, for a pool with payloads: `*out_payload` also receives the new stub's
 * payload (see stubpool_pool_payload). Errors: as stubpool_pool_allocate; INVALID_CONFIGURATION (the pool
 * has no payloads; nothing is allocated).
 */
stubpool_status_t stubpool_pool_allocate_with_payload(stubpool_pool_t *pool, const void *target, uintptr_t context,
                                                 void **out_stub, void **out_payload);

/**
 * As stubpool_pool_allocate_with_payload, with the new stub's context set to its own payload's address:
 * a closure whose record is the payload (how the libffi drop-in makes its closures). Errors: as
 * stubpool_pool_allocate_with_payload.
 */
stubpool_status_t stubpool_pool_allocate_closure(stubpool_pool_t *pool, const void *target, void **out_stub,
                                            void **out_payload);

/**
 * `count` closures at once, each as stubpool_pool_allocate_closure: `out_stubs[i]` and
 * `out_payloads[i]` receive closure i's stub and payload, lowest addresses first. All of them or
 * none; one lock for the batch (the libffi drop-in keeps a few ready per thread this way).
 * Errors: as stubpool_pool_allocate_closure; INVALID_COUNT (outside 1...stubpool_max_bulk_count()).
 */
stubpool_status_t stubpool_pool_allocate_closures(stubpool_pool_t *pool, size_t count, const void *target,
                                                  void **out_stubs, void **out_payloads);

/**
 * The payload of `stub`: the pool's `payload_size` writable bytes that belong to the stub
 * (aligned as `payload_size` says), found in O(1). It stays valid while the stub is live; after release and
 * stubpool_pool_reclaim it belongs to the slot's next stub. Thread-safe; the payload's contents are the
 * caller's to synchronize. Errors: INVALID_ARGUMENT, INVALID_CONFIGURATION (no payloads),
 * FOREIGN_STUB.
 */
stubpool_status_t stubpool_pool_payload(stubpool_pool_t *pool, void *stub, void **out_payload);

/**
 * The stub whose payload begins exactly at `payload` (live, or released and not yet reclaimed),
 * found in O(1) from the address alone: nothing at `payload` is read, so any pointer may be
 * asked about, mapped or not (how the libffi drop-in tells its closures from other libraries').
 * Errors: INVALID_ARGUMENT, NOT_FOUND (any other address, another pool's payloads included).
 */
stubpool_status_t stubpool_pool_payload_owner(stubpool_pool_t *pool, const void *payload, void **out_stub);

/**
 * stubpool_pool_payload_owner and stubpool_pool_release in one lookup: releases the stub whose payload
 * begins exactly at `payload`. Nothing at `payload` is read. Errors: INVALID_ARGUMENT,
 * FOREIGN_STUB (not the payload of one of this pool's stubs; nothing changes), RELEASED.
 */
stubpool_status_t stubpool_pool_payload_release(stubpool_pool_t *pool, const void *payload);

/**
 * stubpool_pool_payload_release for each of `payloads[0..count)`, one by one: `out_statuses[i]`
 * receives OK (released), FOREIGN_STUB (not the payload of one of this pool's stubs; nothing
 * changes) or RELEASED (already released; nothing changes), and one payload's status does not stop
 * the others. Nothing at a payload is read. The slots join the quarantine under one lock (the
 * libffi drop-in frees closures in batches this way). Returns OK once every payload has its
 * status. Errors: INVALID_ARGUMENT, INVALID_COUNT (outside 1...stubpool_max_bulk_count(); then no
 * status is written and nothing changes).
 */
stubpool_status_t stubpool_pool_payload_release_each(stubpool_pool_t *pool, size_t count, const void *const *payloads,
                                                     stubpool_status_t *out_statuses);

/**
 * Allocates `count` stubs, all jumping to `target` with `context`, into `out_stubs[0..count)`:
 * all of them or none. Errors: INVALID_ARGUMENT, INVALID_COUNT, INVALID_TARGET, SYSTEM.
 */
stubpool_status_t stubpool_pool_allocate_n(stubpool_pool_t *pool, size_t count, const void *target,
                                      uintptr_t context, void **out_stubs);

/**
 * Points `stub` at `target` with `context`. The context is written first, then the target with
 * a release store: a concurrent call reaches the old target or the new one, never a torn
 * address, and a call that reaches the new target sees the new context; one that reaches the old
 * target may already see the new context. Errors: INVALID_ARGUMENT, FOREIGN_STUB, RELEASED,
 * INVALID_TARGET.
 */
stubpool_status_t stubpool_pool_retarget(stubpool_pool_t *pool, void *stub, const void *target,
                                    uintptr_t context);

/** Points `stub` at `target`, keeping its context. Errors as stubpool_pool_retarget. */
stubpool_status_t stubpool_pool_set_target(stubpool_pool_t *pool, void *stub, const void *target);

/** Replaces `stub`'s context, keeping its target. Errors: INVALID_ARGUMENT, FOREIGN_STUB, RELEASED. */
stubpool_status_t stubpool_pool_set_context(stubpool_pool_t *pool, void *stub, uintptr_t context);

/**
 * Reads `stub`'s current target and context (either output may be NULL).
 * Errors: INVALID_ARGUMENT, FOREIGN_STUB.
 */
stubpool_status_t stubpool_pool_get_target(stubpool_pool_t *pool, void *stub, const void **out_target,
                                      uintptr_t *out_context);

/**
 * Releases `stub`: from now on a call through it prints "call through released stub" and aborts.
 * The slot stays quarantined until stubpool_pool_reclaim. Errors: INVALID_ARGUMENT, FOREIGN_STUB,
 * RELEASED.
 */
stubpool_status_t stubpool_pool_release(stubpool_pool_t *pool, void *stub);

/**
 * Makes every quarantined slot allocatable again and returns how many. Call it only when no thread
 * can still be executing inside a released stub and nobody will call a released address again
 * (typically after every thread passed a safepoint since the releases). NULL returns 0.
 */
size_t stubpool_pool_reclaim(stubpool_pool_t *pool);

/**
 * The live stub whose code contains `address` (its entry or any byte of its slot), in O(1):
 * `*out_stub` receives its entry, `out_id` (may be NULL) its id. Errors: INVALID_ARGUMENT,
 * NOT_FOUND.
 */
stubpool_status_t stubpool_pool_lookup(stubpool_pool_t *pool, const void *address, void **out_stub,
                                  uint64_t *out_id);

/** Pool counters and memory use. */
typedef struct stubpool_pool_stats {
    /** sizeof(stubpool_pool_stats_t), set by the caller: the library fills what fits (lets the struct grow). */
    uint32_t struct_size;
    size_t live_stubs;
    size_t quarantined_stubs;
    size_t chunks;
    size_t code_bytes_mapped;
    size_t data_bytes_mapped;
    size_t resident_code_bytes;
    size_t resident_data_bytes;
    size_t metadata_bytes;
    size_t mappings;
} stubpool_pool_stats_t;

/**
 * Fills `*out_stats`, whose struct_size the caller set to sizeof(stubpool_pool_stats_t). Errors:
 * INVALID_ARGUMENT (a NULL argument, or a struct_size below that of API version 4).
 */
stubpool_status_t stubpool_pool_statistics(stubpool_pool_t *pool, stubpool_pool_stats_t *out_stats);

/* ------------------------------------------------------------------------------------------ */
/* Lazy stubs                                                                                  */

/** The lazy stubs of one pool (owned by the pool: freed by stubpool_pool_destroy). */
typedef struct stubpool_lazy stubpool_lazy_t;

/** One pending lazy stub handed to a generator: its entry and the runtime's spec word. */
typedef struct stubpool_lazy_request {
    void *stub;
    uintptr_t spec;
} stubpool_lazy_request_t;

/** What a generator returns for one request: where the stub jumps, and its context. */
typedef struct stubpool_lazy_resolution {
    const void *target;
    uintptr_t context;
} stubpool_lazy_resolution_t;

/**
 * Receives every pending request of a batch (`count` of them, at most the batch limit) and writes
 * one resolution per request into `results[0..count)`. Returns 0 on success; any other value fails
 * the batch (its stubs stay pending and a later call retries). It runs on the thread of the first
 * call (or of stubpool_lazy_materialize_all) with no pool lock held; it may request more lazy stubs
 * (they join the next batch) but must not call a pending stub of the running batch.
 */
typedef int (*stubpool_lazy_generator_t)(void *user, const stubpool_lazy_request_t *requests,
                                         size_t count, stubpool_lazy_resolution_t *results);

/**
 * Where a call goes when its batch failed: `status` is the generator's non-zero result (or -1 if
 * the batch could not run). Must return a valid resolution (or not return). NULL as the handler
 * prints the failure and aborts.
 */
typedef stubpool_lazy_resolution_t (*stubpool_lazy_failure_t)(void *user, void *stub, int status);

/**
 * Attaches lazy batches to a pool created with `lazy_batches` set (once per pool). `batch_limit`
 * 0 means 65536. `user` is passed to both callbacks and must outlive the pool.
 * Errors: INVALID_ARGUMENT (pool, generator or out NULL), INVALID_CONFIGURATION.
 */
stubpool_status_t stubpool_lazy_attach(stubpool_pool_t *pool, size_t batch_limit,
                                       stubpool_lazy_generator_t generator,
                                       stubpool_lazy_failure_t on_failure, void *user,
                                       stubpool_lazy_t **out_lazy);

/**
 * A stub that materializes on its first call: `*out_stub` receives its entry at once.
 * Errors: INVALID_ARGUMENT, SYSTEM.
 */
stubpool_status_t stubpool_lazy_request(stubpool_lazy_t *lazy, uintptr_t spec, void **out_stub);

/** `count` lazy stubs, one per spec, all or none. Errors: INVALID_ARGUMENT, INVALID_COUNT, SYSTEM. */
stubpool_status_t stubpool_lazy_request_n(stubpool_lazy_t *lazy, size_t count, const uintptr_t *specs,
                                          void **out_stubs);

/**
 * Runs the generator on every pending request now; `out_count` (may be NULL) receives how many
 * stubs were materialized. Errors: INVALID_ARGUMENT, GENERATOR (the failed batch stays pending).
 */
stubpool_status_t stubpool_lazy_materialize_all(stubpool_lazy_t *lazy, size_t *out_count);

/** Lazy counters. */
typedef struct stubpool_lazy_stats {
    /** sizeof(stubpool_lazy_stats_t), set by the caller: the library fills what fits (lets the struct grow). */
    uint32_t struct_size;
    size_t batches;
    size_t failed_batches;
    size_t materialized;
    size_t largest_batch;
    size_t pending;
    uint64_t generator_nanoseconds;
} stubpool_lazy_stats_t;

/**
 * Fills `*out_stats`, whose struct_size the caller set to sizeof(stubpool_lazy_stats_t). Errors:
 * INVALID_ARGUMENT (a NULL argument, or a struct_size below that of API version 4).
 */
stubpool_status_t stubpool_lazy_statistics(stubpool_lazy_t *lazy, stubpool_lazy_stats_t *out_stats);

/* ------------------------------------------------------------------------------------------ */
/* Code arena                                                                                  */

/** An opaque W^X arena for generated code. */
typedef struct stubpool_arena stubpool_arena_t;

/** Where an arena puts blobs of one size class (CodeArena.BlobPlacement). */
typedef enum stubpool_arena_placement {
    /** Lowest free address first. */
    STUBPOOL_ARENA_PACKED = 0,
    /**
     * One blob per page before any page gets a second, each page's first blob one cache line
     * further in (not the pool's STUBPOOL_PLACEMENT_STAGGERED, which never shares a page).
     */
    STUBPOOL_ARENA_SPREAD = 1,
} stubpool_arena_placement_t;

/** Creates an arena. Errors: INVALID_ARGUMENT. */
stubpool_status_t stubpool_arena_create(stubpool_arena_placement_t placement, stubpool_arena_t **out_arena);

/** Destroys an arena and unmaps all its code. No thread may run any of it. NULL is ignored. */
void stubpool_arena_destroy(stubpool_arena_t *arena);

/** One blob of code to commit: `size` bytes at `bytes`. */
typedef struct stubpool_code {
    const void *bytes;
    size_t size;
} stubpool_code_t;

/** The largest blob stubpool_arena_commit accepts. */
size_t stubpool_arena_max_blob_size(void);

/**
 * Copies `count` blobs into the arena and makes them executable with one cache-maintenance pass;
 * `out_entries[i]` receives blob i's executable address. All or none.
 * Errors: INVALID_ARGUMENT, INVALID_COUNT (outside 1...stubpool_max_bulk_count()), OUT_OF_BOUNDS
 * (empty or too large), SYSTEM.
 */
stubpool_status_t stubpool_arena_commit(stubpool_arena_t *arena, const stubpool_code_t *blobs, size_t count,
                                        void **out_entries);

/** One patch: `size` bytes at `bytes` written at `offset` into the live blob at `blob`. */
typedef struct stubpool_patch {
    void *blob;
    size_t offset;
    const void *bytes;
    size_t size;
} stubpool_patch_t;

/**
 * Applies every patch, then one cache-maintenance pass for all. All or none: a patch naming a
 * blob that is not live, or leaving its blob, fails the call. Only patch code no thread is
 * running, or single aligned words a racing thread may see old or new.
 * Errors: INVALID_ARGUMENT, INVALID_COUNT (outside 1...stubpool_max_bulk_count()), NOT_LIVE,
 * OUT_OF_BOUNDS.
 */
stubpool_status_t stubpool_arena_patch(stubpool_arena_t *arena, const stubpool_patch_t *patches, size_t count);

/**
 * Refills the blob with trap bytes and makes its space reusable; only when no thread runs it.
 * Errors: INVALID_ARGUMENT, NOT_LIVE.
 */
stubpool_status_t stubpool_arena_free(stubpool_arena_t *arena, void *blob);

/**
 * The live blob starting at `address`: `out_size` (may be NULL) receives its size.
 * Errors: INVALID_ARGUMENT, NOT_FOUND.
 */
stubpool_status_t stubpool_arena_lookup(stubpool_arena_t *arena, const void *address, size_t *out_size);

/** Arena counters. */
typedef struct stubpool_arena_stats {
    /** sizeof(stubpool_arena_stats_t), set by the caller: the library fills what fits (lets the struct grow). */
    uint32_t struct_size;
    /** Live blobs, and the bytes they requested. */
    size_t live_blobs;
    size_t live_bytes;
    /** Bytes carved for code (size-class regions and page-granular blobs). */
    size_t mapped_bytes;
    /** Size-class regions (64 KiB) and page-granular blobs. */
    size_t regions;
    /** Mappings: two per 64 MiB piece of the arena's one memory file (writable and executable view). */
    size_t mappings;
    size_t commits;
    size_t cache_maintenance_passes;
} stubpool_arena_stats_t;

/**
 * Fills `*out_stats`, whose struct_size the caller set to sizeof(stubpool_arena_stats_t). Errors:
 * INVALID_ARGUMENT (a NULL argument, or a struct_size below that of API version 4).
 */
stubpool_status_t stubpool_arena_statistics(stubpool_arena_t *arena, stubpool_arena_stats_t *out_stats);

/* ---- Profiling, debugging and inspection (API version 3) ------------------------------------ */

/** Outputs of stubpool_profiling_start, or-ed together. */
typedef enum stubpool_profiling_output {
    /** `/tmp/perf-<pid>.map` (perf ignores it for memfd-backed code; other profilers read it). */
    STUBPOOL_PROFILE_PERF_MAP = 1,
    /** `<directory>/jit-<pid>.dump` for `perf record -k mono` + `perf inject --jit`. */
    STUBPOOL_PROFILE_JITDUMP = 2,
    /** gdb's JIT interface: `info symbol`, `x/i` and `bt` name arena blobs and stubs. */
    STUBPOOL_PROFILE_GDB = 4,
    /**
     * Unwind information for every pool chunk mapped from now on, registered with the process's
     * unwinder (libgcc or LLVM libunwind) until the chunk is unmapped: backtrace() and
     * _Unwind_Backtrace continue from inside a stub to its caller. No file. With libgcc before
     * GCC 13 every unwind in the process then takes libgcc's global mutex (which a fork() while
     * another thread unwinds leaves locked in the child): hence opt-in.
     */
    STUBPOOL_PROFILE_UNWIND = 8,
} stubpool_profiling_output_t;

/**
 * Starts recording every stub handed out and every blob committed from now on, named (as
 * `STUBPOOL_PERF=jitdump,gdb` in the environment does when the first pool or arena is created).
 * `directory` (NULL: $JITDUMPDIR, else $HOME/.debug/jit, else /tmp) receives the jitdump and is
 * created if missing. Records are buffered; see stubpool_profiling_flush.
 * Errors: INVALID_ARGUMENT (no or unknown output bits), INVALID_CONFIGURATION (already started),
 * SYSTEM (a file could not be created; nothing stays open).
 */
stubpool_status_t stubpool_profiling_start(unsigned outputs, const char *directory);

/** Writes buffered records now (also done at exit). Errors: SYSTEM (the first failed write). */
stubpool_status_t stubpool_profiling_flush(void);

/** Flushes, closes the files, takes every entry out of gdb's list, stops recording. Errors: SYSTEM. */
stubpool_status_t stubpool_profiling_stop(void);

/**
 * Names a live stub (e.g. "wasm-entry:math.add") in profiles and inspection; `name` is copied.
 * Kept until the stub is released; retargeting keeps it. Recorded at once while profiling.
 * Errors: INVALID_ARGUMENT (NULL), FOREIGN_STUB (not a stub of this pool), RELEASED.
 */
stubpool_status_t stubpool_pool_set_name(stubpool_pool_t *pool, void *stub, const char *name);

/**
 * Copies the stub's name (given, else `<pool name>#<id>`) into `buffer` (`size` bytes, always
 * NUL-terminated when size > 0, truncated if needed); `*out_length` (optional) receives the full
 * length without the NUL. `buffer` may be NULL with size 0 to ask for the length.
 * Errors: INVALID_ARGUMENT, FOREIGN_STUB (not a stub entry of this pool).
 */
stubpool_status_t stubpool_pool_get_name(stubpool_pool_t *pool, void *stub, char *buffer, size_t size, size_t *out_length);

/**
 * stubpool_arena_commit with a name per blob (`names[i]` for blob i, copied; none may be NULL),
 * used by profiles, gdb and inspection and kept until the blob is freed.
 * Errors: those of stubpool_arena_commit; INVALID_ARGUMENT for a NULL name.
 */
stubpool_status_t stubpool_arena_commit_named(stubpool_arena_t *arena, const stubpool_code_t *blobs,
                                              const char *const *names, size_t count, void **out_entries);

/**
 * A text description of the pool: chunks (addresses, occupancy: live, pending lazy, reserved,
 * free) and, if `include_stubs`, one line per live or pending stub (address, id, name, state,
 * target, context). Copied into `buffer` as for stubpool_pool_get_name; `*out_length` receives the full
 * length. Linear in the slots mapped. (JSON: the Swift API's `inspect()` is Codable, and
 * `stubpool inspect FILE` prints saved JSON.) Errors: INVALID_ARGUMENT.
 */
stubpool_status_t stubpool_pool_describe(stubpool_pool_t *pool, int include_stubs, char *buffer, size_t size,
                                         size_t *out_length);

/**
 * A text description of the arena: mappings, size classes and, if `include_blobs`, one line per
 * live blob (address, size, capacity, name). Copied as for stubpool_pool_describe.
 * Errors: INVALID_ARGUMENT.
 */
stubpool_status_t stubpool_arena_describe(stubpool_arena_t *arena, int include_blobs, char *buffer, size_t size,
                                          size_t *out_length);

#ifdef __cplusplus
}
#endif
#endif /* STUBPOOL_H */
