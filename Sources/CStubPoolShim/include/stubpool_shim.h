// StubPool's C shim: thin wrappers over the system calls StubPool needs, the cache-maintenance
// builtins, and the assembly trap entries. No policy lives here.
//
// Every wrapper that can fail returns 0 on success or the errno value read immediately after the
// call. In debug builds (STUBPOOL_FAULT_INJECTION) each wrapper is also a fault-injection point.
#ifndef STUBPOOL_SHIM_H
#define STUBPOOL_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Protection and mapping flags, re-exported so Swift does not depend on libc macro import.
enum {
    STUBPOOL_PROT_NONE = 0x0,
    STUBPOOL_PROT_READ = 0x1,
    STUBPOOL_PROT_WRITE = 0x2,
    STUBPOOL_PROT_EXEC = 0x4,
    /// AArch64 only: instructions in the range are BTI-guarded (indirect branches must land on `bti`).
    STUBPOOL_PROT_BTI = 0x10,
    STUBPOOL_MAP_SHARED = 0x01,
    STUBPOOL_MAP_PRIVATE = 0x02,
    STUBPOOL_MAP_FIXED = 0x10,
    STUBPOOL_MAP_ANONYMOUS = 0x20,
    STUBPOOL_MAP_NORESERVE = 0x4000,
    STUBPOOL_MFD_CLOEXEC = 0x1,
    STUBPOOL_MFD_ALLOW_SEALING = 0x2,
    STUBPOOL_SEAL_SEAL = 0x1,
    STUBPOOL_SEAL_SHRINK = 0x2,
    STUBPOOL_SEAL_GROW = 0x4,
    STUBPOOL_SEAL_WRITE = 0x8,
    STUBPOOL_MADV_DONTNEED = 4,
    /// Populate (prefault) writable pages in one call (Linux 5.14+; EINVAL before).
    STUBPOOL_MADV_POPULATE_WRITE = 23,
    STUBPOOL_MEMBARRIER_CMD_QUERY = 0,
    STUBPOOL_MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE = 1 << 5,
    STUBPOOL_MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE = 1 << 6,
};

/// System calls the shim wraps; also the fault-injection selectors.
typedef enum {
    STUBPOOL_SYS_MMAP = 0,
    STUBPOOL_SYS_MUNMAP = 1,
    STUBPOOL_SYS_MPROTECT = 2,
    STUBPOOL_SYS_MADVISE = 3,
    STUBPOOL_SYS_MEMFD_CREATE = 4,
    STUBPOOL_SYS_FTRUNCATE = 5,
    STUBPOOL_SYS_FCNTL = 6,
    STUBPOOL_SYS_MINCORE = 7,
    STUBPOOL_SYS_MEMBARRIER = 8,
    STUBPOOL_SYS_CLOSE = 9,
    STUBPOOL_SYS_COUNT = 10,
} stubpool_syscall_t;

int stubpool_mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset, void **out);
int stubpool_munmap(void *addr, size_t length);
int stubpool_mprotect(void *addr, size_t length, int prot);
int stubpool_madvise(void *addr, size_t length, int advice);
int stubpool_memfd_create(const char *name, unsigned int flags, int *out_fd);
int stubpool_ftruncate(int fd, off_t length);
/// fcntl(fd, F_ADD_SEALS, seals).
int stubpool_add_seals(int fd, int seals);
int stubpool_close(int fd);
int stubpool_mincore(void *addr, size_t length, unsigned char *vec);
int stubpool_membarrier(int cmd, unsigned int flags, int *out_result);
long stubpool_page_size(void);
/// open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644): a profiling output file.
int stubpool_create_file(const char *path, int *out_fd);
/// write(2) until all `length` bytes are written (retrying short writes and EINTR).
int stubpool_write_all(int fd, const void *bytes, size_t length);
/// Opens `path` read-only (close-on-exec) and reports its size (fstat). 0 or errno.
int stubpool_open_read(const char *path, int *out_fd, int64_t *out_size);
/// Reads up to `length` bytes (retrying short reads and EINTR); `*out_read` < length at end of file.
int stubpool_read_all(int fd, void *bytes, size_t length, size_t *out_read);

/// dladdr: the exported symbol covering `address` (1) or none (0).
int stubpool_dladdr(const void *address, const char **symbol, const void **symbol_address);
/// dlsym(RTLD_DEFAULT, name).
const void *stubpool_dlsym_default(const char *name);
/// Called once per program header of every loaded object (dl_iterate_phdr): `first` marks an
/// object's first header; `name` is "" for the main executable.
typedef void (*stubpool_segment_visitor)(void *context, uintptr_t bias, const char *name, int first,
                                         uint32_t type, uintptr_t vaddr, uintptr_t memsz);
void stubpool_visit_loaded_segments(stubpool_segment_visitor visitor, void *context);
/// mkdir(path, 0755); an existing directory is not an error.
int stubpool_make_directory(const char *path);
/// The calling thread's kernel id (gettid).
int stubpool_thread_id(void);
/// CLOCK_MONOTONIC in nanoseconds (the clock `perf record -k mono` uses).
uint64_t stubpool_monotonic_ns(void);
/// prctl(PR_GET_MDWE): the process's memory-deny-write-execute flags (bit 0:
/// PR_MDWE_REFUSE_EXEC_GAIN). EINVAL on kernels without MDWE.
int stubpool_mdwe_flags(int *out_flags);
/// Whether the CPU and kernel support AArch64 BTI (AT_HWCAP2 & HWCAP2_BTI); 0 on other hosts.
int stubpool_has_branch_target_identification(void);
/// The CPU the calling thread runs on (sched_getcpu; rseq-backed, no system call), or -1.
int stubpool_current_cpu(void);
/// sched_yield: gives up the CPU while waiting for a lock.
void stubpool_yield(void);

/// futex(FUTEX_WAIT_PRIVATE): sleeps while the 32-bit word at `word` holds `expected` (or until
/// woken or interrupted). 0 or errno (EAGAIN: the word had changed; EINTR).
int stubpool_futex_wait(const void *word, uint32_t expected);

/// futex(FUTEX_WAKE_PRIVATE): wakes at most `count` threads sleeping on `word`.
void stubpool_futex_wake(const void *word, int count);
/// `__builtin___clear_cache` over [begin, end).
void stubpool_clear_cache(void *begin, void *end);

/// Where a released-stub trap entry finds an address inside the stub that was called.
typedef enum {
    /// The return address on the stack points into the stub (the stub's released entry called us).
    STUBPOOL_TRAP_FROM_RETURN_ADDRESS = 0,
    /// The context register (r10 / x17) holds the stub's address.
    STUBPOOL_TRAP_FROM_CONTEXT_REGISTER = 1,
    /// The first integer argument register (rdi / x0) holds the stub's address.
    STUBPOOL_TRAP_FROM_FIRST_ARGUMENT = 2,
} stubpool_trap_source_t;

/// Address of the host's assembly trap entry for `source`, or 0 on an unsupported host.
uintptr_t stubpool_released_trap_entry(stubpool_trap_source_t source);
/// Handler the trap entries call with an address inside the released stub. Must not return.
typedef void (*stubpool_released_handler_t)(uintptr_t address_in_stub);
void stubpool_set_released_handler(stubpool_released_handler_t handler);

/// Where a lazy call continues: the stub's target, and the context for the register its kind
/// carries the context in.
typedef struct {
    uintptr_t target;
    uintptr_t context;
} stubpool_lazy_continuation_t;
/// Called by the lazy resolver, once per call of a pending lazy stub, with the stub's slot
/// address. Must return where the call continues.
typedef stubpool_lazy_continuation_t (*stubpool_lazy_handler_t)(uintptr_t slot);
void stubpool_set_lazy_handler(stubpool_lazy_handler_t handler);
/// Where a stub kind carries its context, which tells the lazy resolvers apart.
typedef enum {
    STUBPOOL_LAZY_CONTEXT_NONE = 0,            ///< forward stubs: no context register
    STUBPOOL_LAZY_CONTEXT_STATIC_CHAIN = 1,    ///< context stubs: r10 / x17
    STUBPOOL_LAZY_CONTEXT_FIRST_ARGUMENT = 2,  ///< bindFirstArgument stubs: rdi / x0
} stubpool_lazy_context_t;
/// Address of the host's assembly lazy resolver for stubs carrying their context in `context`,
/// or 0 on an unsupported host.
uintptr_t stubpool_lazy_resolver_entry(stubpool_lazy_context_t context);
/// x86-64: bytes of vector state the resolver saves per call and the XSAVE component mask
/// (CPUID leaf 0xD); 576 and 0 where only fxsave is available or on AArch64.
size_t stubpool_lazy_vector_state_size(void);
uint64_t stubpool_lazy_vector_state_mask(void);

/// The calling thread's slot-cache table (StubPool's per-thread allocation caches), or NULL.
/// Initial-exec TLS: a load relative to the thread pointer, no call, also inside a shared library
/// loaded with dlopen (it takes a few bytes of glibc's static TLS surplus).
extern __thread void *stubpool_thread_slot_caches __attribute__((tls_model("initial-exec")));
static inline void *stubpool_thread_caches_get(void) { return stubpool_thread_slot_caches; }
static inline void stubpool_thread_caches_set(void *table) { stubpool_thread_slot_caches = table; }

/// The top level of the process-wide chunk index (ChunkRegistry): 2^16 leaf addresses, zeroed
/// storage (untouched pages never become resident). Static storage rather than a Swift global, so
/// every lookup is a plain load instead of a `swift_once` check first.
extern uintptr_t stubpool_chunk_index_top[1 << 16];
static inline uintptr_t *stubpool_chunk_index(void) { return stubpool_chunk_index_top; }
/// The same index over payload regions (pools with payloads).
extern uintptr_t stubpool_payload_index_top[1 << 16];
static inline uintptr_t *stubpool_payload_index(void) { return stubpool_payload_index_top; }

/// The GDB JIT interface (gdb's "JIT Compilation Interface"): an entry in the list gdb reads,
/// holding an in-memory symbol file. Layout fixed by gdb.
typedef struct stubpool_jit_code_entry {
    struct stubpool_jit_code_entry *next_entry;
    struct stubpool_jit_code_entry *prev_entry;
    const char *symfile_addr;
    uint64_t symfile_size;
} stubpool_jit_code_entry;
/// gdb's descriptor (`__jit_debug_descriptor`): version 1; action 0 none, 1 register, 2 unregister.
typedef struct {
    uint32_t version;
    uint32_t action_flag;
    stubpool_jit_code_entry *relevant_entry;
    stubpool_jit_code_entry *first_entry;
} stubpool_jit_descriptor;
/// The process's `__jit_debug_descriptor` (weak: a JIT linked into the same program that defines
/// its own wins, and both share one list, as gdb reads only one).
stubpool_jit_descriptor *stubpool_gdb_descriptor(void);
/// Calls `__jit_debug_register_code`, where gdb keeps a breakpoint to read the descriptor.
void stubpool_gdb_notify(void);

/// Fault injection (debug builds only). Makes the `nth` (1-based) call of `syscall` made by the
/// calling thread from now on fail with `error`. Returns 0, or ENOTSUP when compiled out.
int stubpool_fault_arm(stubpool_syscall_t syscall, unsigned int nth, int error);
/// Disarms fault injection on the calling thread.
void stubpool_fault_disarm(void);
/// Number of calls of `syscall` made by the calling thread (debug builds; 0 otherwise).
unsigned long stubpool_syscall_count(stubpool_syscall_t syscall);
/// Bytes mapped through the shim and not yet unmapped through it, process-wide (debug builds;
/// -1 otherwise): `stubpool_mmap` without MAP_FIXED adds the length (a MAP_FIXED overlay
/// replaces part of a reservation already counted), `stubpool_munmap` subtracts it. Unlike the
/// process's mapping count, other code (a sanitizer's runtime, say) cannot move it.
long stubpool_mapped_bytes(void);

#ifdef __cplusplus
}
#endif
#endif
