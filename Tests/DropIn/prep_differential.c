// The drop-in's prepared closures against the system libffi's, byte for byte, over random
// signatures: the trampoline (with the entry libffi chose), cif, fun and user_data must be the
// ones the system's ffi_prep_closure_loc writes, whether the drop-in called it or filled the
// closure from what it learned (learned_trampolines.c). Then one closure prepared again and again,
// alternating an integer and an SSE signature (two libffi entries): every call must reach the
// entry of its latest preparation (the drop-in's stub never changes; it jumps through the
// closure's entry word). On x86-64 the 8 bytes before the entry word are the exception: the
// drop-in keeps its stub's context word there (the closure's own address, which the stub loads
// into r10), where libffi's trampoline has padding its code never runs; they must hold the closure.
// Usage (drop-in preloaded or linked ahead): prep_differential [SIGNATURES]. Prints how many
// signatures, how many kinds of cif, and "prep differential: ok"; exits 1 at the first mismatch.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ffi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef ffi_status (*prep_t)(ffi_closure *, ffi_cif *, void (*)(ffi_cif *, void *, void **, void *), void *, void *);

static void handler(ffi_cif *cif, void *result, void **arguments, void *user_data) {
    (void)cif, (void)result, (void)arguments, (void)user_data;
}

static uint64_t state = 0x9E3779B97F4A7C15ull;
static unsigned next(unsigned bound) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return (unsigned)(state % bound);
}

static ffi_type *elements_dd[] = {&ffi_type_double, &ffi_type_double, NULL};
static ffi_type *elements_fff[] = {&ffi_type_float, &ffi_type_float, &ffi_type_float, NULL};
static ffi_type *elements_lll[] = {&ffi_type_sint64, &ffi_type_sint64, &ffi_type_sint64, NULL};
static ffi_type *elements_cd[] = {&ffi_type_schar, &ffi_type_double, NULL};
static ffi_type *elements_if[] = {&ffi_type_sint32, &ffi_type_float, NULL};
static ffi_type struct_dd = {0, 0, FFI_TYPE_STRUCT, elements_dd}, struct_fff = {0, 0, FFI_TYPE_STRUCT, elements_fff},
                struct_lll = {0, 0, FFI_TYPE_STRUCT, elements_lll}, struct_cd = {0, 0, FFI_TYPE_STRUCT, elements_cd},
                struct_if = {0, 0, FFI_TYPE_STRUCT, elements_if};

static ffi_type *pick(int allow_void) {
    ffi_type *types[] = {&ffi_type_sint8, &ffi_type_uint16, &ffi_type_sint32, &ffi_type_uint64, &ffi_type_float,
                         &ffi_type_double, &ffi_type_longdouble, &ffi_type_pointer, &struct_dd, &struct_fff,
                         &struct_lll, &struct_cd, &struct_if, &ffi_type_void};
    unsigned count = sizeof types / sizeof *types - (allow_void ? 0 : 1);
    return types[next(count)];
}

static void sum_integers(ffi_cif *cif, void *result, void **arguments, void *user_data) {
    (void)cif;
    *(int64_t *)result = *(int64_t *)arguments[0] + *(int64_t *)arguments[1] + (int64_t)(intptr_t)user_data;
}

static void sum_doubles(ffi_cif *cif, void *result, void **arguments, void *user_data) {
    (void)cif;
    *(double *)result = *(double *)arguments[0] + *(double *)arguments[1] + (double)(intptr_t)user_data;
}

/// One closure, prepared 1,000 times, alternating (int64, int64) -> int64 and (double, double) ->
/// double, called after each preparation; returns how many calls gave a wrong result.
static int reprepare_and_call(void) {
    ffi_cif integers, doubles;
    ffi_type *two_integers[] = {&ffi_type_sint64, &ffi_type_sint64}, *two_doubles[] = {&ffi_type_double, &ffi_type_double};
    if (ffi_prep_cif(&integers, FFI_DEFAULT_ABI, 2, &ffi_type_sint64, two_integers) != FFI_OK ||
        ffi_prep_cif(&doubles, FFI_DEFAULT_ABI, 2, &ffi_type_double, two_doubles) != FFI_OK) {
        return -1;
    }
    void *code;
    ffi_closure *closure = ffi_closure_alloc(sizeof(ffi_closure), &code);
    if (!closure) return -1;
    int wrong = 0;
    for (int round = 0; round < 1000; round++) {
        intptr_t extra = round;
        if (round % 2 == 0) {
            if (ffi_prep_closure_loc(closure, &integers, sum_integers, (void *)extra, code) != FFI_OK) return -1;
            wrong += ((int64_t (*)(int64_t, int64_t))code)(40, 2) != 42 + extra;
        } else {
            if (ffi_prep_closure_loc(closure, &doubles, sum_doubles, (void *)extra, code) != FFI_OK) return -1;
            wrong += ((double (*)(double, double))code)(0.5, 0.25) != 0.75 + (double)extra;
        }
    }
    ffi_closure_free(closure);
    return wrong;
}

int main(int argc, char **argv) {
    int signatures = argc > 1 ? atoi(argv[1]) : 10000;
    void *libffi = dlopen("libffi.so.8", RTLD_LAZY | RTLD_NOLOAD);
    prep_t system_prep = libffi ? (prep_t)dlsym(libffi, "ffi_prep_closure_loc") : NULL;
    if (!system_prep) { fprintf(stderr, "no system libffi\n"); return 1; }
    struct { ffi_abi abi; unsigned flags; } kinds[256];
    int kind_count = 0, variadic = 0;
    for (int i = 0; i < signatures; i++) {
        ffi_type *arguments[16];
        unsigned count = next(17) % 16;
        for (unsigned a = 0; a < count; a++) arguments[a] = pick(0);
        ffi_cif cif;
        ffi_type *result = pick(1);
        ffi_status status;
        if (count > 1 && next(4) == 0) {
            // Variadic: promoted types only after the fixed ones.
            for (unsigned a = 1; a < count; a++) {
                if (arguments[a] == &ffi_type_float) arguments[a] = &ffi_type_double;
                if (arguments[a] == &ffi_type_sint8 || arguments[a] == &ffi_type_uint16) arguments[a] = &ffi_type_sint32;
            }
            status = ffi_prep_cif_var(&cif, FFI_DEFAULT_ABI, 1, count, result, arguments);
            variadic++;
        } else {
            status = ffi_prep_cif(&cif, FFI_DEFAULT_ABI, count, result, arguments);
        }
        if (status != FFI_OK) { fprintf(stderr, "signature %d: ffi_prep_cif %d\n", i, status); return 1; }
        int known = 0;
        for (int k = 0; k < kind_count; k++) known |= kinds[k].abi == cif.abi && kinds[k].flags == cif.flags;
        if (!known && kind_count < 256) kinds[kind_count].abi = cif.abi, kinds[kind_count++].flags = cif.flags;
        void *code;
        ffi_closure *mine = ffi_closure_alloc(sizeof(ffi_closure), &code);
        ffi_closure *reference = calloc(1, sizeof(ffi_closure));
        if (!mine || !reference) return 1;
        void *user_data = (void *)(intptr_t)(i * 7 + 1);
        if (ffi_prep_closure_loc(mine, &cif, handler, user_data, code) != FFI_OK ||
            system_prep(reference, &cif, handler, user_data, reference) != FFI_OK) {
            fprintf(stderr, "signature %d: prepare failed\n", i);
            return 1;
        }
#if defined(__x86_64__)
        enum { context_word = 16 };  // the entry word is at 24
        void *context;
        memcpy(&context, (char *)mine + context_word, sizeof context);
        if (memcmp(mine, reference, context_word) != 0 ||
            memcmp((char *)mine + context_word + 8, (char *)reference + context_word + 8,
                   sizeof(ffi_closure) - context_word - 8) != 0 ||
            context != (void *)mine) {
#else
        if (memcmp(mine, reference, sizeof(ffi_closure)) != 0) {
#endif
            fprintf(stderr, "signature %d (abi %d, flags 0x%x, %u arguments): the closures differ\n", i, cif.abi, cif.flags, count);
            return 1;
        }
        ffi_closure_free(mine);
        free(reference);
    }
#if defined(__x86_64__)
    const char *except = " but the stub's context word, which holds the closure";
#else
    const char *except = "";
#endif
    printf("prep differential: %d signatures (%d variadic), %d kinds of cif (abi, flags), every closure byte for byte "
           "the system's%s: ok\n", signatures, variadic, kind_count, except);
    int wrong = reprepare_and_call();
    printf("re-prepared closure: 1000 preparations alternating two entries, %d wrong calls\n", wrong);
    return wrong == 0 ? 0 : 1;
}
