// Closures the drop-in does not own, next to closures it does, through every libffi entry point
// that takes a closure. Run plain (the system libffi alone: the program's own check), with the
// drop-in preloaded, linked ahead of -lffi, and under AddressSanitizer (DropInTests).
//
// Foreign closures sit where reading before or after them faults: at the first byte of an rwx
// mapping whose preceding page is PROT_NONE, at the last bytes of one whose next page is
// PROT_NONE; others in malloc'ed memory and in the system libffi's own closures. Each is
// prepared (ffi_prep_closure_loc, ffi_prep_closure, ffi_prep_raw_closure_loc), called where it is
// executable, and freed where it came from ffi_closure_alloc. With the drop-in, its statistics
// must show every foreign call forwarded and its own closures allocated, prepared and freed.
// Prints "foreign closures: ok" and exits 0, or names the first failed check and exits 1.
#define _GNU_SOURCE
// ffi_prep_closure is deprecated, and still called by old clients: it is one of the entry points.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include <dlfcn.h>
#include <ffi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHECK(condition)                                                                    \
    do {                                                                                    \
        if (!(condition)) {                                                                 \
            fprintf(stderr, "foreign_closures.c:%d: check failed: %s\n", __LINE__, #condition); \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)

typedef struct {
    size_t allocated, prepared, freed, forwarded;
} stats_t;

static void (*drop_in_statistics)(stats_t *);

static stats_t statistics(void) {
    stats_t s = {0, 0, 0, 0};
    if (drop_in_statistics) drop_in_statistics(&s);
    return s;
}

static ffi_cif cif_int_int;
static ffi_type *int_int_arguments[2] = {&ffi_type_sint32, &ffi_type_sint32};

/// The closures' function: *result = a * 1000 + b + user_data.
static void handler(ffi_cif *cif, void *result, void **arguments, void *user_data) {
    (void)cif;
    int a = *(int *)arguments[0], b = *(int *)arguments[1];
    *(ffi_arg *)result = (ffi_sarg)(a * 1000 + b + (int)(intptr_t)user_data);
}

static void raw_handler(ffi_cif *cif, void *result, ffi_raw *arguments, void *user_data) {
    (void)cif;
    int a = (int)arguments[0].sint, b = (int)arguments[1].sint;
    *(ffi_arg *)result = (ffi_sarg)(a * 1000 + b + (int)(intptr_t)user_data);
}

static int call(void *code, int a, int b) { return ((int (*)(int, int))code)(a, b); }

/// An rwx mapping of `pages` pages between two PROT_NONE pages; returns its first byte.
static unsigned char *guarded_rwx(size_t pages) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *base = mmap(NULL, (pages + 2) * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(base != MAP_FAILED);
    CHECK(mprotect(base + page, pages * page, PROT_READ | PROT_WRITE | PROT_EXEC) == 0);
    return base + page;
}

/// A foreign closure at `memory` (executable): prepared with each form, called.
static void foreign_in_executable_memory(ffi_closure *closure, int deprecated_form) {
    ffi_status status = deprecated_form ? ffi_prep_closure(closure, &cif_int_int, handler, (void *)(intptr_t)7)
                                        : ffi_prep_closure_loc(closure, &cif_int_int, handler, (void *)(intptr_t)7, closure);
    CHECK(status == FFI_OK);
    CHECK(closure->cif == &cif_int_int && closure->fun == handler && closure->user_data == (void *)(intptr_t)7);
    CHECK(call(closure, 3, 4) == 3011);
}

static void foreign_closures(void) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    stats_t before = statistics();

    // First byte of a mapping whose preceding page is PROT_NONE.
    unsigned char *first = guarded_rwx(1);
    foreign_in_executable_memory((ffi_closure *)first, 0);
    memset(first, 0, page);
    foreign_in_executable_memory((ffi_closure *)first, 1);

    // Last bytes of a mapping whose next page is PROT_NONE.
    unsigned char *last = guarded_rwx(1) + page - ((sizeof(ffi_closure) + 15) / 16 * 16);
    foreign_in_executable_memory((ffi_closure *)last, 0);

    // A raw closure at the first byte of a guarded mapping.
#if !FFI_NO_RAW_API
    unsigned char *raw = guarded_rwx(1);
    CHECK(ffi_prep_raw_closure_loc((ffi_raw_closure *)raw, &cif_int_int, raw_handler, (void *)(intptr_t)9, raw) == FFI_OK);
    CHECK(call(raw, 5, 6) == 5015);
#endif

    // malloc'ed memory (not executable: prepared, its fields checked, never called).
    ffi_closure *heap = malloc(sizeof(ffi_closure));
    CHECK(heap != NULL);
    CHECK(ffi_prep_closure_loc(heap, &cif_int_int, handler, (void *)(intptr_t)1, heap) == FFI_OK);
    CHECK(heap->cif == &cif_int_int && heap->fun == handler && heap->user_data == (void *)(intptr_t)1);
    free(heap);

    // The system libffi's own closures: prepared, called and freed through the drop-in.
    void *libffi = dlopen("libffi.so.8", RTLD_LAZY | RTLD_NOLOAD);
    CHECK(libffi != NULL);
    void *(*system_alloc)(size_t, void **) = (void *(*)(size_t, void **))dlsym(libffi, "ffi_closure_alloc");
    CHECK(system_alloc != NULL);
    for (int i = 0; i < 100; i++) {
        void *code;
        ffi_closure *closure = system_alloc(sizeof(ffi_closure), &code);
        CHECK(closure != NULL);
        CHECK(ffi_prep_closure_loc(closure, &cif_int_int, handler, (void *)(intptr_t)i, code) == FFI_OK);
        CHECK(call(code, 2, i) == 2000 + 2 * i);
        ffi_closure_free(closure);
    }

    if (drop_in_statistics) {
        stats_t after = statistics();
        printf("drop-in counts: %zu forwarded, %zu prepared, %zu allocated, %zu freed\n", after.forwarded - before.forwarded,
               after.prepared - before.prepared, after.allocated - before.allocated, after.freed - before.freed);
        // 3 prepares in guarded memory (+1 raw), 1 malloc'ed, 100 system closures prepared and
        // freed: all forwarded, none adopted.
        size_t expected = 3 + 1 + 1 + 200;
#if FFI_NO_RAW_API
        expected -= 1;
#endif
        CHECK(after.forwarded - before.forwarded == expected);
        CHECK(after.prepared == before.prepared && after.allocated == before.allocated && after.freed == before.freed);
    }
    printf("foreign: guarded first byte, guarded last bytes, raw, malloc'ed, 100 system closures: ok\n");
}

/// The drop-in's own closures, in every payload class and beyond the largest one.
static void own_closures(void) {
    static const size_t sizes[] = {sizeof(ffi_closure), sizeof(ffi_closure) + 16, 200, 1000, 4000, 5000};
    enum { per_size = 300, size_count = sizeof sizes / sizeof *sizes };
    stats_t before = statistics();
    for (size_t s = 0; s < size_count; s++) {
        void *codes[per_size];
        ffi_closure *closures[per_size];
        for (int i = 0; i < per_size; i++) {
            closures[i] = ffi_closure_alloc(sizes[s], &codes[i]);
            CHECK(closures[i] != NULL);
            memset((char *)closures[i] + sizeof(ffi_closure), 0xA5, sizes[s] - sizeof(ffi_closure));
            CHECK(ffi_prep_closure_loc(closures[i], &cif_int_int, handler, (void *)(intptr_t)i, codes[i]) == FFI_OK);
        }
        for (int i = 0; i < per_size; i++) {
            CHECK(call(codes[i], (int)s, i) == (int)s * 1000 + 2 * i);
            if (sizes[s] > sizeof(ffi_closure)) CHECK(((unsigned char *)closures[i])[sizes[s] - 1] == 0xA5);
        }
        for (int i = 0; i < per_size; i++) ffi_closure_free(closures[i]);
    }
#if !FFI_NO_RAW_API
    void *code;
    ffi_raw_closure *raw = ffi_closure_alloc(sizeof(ffi_raw_closure), &code);
    CHECK(raw != NULL);
    CHECK(ffi_prep_raw_closure_loc(raw, &cif_int_int, raw_handler, (void *)(intptr_t)2, code) == FFI_OK);
    CHECK(call(code, 8, 9) == 8011);
    ffi_closure_free(raw);
#endif
    if (drop_in_statistics) {
        stats_t after = statistics();
        printf("drop-in counts: %zu forwarded, %zu prepared, %zu allocated, %zu freed\n", after.forwarded - before.forwarded,
               after.prepared - before.prepared, after.allocated - before.allocated, after.freed - before.freed);
        size_t own = (size_count - 1) * per_size, forwarded = per_size * 3;  // > 4096: alloc, prep, free
#if !FFI_NO_RAW_API
        own += 1;
#endif
        CHECK(after.allocated - before.allocated == own);
        CHECK(after.prepared - before.prepared == own);
        CHECK(after.freed - before.freed == own);
        CHECK(after.forwarded - before.forwarded == forwarded);
    }
    printf("own: %d sizes x %d closures allocated, prepared, called, freed: ok\n", (int)size_count, per_size);
}

int main(void) {
    drop_in_statistics = (void (*)(stats_t *))dlsym(RTLD_DEFAULT, "stubpool_ffi_statistics");
    if (getenv("EXPECT_DROP_IN")) CHECK(drop_in_statistics != NULL);
    CHECK(ffi_prep_cif(&cif_int_int, FFI_DEFAULT_ABI, 2, &ffi_type_sint32, int_int_arguments) == FFI_OK);
    foreign_closures();
    own_closures();
    printf("foreign closures: ok (%s)\n", drop_in_statistics ? "through the drop-in" : "system libffi alone");
    return 0;
}
