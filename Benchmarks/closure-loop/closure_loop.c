// The C loop quoted in Benchmarks/README.md: LIVE closures made (ffi_closure_alloc +
// ffi_prep_closure_loc) then freed, ROUNDS times; prints ns per closure for each half, the first
// round left out. Run it plain (Debian's libffi) and with the installed drop-in preloaded:
//   cc -O2 -o /tmp/closure_loop Benchmarks/closure-loop/closure_loop.c -lffi
//   Examples/CEmbedding/install.sh --prefix /tmp/sp
//   /tmp/closure_loop 1000 1000; LD_PRELOAD=/tmp/sp/lib/libStubPoolFFI.so /tmp/closure_loop 1000 1000
// Instructions per closure: valgrind --tool=callgrind (with LD_PRELOAD as above), then
// callgrind_annotate --inclusive=yes, dividing by LIVE * ROUNDS.
#include <ffi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void handler(ffi_cif *cif, void *ret, void **args, void *user_data) {
    (void)cif, (void)args, (void)user_data;
    *(ffi_arg *)ret = 1;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
    int live = argc > 1 ? atoi(argv[1]) : 1000, rounds = argc > 2 ? atoi(argv[2]) : 2000;
    if (live < 1 || rounds < 2) { fprintf(stderr, "usage: closure_loop LIVE ROUNDS (ROUNDS >= 2)\n"); return 2; }
    ffi_cif cif;
    if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 0, &ffi_type_sint, NULL) != FFI_OK) return 1;
    void **closures = malloc(sizeof(void *) * live), **codes = malloc(sizeof(void *) * live);
    if (!closures || !codes) return 1;
    double allocate = 0, release = 0;
    for (int round = 0; round < rounds; round++) {
        double start = now();
        for (int i = 0; i < live; i++) {
            closures[i] = ffi_closure_alloc(sizeof(ffi_closure), &codes[i]);
            if (!closures[i] || ffi_prep_closure_loc(closures[i], &cif, handler, NULL, codes[i]) != FFI_OK) return 1;
        }
        double middle = now();
        for (int i = 0; i < live; i++) ffi_closure_free(closures[i]);
        double end = now();
        if (round > 0) { allocate += middle - start; release += end - middle; }
    }
    printf("alloc+prep %.1f ns, free %.1f ns\n", allocate / (rounds - 1) / live, release / (rounds - 1) / live);
    free(closures);
    free(codes);
    return 0;
}
