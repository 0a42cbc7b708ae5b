// The libffi drop-in: libffi's closure functions, served by StubPool (stubpool_ffi.h); every
// other libffi function stays the system libffi's. Load it with LD_PRELOAD or link it ahead of
// -lffi. With STUBPOOL_FFI_AUDIT=1 the process reports at exit how many closures were StubPool
// stubs and lists every writable+executable mapping, exiting with status 97 if there is one
// (STUBPOOL_FFI_AUDIT=counts: the same report, no exit status).
#include "stubpool_ffi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *ffi_closure_alloc(size_t size, void **code) { return stubpool_ffi_closure_alloc(size, code); }

void ffi_closure_free(void *closure) { stubpool_ffi_closure_free(closure); }

ffi_status ffi_prep_closure_loc(ffi_closure *closure, ffi_cif *cif, void (*fun)(ffi_cif *, void *, void **, void *),
                                void *user_data, void *codeloc) {
    return stubpool_ffi_prep_closure_loc(closure, cif, fun, user_data, codeloc);
}

ffi_status ffi_prep_closure(ffi_closure *closure, ffi_cif *cif, void (*fun)(ffi_cif *, void *, void **, void *),
                            void *user_data) {
    return stubpool_ffi_prep_closure(closure, cif, fun, user_data);
}

ffi_status ffi_prep_raw_closure_loc(ffi_raw_closure *closure, ffi_cif *cif, void (*fun)(ffi_cif *, void *, ffi_raw *, void *),
                                    void *user_data, void *codeloc) {
    return stubpool_ffi_prep_raw_closure_loc(closure, cif, fun, user_data, codeloc);
}

ffi_status ffi_prep_raw_closure(ffi_raw_closure *closure, ffi_cif *cif, void (*fun)(ffi_cif *, void *, ffi_raw *, void *),
                                void *user_data) {
    return stubpool_ffi_prep_raw_closure(closure, cif, fun, user_data);
}

// The Java forms are deprecated in ffi.h; their clients still reach them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
ffi_status ffi_prep_java_raw_closure_loc(ffi_java_raw_closure *closure, ffi_cif *cif,
                                         void (*fun)(ffi_cif *, void *, ffi_java_raw *, void *), void *user_data,
                                         void *codeloc) {
    return stubpool_ffi_prep_java_raw_closure_loc(closure, cif, fun, user_data, codeloc);
}

ffi_status ffi_prep_java_raw_closure(ffi_java_raw_closure *closure, ffi_cif *cif,
                                     void (*fun)(ffi_cif *, void *, ffi_java_raw *, void *), void *user_data) {
    return stubpool_ffi_prep_java_raw_closure(closure, cif, fun, user_data);
}
#pragma GCC diagnostic pop

/// Whether the audit ends the process with status 97 when it finds a writable+executable mapping
/// (STUBPOOL_FFI_AUDIT=counts reports only: under valgrind, whose own code cache is one).
static int audit_fails_on_wx;

/// STUBPOOL_FFI_AUDIT=1: at exit, report the counters and every writable+executable mapping of
/// the process; exit with status 97 if there is one.
static void audit_at_exit(void) {
    stubpool_ffi_stats_t s;
    stubpool_ffi_statistics(&s);
    size_t wx = 0;
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    while (maps && fgets(line, sizeof line, maps)) {
        char permissions[8] = "";
        if (sscanf(line, "%*s %7s", permissions) == 1 && permissions[1] == 'w' && permissions[2] == 'x') {
            fprintf(stderr, "stubpool-ffi audit: writable+executable mapping: %s", line);
            wx++;
        }
    }
    if (maps) fclose(maps);
    fprintf(stderr, "stubpool-ffi audit: %zu closures allocated as StubPool stubs, %zu prepared, %zu freed, "
                    "%zu forwarded to the system libffi; %zu writable+executable mappings\n",
            s.allocated, s.prepared, s.freed, s.forwarded, wx);
    if (wx && audit_fails_on_wx) _exit(97);
}

/// Registers the exit audit at load time, so that processes that never make a closure report too.
__attribute__((constructor)) static void register_audit(void) {
    const char *audit = getenv("STUBPOOL_FFI_AUDIT");
    if (!audit || !*audit || strcmp(audit, "0") == 0) return;
    audit_fails_on_wx = strcmp(audit, "counts") != 0;
    atexit(audit_at_exit);
}
