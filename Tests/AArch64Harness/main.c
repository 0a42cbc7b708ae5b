// Entry point of the emulated AArch64 harness: maps a template the way StubPool does and calls
// through every slot, the released-stub traps, BTI guarding, and the two oracles.
//
// harness --template FILE --kind forward|context|bind --slot-size N --code-size N --data-size N
//         [--released-offset N] [--landing-pad] [--bti] [--signatures FILE] [--seed N]
//         [--register-rounds N] [--lazy-offset N]
// harness --emitted FILE   (arena bodies, see emitted.c)
//
// With --bti the code is mapped PROT_BTI (run under `qemu-aarch64 -cpu max`). Without
// --landing-pad the harness then calls one stub and must die of SIGILL.
#include "harness.h"
#include "ctesthelpers.h"
#include "stubpool_shim.h"

#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int failures;
#define CHECK(condition, ...) do { if (!(condition)) { failures++; fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

void harness_publish(const struct harness_chunk *c, size_t slot, uint64_t target, uint64_t context) {
    uint64_t *data = harness_data(c, slot);
    __atomic_store_n(&data[0], context, __ATOMIC_RELAXED);
    __atomic_store_n(&data[1], target, __ATOMIC_RELEASE);
}

static void die(const char *operation, int error) {
    fprintf(stderr, "%s failed: %s\n", operation, strerror(error));
    exit(2);
}

/// Sealed memory file holding the template, written through a temporary writable mapping.
static int template_file(const unsigned char *bytes, size_t size) {
    int fd, error;
    void *writer;
    if ((error = stubpool_memfd_create("stubpool-harness", STUBPOOL_MFD_CLOEXEC | STUBPOOL_MFD_ALLOW_SEALING, &fd))) die("memfd_create", error);
    if ((error = stubpool_ftruncate(fd, (off_t)size))) die("ftruncate", error);
    if ((error = stubpool_mmap(NULL, size, STUBPOOL_PROT_READ | STUBPOOL_PROT_WRITE, STUBPOOL_MAP_SHARED, fd, 0, &writer))) die("mmap writer", error);
    memcpy(writer, bytes, size);
    if ((error = stubpool_munmap(writer, size))) die("munmap writer", error);
    if ((error = stubpool_add_seals(fd, STUBPOOL_SEAL_WRITE | STUBPOOL_SEAL_SHRINK | STUBPOOL_SEAL_GROW | STUBPOOL_SEAL_SEAL))) die("seal", error);
    return fd;
}

/// The released state of a slot, as the pool writes it.
static void release_slot(const struct harness_chunk *c, size_t slot) {
    uint64_t stub = (uint64_t)harness_stub(c, slot);
    switch (c->kind) {
    case KIND_FORWARD: harness_publish(c, slot, stub + c->released_offset, 0); break;
    case KIND_CONTEXT: harness_publish(c, slot, stubpool_released_trap_entry(STUBPOOL_TRAP_FROM_CONTEXT_REGISTER), stub); break;
    case KIND_BIND: harness_publish(c, slot, stubpool_released_trap_entry(STUBPOOL_TRAP_FROM_FIRST_ARGUMENT), stub); break;
    }
}

/// Reserves the chunk read+write, fills the data region (every slot released, the anchor word
/// pointing at the trap), then maps the template read+execute over the code region.
static struct harness_chunk map_chunk(int fd, enum harness_kind kind, size_t slot_size, size_t code_size,
                                      size_t data_size, size_t released_offset, size_t lazy_offset, int bti) {
    struct harness_chunk c = {0};
    int error;
    void *base;
    if ((error = stubpool_mmap(NULL, code_size + data_size, STUBPOOL_PROT_READ | STUBPOOL_PROT_WRITE,
                               STUBPOOL_MAP_PRIVATE | STUBPOOL_MAP_ANONYMOUS, -1, 0, &base))) die("mmap chunk", error);
    c = (struct harness_chunk){base, code_size, data_size, slot_size, code_size / slot_size, kind, released_offset, lazy_offset};
    for (size_t slot = 0; slot + 1 < c.slots; slot++) release_slot(&c, slot);
    // The anchor: the released-stub trap, then the lazy resolver.
    harness_data(&c, c.slots - 1)[0] = stubpool_released_trap_entry(STUBPOOL_TRAP_FROM_RETURN_ADDRESS);
    static const stubpool_lazy_context_t lazy_context[] = {
        [KIND_FORWARD] = STUBPOOL_LAZY_CONTEXT_NONE,
        [KIND_CONTEXT] = STUBPOOL_LAZY_CONTEXT_STATIC_CHAIN,
        [KIND_BIND] = STUBPOOL_LAZY_CONTEXT_FIRST_ARGUMENT,
    };
    harness_data(&c, c.slots - 1)[1] = stubpool_lazy_resolver_entry(lazy_context[kind]);
    int protection = STUBPOOL_PROT_READ | STUBPOOL_PROT_EXEC | (bti ? STUBPOOL_PROT_BTI : 0);
    void *code;
    if ((error = stubpool_mmap(base, code_size, protection, STUBPOOL_MAP_SHARED | STUBPOOL_MAP_FIXED, fd, 0, &code))) die("mmap template", error);
    return c;
}

/// The chunk's code is mapped r-xs from the memory file, its data rw-p: never writable and
/// executable at once.
static void audit_mappings(const struct harness_chunk *c) {
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps) return;
    char line[512];
    int code_seen = 0, data_seen = 0;
    uintptr_t code_start = (uintptr_t)c->base, data_start = code_start + c->code_size, end = data_start + c->data_size;
    while (fgets(line, sizeof line, maps)) {
        unsigned long start, stop;
        char permissions[8];
        if (sscanf(line, "%lx-%lx %7s", &start, &stop, permissions) != 3) continue;
        if (stop <= code_start || start >= end) continue;
        CHECK(strchr(permissions, 'w') == NULL || strchr(permissions, 'x') == NULL, "writable and executable: %s", line);
        if (start < data_start) { code_seen = 1; CHECK(strncmp(permissions, "r-xs", 4) == 0, "code mapped %s", permissions); }
        if (stop > data_start) { data_seen = 1; CHECK(strncmp(permissions, "rw-", 3) == 0, "data mapped %s", permissions); }
    }
    fclose(maps);
    CHECK(code_seen && data_seen, "chunk not found in /proc/self/maps");
}

/// Calls through every slot but the anchor, each with its own target or context.
static size_t call_every_slot(const struct harness_chunk *c) {
    size_t calls = 0;
    for (size_t slot = 0; slot + 1 < c->slots; slot++) {
        void *stub = harness_stub(c, slot);
        switch (c->kind) {
        case KIND_FORWARD:
            harness_prepare_call(c, slot, (uint64_t)ct_constant_functions[slot % 8], 0);
            CHECK(ct_call_constant(stub) == (int64_t)(slot % 8), "forward slot %zu", slot);
            break;
        case KIND_CONTEXT: {
            uint64_t context = ((uint64_t)(uintptr_t)c->base << 20) ^ (slot * 0x9E3779B97F4A7C15ull);
            harness_prepare_call(c, slot, (uint64_t)ct_return_context_register, context);
            CHECK(ct_call0(stub) == context, "context slot %zu", slot);
            break;
        }
        case KIND_BIND: {
            struct ct_capture capture;
            harness_prepare_call(c, slot, (uint64_t)ct_bound_capture, (uint64_t)&capture);
            int64_t a = (int64_t)slot, b = -3, cc = 5, d = 1 << 20, e = -(int64_t)slot;
            int64_t result = ct_call_bound(stub, a, 0.5, b, cc, 0.25, d, e);
            CHECK(result == ct_bound_capture(&(struct ct_capture){0}, a, 0.5, b, cc, 0.25, d, e)
                  && capture.ints[0] == a && capture.ints[4] == e && capture.doubles[1] == 0.25, "bind slot %zu", slot);
            break;
        }
        }
        calls++;
    }
    return calls;
}

static sigjmp_buf released_return;
static volatile uintptr_t released_address;

static void on_released(uintptr_t address_in_stub) {
    released_address = address_in_stub;
    siglongjmp(released_return, 1);
}

/// A released slot's call reaches the trap, which names an address inside that slot.
static size_t check_released(const struct harness_chunk *c) {
    volatile size_t checked = 0;
    size_t slots[] = {0, c->slots / 2, c->slots - 2};
    stubpool_set_released_handler(on_released);
    for (size_t i = 0; i < 3; i++) {
        size_t slot = slots[i];
        uintptr_t stub = (uintptr_t)harness_stub(c, slot);
        release_slot(c, slot);
        released_address = 0;
        if (sigsetjmp(released_return, 1) == 0) {
            ct_call0((void *)stub);
            CHECK(0, "released slot %zu returned", slot);
        }
        CHECK(released_address >= stub && released_address < stub + c->slot_size,
              "released slot %zu reported %#lx, not inside [%#lx, +%zu)", slot, (unsigned long)released_address,
              (unsigned long)stub, c->slot_size);
        checked++;
    }
    stubpool_set_released_handler(NULL);
    return checked;
}

/// Under BTI-guarded pages a stub without a landing pad must fault (SIGILL) when branched to.
/// Called last: the process dies here when BTI is enforced (fork hangs under qemu-user 7.2, so
/// the Swift test watches this process die instead of a child).
static void call_unguarded_stub(const struct harness_chunk *c) {
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    harness_publish(c, 0, (uint64_t)ct_constant_functions[1], 0);
    fflush(NULL);
    ct_call_constant(harness_stub(c, 0));
}

int main(int argc, char **argv) {
    const char *template_path = NULL, *signatures = NULL, *kind_name = "forward";
    size_t slot_size = 0, code_size = 0, data_size = 0, released_offset = 0, lazy_offset = 0;
    unsigned register_rounds = 0;
    int landing_pad = 0, bti = 0;
    uint64_t seed = 1;
    if (argc == 3 && !strcmp(argv[1], "--emitted")) return harness_run_emitted(argv[2]);
    if (argc == 6 && !strcmp(argv[1], "--unwind")) {
        return harness_run_unwind(argv[2], argv[3], (uintptr_t)strtoull(argv[4], NULL, 0), strtoul(argv[5], NULL, 0));
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(arg, "--landing-pad")) { landing_pad = 1; continue; }
        if (!strcmp(arg, "--bti")) { bti = 1; continue; }
        i++;
        if (!strcmp(arg, "--template")) template_path = value;
        else if (!strcmp(arg, "--kind")) kind_name = value;
        else if (!strcmp(arg, "--slot-size")) slot_size = strtoul(value, NULL, 0);
        else if (!strcmp(arg, "--code-size")) code_size = strtoul(value, NULL, 0);
        else if (!strcmp(arg, "--data-size")) data_size = strtoul(value, NULL, 0);
        else if (!strcmp(arg, "--released-offset")) released_offset = strtoul(value, NULL, 0);
        else if (!strcmp(arg, "--lazy-offset")) lazy_offset = strtoul(value, NULL, 0);
        else if (!strcmp(arg, "--signatures")) signatures = value;
        else if (!strcmp(arg, "--seed")) seed = strtoull(value, NULL, 0);
        else if (!strcmp(arg, "--register-rounds")) register_rounds = (unsigned)strtoul(value, NULL, 0);
        else { fprintf(stderr, "unknown argument %s\n", arg); return 2; }
    }
    enum harness_kind kind = !strcmp(kind_name, "context") ? KIND_CONTEXT : !strcmp(kind_name, "bind") ? KIND_BIND : KIND_FORWARD;
    if (!template_path || !slot_size || !code_size || !data_size) { fprintf(stderr, "missing arguments\n"); return 2; }

    FILE *file = fopen(template_path, "rb");
    if (!file) { perror(template_path); return 2; }
    unsigned char *bytes = malloc(code_size + 1);
    size_t size = fread(bytes, 1, code_size + 1, file);
    fclose(file);
    if (size != code_size) { fprintf(stderr, "template is %zu bytes, expected %zu\n", size, code_size); return 2; }
    long page = stubpool_page_size();
    if (code_size % (size_t)page || data_size % (size_t)page) { fprintf(stderr, "regions not page-aligned for %ld-byte pages\n", page); return 2; }

    int fd = template_file(bytes, code_size);
    free(bytes);
    // Two chunks share the one template, as in the pool.
    struct harness_chunk chunks[2];
    for (int i = 0; i < 2; i++) chunks[i] = map_chunk(fd, kind, slot_size, code_size, data_size, released_offset, lazy_offset, bti);

    size_t calls = 0, released = 0;
    const char *bti_state = bti ? "guarded" : "off";
    if (bti && !landing_pad) {
        for (int i = 0; i < 2; i++) audit_mappings(&chunks[i]);
        call_unguarded_stub(&chunks[0]);
        printf("RESULT page=%ld calls=1 released=0 bti=not-enforced failures=%d\n", stubpool_page_size(), failures + 1);
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        audit_mappings(&chunks[i]);
        calls += call_every_slot(&chunks[i]);
        released += check_released(&chunks[i]);
    }
    const struct harness_chunk *c = &chunks[1];
    size_t slot = c->slots / 3;
    unsigned register_mismatches = register_rounds ? harness_register_oracle(c, slot, register_rounds, seed) : 0;
    failures += (int)register_mismatches;
    struct harness_oracle_counts counts = {0};
    unsigned ffi_mismatches = signatures ? harness_ffi_oracle(c, slot, signatures, seed, &counts) : 0;
    failures += (int)ffi_mismatches;
    failures += (int)harness_lazy_wrong_slots;

    printf("RESULT page=%ld calls=%zu released=%zu bti=%s registers=%u register_mismatches=%u "
           "signatures=%u variadic=%u hfa=%u indirect=%u stack=%u skipped=%u ffi_mismatches=%u "
           "lazy_resolutions=%u failures=%d\n",
           page, calls, released, bti_state, register_rounds, register_mismatches, counts.signatures, counts.variadic,
           counts.hfa, counts.indirect, counts.stack, counts.skipped, ffi_mismatches, harness_lazy_resolutions, failures);
    return failures ? 1 : 0;
}
