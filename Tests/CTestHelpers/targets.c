#define _GNU_SOURCE
#include "ctesthelpers.h"

int64_t ct_weighted3(int64_t a, int64_t b, int64_t c) { return a + b * 3 + c * 7; }

int64_t ct_call3(const void *fn, int64_t a, int64_t b, int64_t c) {
    return ((int64_t (*)(int64_t, int64_t, int64_t))fn)(a, b, c);
}

uint64_t ct_call0(const void *fn) { return ((uint64_t (*)(void))fn)(); }

void ct_call_repeatedly(const void *fn, uint64_t times) {
    void (*call)(void) = (void (*)(void))fn;
    for (uint64_t i = 0; i < times; i++) call();
}

#define CT_CONSTANT(k) static int64_t ct_constant_##k(void) { return k; }
CT_CONSTANT(0) CT_CONSTANT(1) CT_CONSTANT(2) CT_CONSTANT(3)
CT_CONSTANT(4) CT_CONSTANT(5) CT_CONSTANT(6) CT_CONSTANT(7)
const void *const ct_constant_functions[8] = {
    (const void *)ct_constant_0, (const void *)ct_constant_1, (const void *)ct_constant_2, (const void *)ct_constant_3,
    (const void *)ct_constant_4, (const void *)ct_constant_5, (const void *)ct_constant_6, (const void *)ct_constant_7,
};

int64_t ct_call_constant(const void *fn) { return ((int64_t (*)(void))fn)(); }

int64_t ct_bound_capture(struct ct_capture *capture, int64_t a, double x, int64_t b, int64_t c, double y, int64_t d, int64_t e) {
    capture->ints[0] = a; capture->ints[1] = b; capture->ints[2] = c; capture->ints[3] = d; capture->ints[4] = e;
    capture->doubles[0] = x; capture->doubles[1] = y;
    return a + 2 * b + 3 * c + 4 * d + 5 * e + (int64_t)(x * 10) + (int64_t)(y * 100);
}

int64_t ct_call_bound(const void *fn, int64_t a, double x, int64_t b, int64_t c, double y, int64_t d, int64_t e) {
    return ((int64_t (*)(int64_t, double, int64_t, int64_t, double, int64_t, int64_t))fn)(a, x, b, c, y, d, e);
}

__attribute__((visibility("hidden"))) struct ct_register_record ct_record_storage;
struct ct_register_record *ct_last_record(void) { return &ct_record_storage; }

#include <dlfcn.h>

int ct_sanitizer_active(void) {
    return dlsym(RTLD_DEFAULT, "__tsan_init") != NULL || dlsym(RTLD_DEFAULT, "__asan_init") != NULL;
}
