// Glue between the assembly lazy resolver and the handler StubPool installs, and the x86-64
// vector-state description the resolver saves (from CPUID leaf 0xD).
#include "stubpool_shim.h"

#include <stdio.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

extern char stubpool_lazy_resolver_static_chain[], stubpool_lazy_resolver_first_argument[],
    stubpool_lazy_resolver_none[];

// Read by the x86-64 resolver: bytes to reserve (multiple of 64, at least 576), the XSAVE
// component mask, and the instruction (0 fxsave, 1 xsave, 2 xsavec).
__attribute__((visibility("hidden"))) uint64_t stubpool_vector_state_size = 576;
__attribute__((visibility("hidden"))) uint64_t stubpool_vector_state_mask = 0;
__attribute__((visibility("hidden"))) uint8_t stubpool_vector_state_kind = 0;

static stubpool_lazy_handler_t lazy_handler;

#if defined(__x86_64__)
/// SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM: every register that can carry an argument. (x87 and
/// AMX tiles never do.)
static const uint64_t argument_state_components = (1u << 1) | (1u << 2) | (1u << 5) | (1u << 6) | (1u << 7);

__attribute__((constructor)) static void describe_vector_state(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return;  // fxsave: xmm only
    unsigned low, high;
    __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
    uint64_t mask = (((uint64_t)high << 32) | low) & argument_state_components;
    uint64_t size;
    __cpuid_count(0xD, 1, a, b, c, d);
    if (a & (1u << 1)) {
        // Compacted format: the legacy area and header, then each component in mask order,
        // 64-byte aligned where CPUID says so.
        size = 576;
        for (unsigned i = 2; i < 64; i++) {
            if (!(mask & (1ull << i))) continue;
            __cpuid_count(0xD, i, a, b, c, d);
            if (c & (1u << 1)) size = (size + 63) & ~63ull;
            size += a;
        }
        stubpool_vector_state_kind = 2;
    } else {
        __cpuid_count(0xD, 0, a, b, c, d);
        size = b;  // standard format, every component enabled in XCR0
        stubpool_vector_state_kind = 1;
    }
    stubpool_vector_state_size = (size + 63) & ~63ull;
    if (stubpool_vector_state_size < 576) stubpool_vector_state_size = 576;
    stubpool_vector_state_mask = mask;
}
#endif

__attribute__((visibility("hidden"), used))
stubpool_lazy_continuation_t stubpool_lazy_dispatch(uintptr_t slot) {
    stubpool_lazy_handler_t handler = __atomic_load_n(&lazy_handler, __ATOMIC_ACQUIRE);
    if (!handler) {
        fprintf(stderr, "stubpool: lazy stub at 0x%lx called with no lazy handler installed\n", (unsigned long)slot);
        abort();
    }
    return handler(slot);
}

void stubpool_set_lazy_handler(stubpool_lazy_handler_t handler) {
    __atomic_store_n(&lazy_handler, handler, __ATOMIC_RELEASE);
}

uintptr_t stubpool_lazy_resolver_entry(stubpool_lazy_context_t context) {
#if defined(__x86_64__) || defined(__aarch64__)
    switch (context) {
    case STUBPOOL_LAZY_CONTEXT_STATIC_CHAIN: return (uintptr_t)stubpool_lazy_resolver_static_chain;
    case STUBPOOL_LAZY_CONTEXT_FIRST_ARGUMENT: return (uintptr_t)stubpool_lazy_resolver_first_argument;
    case STUBPOOL_LAZY_CONTEXT_NONE: return (uintptr_t)stubpool_lazy_resolver_none;
    }
    return 0;
#else
    return 0;
#endif
}

size_t stubpool_lazy_vector_state_size(void) { return (size_t)stubpool_vector_state_size; }
uint64_t stubpool_lazy_vector_state_mask(void) { return stubpool_vector_state_mask; }
