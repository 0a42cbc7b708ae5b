// Arena bodies in the harness: code emitted by StubPool's Swift emitters is written through the
// read+write view of a memory file mapped twice (as the code arena does), cache maintenance runs
// once over the batch, and each body is called through the read+execute view.
//
// Input lines: "<hex bytes> ret <value>" (call with no arguments, expect value) or
// "<hex bytes> call3 <a> <b> <c> <expected>" (call with three integer arguments).
#include "harness.h"
#include "ctesthelpers.h"
#include "stubpool_shim.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int harness_run_emitted(const char *path) {
    FILE *file = fopen(path, "r");
    if (!file) { perror(path); return 2; }
    size_t size = 1 << 20, used = 0, count = 0;
    int fd, error;
    void *writer, *runner;
    if ((error = stubpool_memfd_create("stubpool-harness-arena", STUBPOOL_MFD_CLOEXEC, &fd))
        || (error = stubpool_ftruncate(fd, (off_t)size))
        || (error = stubpool_mmap(NULL, size, STUBPOOL_PROT_READ | STUBPOOL_PROT_WRITE, STUBPOOL_MAP_SHARED, fd, 0, &writer))
        || (error = stubpool_mmap(NULL, size, STUBPOOL_PROT_READ | STUBPOOL_PROT_EXEC, STUBPOOL_MAP_SHARED, fd, 0, &runner))) {
        fprintf(stderr, "arena mapping failed: %s\n", strerror(error));
        return 2;
    }
    struct body { size_t offset; char kind[8]; int64_t a, b, c, expected; } *bodies = calloc(4096, sizeof *bodies);
    char line[4096];
    while (count < 4096 && fgets(line, sizeof line, file)) {
        char *hex = strtok(line, " \n"), *kind = strtok(NULL, " \n");
        if (!hex || !kind) continue;
        struct body *b = &bodies[count];
        b->offset = used;
        snprintf(b->kind, sizeof b->kind, "%s", kind);
        size_t length = strlen(hex) / 2;
        for (size_t i = 0; i < length; i++) {
            unsigned byte;
            sscanf(hex + 2 * i, "%2x", &byte);
            ((unsigned char *)writer)[used + i] = (unsigned char)byte;
        }
        used = (used + length + 15) & ~(size_t)15;
        int64_t *values[] = {&b->a, &b->b, &b->c, &b->expected};
        if (!strcmp(kind, "ret")) values[0] = &b->expected;
        for (int i = 0; i < (strcmp(kind, "ret") ? 4 : 1); i++) {
            char *token = strtok(NULL, " \n");
            *values[i] = token ? (int64_t)strtoull(token, NULL, 0) : 0;
        }
        count++;
    }
    fclose(file);
    // One maintenance pass over the whole batch, through the executable view.
    stubpool_clear_cache(runner, (char *)runner + used);
    unsigned failures = 0;
    for (size_t i = 0; i < count; i++) {
        const void *fn = (const char *)runner + bodies[i].offset;
        int64_t got = !strcmp(bodies[i].kind, "ret") ? ct_call_constant(fn) : ct_call3(fn, bodies[i].a, bodies[i].b, bodies[i].c);
        if (got != bodies[i].expected) {
            failures++;
            fprintf(stderr, "emitted body %zu (%s): got %" PRId64 ", expected %" PRId64 "\n", i, bodies[i].kind, got, bodies[i].expected);
        }
    }
    free(bodies);
    printf("RESULT emitted=%zu failures=%u weighted3=%#lx\n", count, failures, (unsigned long)(uintptr_t)ct_weighted3);
    return failures ? 1 : 0;
}
