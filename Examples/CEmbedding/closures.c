// A libffi program, unchanged, linked with the StubPool drop-in ahead of -lffi:
//   cc closures.c $(pkg-config --cflags --libs stubpool-ffi)
// Its closures are StubPool stubs: nothing writable is executable, and a call through a freed
// closure aborts instead of running whatever reuses the memory. stubpool_ffi_statistics (from
// stubpool_ffi.h) shows they went through the drop-in.
#include <ffi.h>
#include <stdio.h>

#include "stubpool_ffi.h"

static void add(ffi_cif *cif, void *result, void **arguments, void *user_data) {
    (void)cif;
    *(ffi_sarg *)result = *(int *)arguments[0] + (int)(long)user_data;
}

int main(void) {
    ffi_cif cif;
    ffi_type *arguments[1] = {&ffi_type_sint};
    if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 1, &ffi_type_sint, arguments) != FFI_OK) return 1;
    enum { count = 1000 };
    ffi_closure *closures[count];
    int (*functions[count])(int);
    for (int i = 0; i < count; i++) {
        void *code;
        closures[i] = ffi_closure_alloc(sizeof(ffi_closure), &code);
        if (!closures[i] || ffi_prep_closure_loc(closures[i], &cif, add, (void *)(long)i, code) != FFI_OK) return 1;
        functions[i] = (int (*)(int))code;
    }
    long sum = 0;
    for (int i = 0; i < count; i++) sum += functions[i](1);
    for (int i = 0; i < count; i++) ffi_closure_free(closures[i]);
    stubpool_ffi_stats_t stats;
    stubpool_ffi_statistics(&stats);
    printf("sum %ld; %zu closures allocated as StubPool stubs, %zu prepared, %zu freed\n", sum, stats.allocated,
           stats.prepared, stats.freed);
    return sum == count + (long)count * (count - 1) / 2 && stats.allocated == count && stats.freed == count ? 0 : 1;
}
