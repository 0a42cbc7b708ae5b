// C and assembly helpers for StubPool's tests: functions to call through stubs, C callers,
// a register recorder and a libffi closure recorder.
#ifndef CTESTHELPERS_H
#define CTESTHELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <ffi.h>

// ---- Targets and C callers -------------------------------------------------------------------

/// Returns a*1 + b*3 + c*7.
int64_t ct_weighted3(int64_t a, int64_t b, int64_t c);
/// 1 if this process runs under ThreadSanitizer or AddressSanitizer (their runtimes map memory
/// of their own at any time, so process-wide mapping counts are not stable there).
int ct_sanitizer_active(void);
/// Calls `fn(a, b, c)` from C.
int64_t ct_call3(const void *fn, int64_t a, int64_t b, int64_t c);
/// Returns the context register on entry (x86-64: r10, AArch64: x17). Assembly.
uint64_t ct_return_context_register(void);
/// Calls `fn()` from C, where `fn` has the shape of ct_return_context_register.
uint64_t ct_call0(const void *fn);
/// Calls `fn()` `times` times in a tight C loop (a profile of it is mostly `fn`'s own code).
void ct_call_repeatedly(const void *fn, uint64_t times);
/// Returns `k` for the function at index `k` of ct_constant_functions (0..7).
extern const void *const ct_constant_functions[8];
/// Calls a `int64_t (*)(void)` from C.
int64_t ct_call_constant(const void *fn);

/// Receives a bound first argument: writes its five integer arguments and two doubles into
/// `capture` (`int64_t[5]` then `double[2]`) and returns their checksum.
struct ct_capture { int64_t ints[5]; double doubles[2]; };
int64_t ct_bound_capture(struct ct_capture *capture, int64_t a, double x, int64_t b, int64_t c, double y, int64_t d, int64_t e);
/// Calls `fn(a, x, b, c, y, d, e)` from C (the caller of a bindFirstArgument stub).
int64_t ct_call_bound(const void *fn, int64_t a, double x, int64_t b, int64_t c, double y, int64_t d, int64_t e);

// ---- Register recorder -------------------------------------------------------------------------

/// What ct_recorder saw: every integer argument register, rax (al: vector count for varargs),
/// the context register, xmm0-7 / q0-7, its return address and a window of stack arguments.
struct ct_register_record {
    uint64_t integer[6];       // rdi rsi rdx rcx r8 r9 (AArch64: x0-x5)
    uint64_t rax;              // AArch64: x6
    uint64_t context;          // r10 (AArch64: x17)
    uint64_t vector[8][2];     // xmm0-7 (AArch64: q0-7)
    uint64_t return_address;   // AArch64: x30
    uint64_t stack[16];        // the caller's stack arguments
    uint64_t extra[2];         // AArch64: x7, x8; zero on x86-64
};
/// Records every argument register into ct_last_record and returns. Assembly; call it with any
/// signature. Returns rax = rdi ^ rsi, rdx = rdx, xmm0 = xmm1, xmm1 = xmm0.
void ct_recorder(void);
/// Calls `fn` with every register ct_register_record describes loaded from `in` (integer,
/// rax, context, vector) and `in->stack` as its 16 stack argument words. Assembly.
void ct_call_with_registers(const void *fn, const struct ct_register_record *in);
/// The last record (not thread-safe: one test uses it at a time).
struct ct_register_record *ct_last_record(void);

// ---- Vector arguments (x86-64) ------------------------------------------------------------------

/// Whether the CPU has AVX / AVX-512F (the __m256 / __m512 checks need them).
int ct_cpu_supports_avx(void);
int ct_cpu_supports_avx512f(void);
/// The __m128 target (ten arguments, two on the stack) and its check: calls `fn` with seeded
/// values and compares the result with a direct call (1 = identical). The __m256 and __m512
/// versions live in CTestVectors256 / CTestVectors512, compiled with -mavx / -mavx512f.
const void *ct___m128_target_address(void);
int ct___m128_check(const void *fn, unsigned seed);
/// Overwrites every vector register up to `level` (0: xmm0-15, 1: ymm0-15, 2: zmm0-31 and k1).
/// Assembly; pass only a level the CPU supports.
void ct_clobber_vector_registers(int level);

// ---- libffi closure recorder -------------------------------------------------------------------

/// Where a recording closure writes what it received.
struct ct_closure_log {
    unsigned char *bytes;   // caller-provided buffer of `capacity` bytes
    size_t capacity;
    size_t length;
    unsigned calls;
};
/// A libffi closure handler that appends each argument's value (struct members one by one) to
/// the `struct ct_closure_log *` user data, and returns a value derived from those bytes.
void ct_closure_recorder(ffi_cif *cif, void *ret, void **args, void *user_data);

/// Calls `code`, which must raise SIGTRAP at once (an int3 / brk in a chunk's trap fill), from a
/// known call site, with a SIGTRAP handler that takes a backtrace() and jumps back here. Returns 1
/// if the backtrace reached that call site (the unwinder crossed the frame of `code`), 0 if it
/// stopped short, -1 if this architecture has no such test or the handler could not be set.
int ct_backtrace_crosses(const void *code);

/// Makes SIGALRM write "hung child <pid>: stuck in" and the thread's frames to standard error,
/// then die of SIGALRM (for the fork stress's children, whose alarm means they hung).
void ct_report_hang_on_alarm(void);

/// libFuzzer's entry for programs with their own main (LLVM 11+). Declared only: it exists in
/// binaries linked with -sanitize=fuzzer, the only ones that call it (Tests/StubPoolFuzz).
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
