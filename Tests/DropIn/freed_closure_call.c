// A call through a freed closure's code address, through the drop-in: it must report itself and
// abort, never run the closure again. MODE "at-once" (run with STUBPOOL_FFI_FREE_BATCH=1): the
// call right after ffi_closure_free. MODE "after-batch" (the default batch): the call after the
// thread freed 64 more closures, by when its frees have been released. Prints "calling" before
// the call; reaching the line after it prints "ran a freed closure" and exits 1 (DropInTests
// expects the drop-in's message and SIGABRT).
#include <ffi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ffi_cif cif;

static void handler(ffi_cif *cif_, void *result, void **arguments, void *user_data) {
    (void)cif_, (void)arguments;
    *(ffi_arg *)result = (ffi_sarg)(intptr_t)user_data;
}

static void *make(int value, void **closure) {
    void *code;
    *closure = ffi_closure_alloc(sizeof(ffi_closure), &code);
    if (!*closure || ffi_prep_closure_loc(*closure, &cif, handler, (void *)(intptr_t)value, code) != FFI_OK) exit(2);
    return code;
}

int main(int argc, char **argv) {
    int after_batch = argc > 1 && strcmp(argv[1], "after-batch") == 0;
    if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 0, &ffi_type_sint, NULL) != FFI_OK) return 2;
    void *closure, *code = make(7, &closure);
    if (((int (*)(void))code)() != 7) return 2;
    ffi_closure_free(closure);
    if (after_batch) {
        for (int i = 0; i < 64; i++) {
            void *other;
            make(i, &other);
            ffi_closure_free(other);
        }
    }
    printf("calling\n");
    fflush(stdout);
    int result = ((int (*)(void))code)();
    printf("ran a freed closure: %d\n", result);
    return 1;
}
