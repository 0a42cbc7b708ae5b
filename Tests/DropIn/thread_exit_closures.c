// Threads that each make two closures and exit, one after another, as short-lived workers do.
// A thread that exits must give back what it holds: the drop-in's reserve of ready closures, and
// its frees since its last reclaim must still lead to a reclaim. Then slots are reused, and
// THREADS threads see a bounded number of distinct closure addresses (each thread holding on to
// its reserve, or quarantines never reclaimed, make every closure a new one).
// Each thread also makes and frees a closure from a thread-exit destructor of its own, which runs
// after the drop-in's (its key is created later): a library's destructor may use libffi too.
// Prints "distinct=N closures=M" and exits 0, or names the failed check and exits 1. Runs the
// same against the system libffi alone and through the drop-in (DropInTests).
#include <ffi.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(condition)                                                                         \
    do {                                                                                         \
        if (!(condition)) {                                                                      \
            fprintf(stderr, "thread_exit_closures.c:%d: check failed: %s\n", __LINE__, #condition); \
            exit(1);                                                                             \
        }                                                                                        \
    } while (0)

enum { per_thread = 2 };

static ffi_cif cif;
static pthread_key_t exit_key;

static void handler(ffi_cif *cif_, void *result, void **arguments, void *user_data) {
    (void)cif_;
    *(ffi_arg *)result = (ffi_sarg)(*(int *)arguments[0] + (int)(intptr_t)user_data);
}

/// The thread's own destructor: a closure made, called and freed while the thread exits.
static void at_thread_exit(void *value) {
    (void)value;
    void *code, *closure = ffi_closure_alloc(sizeof(ffi_closure), &code);
    CHECK(closure != NULL);
    CHECK(ffi_prep_closure_loc(closure, &cif, handler, (void *)(intptr_t)5, code) == FFI_OK);
    CHECK(((int (*)(int))code)(40) == 45);
    ffi_closure_free(closure);
}

/// One worker: makes, calls and frees its closures; reports their addresses in `argument`.
static void *worker(void *argument) {
    CHECK(pthread_setspecific(exit_key, (void *)1) == 0);
    uintptr_t *addresses = argument;
    void *closures[per_thread], *codes[per_thread];
    for (int i = 0; i < per_thread; i++) {
        closures[i] = ffi_closure_alloc(sizeof(ffi_closure), &codes[i]);
        CHECK(closures[i] != NULL);
        CHECK(ffi_prep_closure_loc(closures[i], &cif, handler, (void *)(intptr_t)(i + 1), codes[i]) == FFI_OK);
        CHECK(((int (*)(int))codes[i])(40) == 41 + i);
        addresses[i] = (uintptr_t)codes[i];
    }
    for (int i = 0; i < per_thread; i++) ffi_closure_free(closures[i]);
    return NULL;
}

static int compare(const void *a, const void *b) {
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 4000;
    CHECK(threads > 0);
    static ffi_type *arguments[1] = {&ffi_type_sint};
    CHECK(ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 1, &ffi_type_sint, arguments) == FFI_OK);
    // A closure first, so that the drop-in's thread-exit key exists before this program's.
    void *first_code, *first = ffi_closure_alloc(sizeof(ffi_closure), &first_code);
    CHECK(first != NULL);
    ffi_closure_free(first);
    CHECK(pthread_key_create(&exit_key, at_thread_exit) == 0);
    size_t total = (size_t)threads * per_thread;
    uintptr_t *addresses = calloc(total, sizeof *addresses);
    CHECK(addresses != NULL);
    for (int t = 0; t < threads; t++) {
        pthread_t thread;
        CHECK(pthread_create(&thread, NULL, worker, addresses + (size_t)t * per_thread) == 0);
        CHECK(pthread_join(thread, NULL) == 0);
    }
    qsort(addresses, total, sizeof *addresses, compare);
    size_t distinct = 0;
    for (size_t i = 0; i < total; i++) distinct += i == 0 || addresses[i] != addresses[i - 1];
    printf("distinct=%zu\nclosures=%zu\n", distinct, total);
    // Reused slots: a quarter of the closures at most (the drop-in reclaims every 1,024 releases,
    // a thread's reserve of 64 included; the system libffi reuses its few closures at once).
    CHECK(distinct * 4 <= total);
    free(addresses);
    return 0;
}
