// StubPool from C: a pool of closures, lazy closures materialized in one batch, and generated code
// in the W^X arena. Every step is checked; the program exits non-zero on the first surprise.
//
// Build (from the package root, after `swift build`):
//   cc -std=c11 -I Sources/CStubPoolAPI/include Examples/CEmbedding/example.c
//      -L .build/debug -lStubPoolC -Wl,-rpath,$PWD/.build/debug -o /tmp/stubpool-example
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stubpool.h"

#define CHECK(call)                                                                               \
    do {                                                                                          \
        stubpool_status_t status_ = (call);                                                       \
        if (status_ != STUBPOOL_OK) {                                                             \
            fprintf(stderr, "%s:%d: %s failed: %s (%s)\n", __FILE__, __LINE__, #call,             \
                    stubpool_status_name(status_), stubpool_last_error());                        \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)
#define EXPECT(condition)                                                                         \
    do {                                                                                          \
        if (!(condition)) {                                                                       \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #condition);              \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)

// --- 1. A pool of closures: bindFirstArgument stubs pass their context as the first argument.

typedef struct { int64_t scale; } multiplier_t;

static int64_t multiply(multiplier_t *self, int64_t x) { return self->scale * x; }
static int64_t add_one(multiplier_t *self, int64_t x) { (void)self; return x + 1; }

static void pools(void) {
    stubpool_config_t config;
    stubpool_config_init(&config);
    config.kind = STUBPOOL_KIND_BIND_FIRST_ARGUMENT;
    config.name = "closures";  // in profiles, gdb and descriptions: "closures#<id>"
    stubpool_pool_t *pool;
    CHECK(stubpool_pool_create(&config, &pool));

    multiplier_t triple = {3}, seven = {7};
    void *stub;
    CHECK(stubpool_pool_allocate(pool, (const void *)multiply, (uintptr_t)&triple, &stub));
    CHECK(stubpool_pool_set_name(pool, stub, "closure:times"));
    char name[32];
    CHECK(stubpool_pool_get_name(pool, stub, name, sizeof name, NULL));
    EXPECT(strcmp(name, "closure:times") == 0);
    int64_t (*times)(int64_t) = (int64_t (*)(int64_t))stub;  // a plain C function pointer
    EXPECT(times(14) == 42);

    CHECK(stubpool_pool_set_context(pool, stub, (uintptr_t)&seven));
    EXPECT(times(6) == 42);
    CHECK(stubpool_pool_retarget(pool, stub, (const void *)add_one, (uintptr_t)&seven));
    EXPECT(times(41) == 42);

    const void *target;
    uintptr_t context;
    CHECK(stubpool_pool_get_target(pool, stub, &target, &context));
    EXPECT(target == (const void *)add_one && context == (uintptr_t)&seven);

    // Lookup by any byte of the stub's code.
    void *found;
    uint64_t id;
    CHECK(stubpool_pool_lookup(pool, (const char *)stub + 3, &found, &id));
    EXPECT(found == stub);

    // Many at once.
    void *many[1000];
    CHECK(stubpool_pool_allocate_n(pool, 1000, (const void *)multiply, (uintptr_t)&triple, many));
    for (int i = 0; i < 1000; i++) EXPECT(((int64_t (*)(int64_t))many[i])(i) == 3 * i);

    stubpool_pool_stats_t stats = {.struct_size = sizeof stats};
    CHECK(stubpool_pool_statistics(pool, &stats));
    EXPECT(stats.live_stubs == 1001);
    printf("pool: 1001 live stubs in %zu chunk(s), %zu resident bytes of data\n", stats.chunks,
           stats.resident_data_bytes);

    // Release, then reclaim once no thread can be inside the released stubs (a safepoint).
    for (int i = 0; i < 1000; i++) CHECK(stubpool_pool_release(pool, many[i]));
    EXPECT(stubpool_pool_reclaim(pool) == 1000);

    // Bad input is an error code and a message, never a crash, and changes nothing.
    EXPECT(stubpool_pool_release(pool, many[0]) == STUBPOOL_E_RELEASED);
    EXPECT(stubpool_pool_retarget(pool, stub, (const void *)16, 0) == STUBPOOL_E_INVALID_TARGET);
    printf("bad target: %s: %s\n", stubpool_status_name(stubpool_last_error_code()), stubpool_last_error());
    EXPECT(stubpool_pool_retarget(pool, (char *)stub + 1, (const void *)multiply, 0) == STUBPOOL_E_FOREIGN_STUB);
    EXPECT(stubpool_pool_allocate_n(pool, 0, (const void *)multiply, 0, many) == STUBPOOL_E_INVALID_COUNT);
    EXPECT(stubpool_pool_allocate(NULL, (const void *)multiply, 0, &stub) == STUBPOOL_E_INVALID_ARGUMENT);
    EXPECT(times(41) == 42);

    stubpool_pool_destroy(pool);

    // Payloads: the closure's environment lives beside its stub, no malloc; freed with the stub.
    config.payload_size = sizeof(multiplier_t) <= 16 ? 16 : 32;
    CHECK(stubpool_pool_create(&config, &pool));
    void *payload;
    CHECK(stubpool_pool_allocate_with_payload(pool, (const void *)multiply, 0, &stub, &payload));
    multiplier_t *environment = payload;
    environment->scale = 6;
    CHECK(stubpool_pool_set_context(pool, stub, (uintptr_t)environment));
    EXPECT(((int64_t (*)(int64_t))stub)(7) == 42);
    void *again;
    CHECK(stubpool_pool_payload(pool, stub, &again));
    EXPECT(again == payload);
    CHECK(stubpool_pool_release(pool, stub));
    stubpool_pool_destroy(pool);
}

// --- 2. Lazy closures: nothing is generated until the first call of any of them; then one batch
//        materializes all. The pool's stubs bind their context as the first argument, so each
//        resolved stub is a C closure: stub(x) calls scale(&factors[spec], x), first call included.

static int64_t scale(const int64_t *factor, int64_t x) { return *factor * x; }
static int64_t offset(const int64_t *amount, int64_t x) { return x + *amount; }

static int64_t factors[100];
static size_t batches_seen;

static int generate(void *user, const stubpool_lazy_request_t *requests, size_t count,
                    stubpool_lazy_resolution_t *results) {
    (void)user;
    batches_seen++;
    for (size_t i = 0; i < count; i++) {
        uintptr_t spec = requests[i].spec;
        results[i].target = spec % 2 == 0 ? (const void *)scale : (const void *)offset;
        results[i].context = (uintptr_t)&factors[spec];
    }
    return 0;
}

static void lazy_stubs(void) {
    stubpool_config_t config;
    stubpool_config_init(&config);
    config.kind = STUBPOOL_KIND_BIND_FIRST_ARGUMENT;
    config.lazy_batches = 1;
    stubpool_pool_t *pool;
    CHECK(stubpool_pool_create(&config, &pool));
    stubpool_lazy_t *lazy;
    CHECK(stubpool_lazy_attach(pool, 0, generate, NULL, NULL, &lazy));

    uintptr_t specs[100];
    void *stubs[100];
    for (int i = 0; i < 100; i++) {
        specs[i] = (uintptr_t)i;
        factors[i] = 10 + i;
    }
    CHECK(stubpool_lazy_request_n(lazy, 100, specs, stubs));
    EXPECT(batches_seen == 0);

    EXPECT(((int64_t (*)(int64_t))stubs[2])(9) == 12 * 9);  // first call: one batch for all 100
    EXPECT(batches_seen == 1);
    EXPECT(((int64_t (*)(int64_t))stubs[3])(9) == 9 + 13);  // already materialized
    EXPECT(((int64_t (*)(int64_t))stubs[2])(5) == 12 * 5);
    EXPECT(batches_seen == 1);

    stubpool_lazy_stats_t stats = {.struct_size = sizeof stats};
    CHECK(stubpool_lazy_statistics(lazy, &stats));
    EXPECT(stats.batches == 1 && stats.materialized == 100 && stats.pending == 0);
    printf("lazy: 100 closures materialized by %zu batch\n", stats.batches);
    stubpool_pool_destroy(pool);  // also frees the lazy stubs
}

// --- 3. The code arena: generated bodies, committed in one batch, patched, freed.

#if defined(__x86_64__)
static void return_constant(uint8_t code[8], uint32_t value) {
    code[0] = 0xB8;  // mov eax, imm32; ret
    memcpy(code + 1, &value, 4);
    code[5] = 0xC3;
}
enum { body_size = 6, immediate_offset = 1, immediate_size = 4 };
#elif defined(__aarch64__)
static void return_constant(uint8_t code[8], uint32_t value) {
    uint32_t words[2] = {0x52800000u | ((value & 0xFFFF) << 5), 0xD65F03C0u};  // movz w0, #v; ret
    memcpy(code, words, 8);
}
enum { body_size = 8, immediate_offset = 0, immediate_size = 4 };
#endif

static void arena(void) {
    stubpool_arena_t *arena;
    CHECK(stubpool_arena_create(STUBPOOL_ARENA_PACKED, &arena));
    uint8_t bodies[3][8];
    stubpool_code_t blobs[3];
    for (int i = 0; i < 3; i++) {
        return_constant(bodies[i], 100 + i);
        blobs[i].bytes = bodies[i];
        blobs[i].size = body_size;
    }
    void *entries[3];
    const char *names[3] = {"body:100", "body:101", "body:102"};  // profiles, gdb, descriptions
    CHECK(stubpool_arena_commit_named(arena, blobs, names, 3, entries));
    for (int i = 0; i < 3; i++) EXPECT(((int (*)(void))entries[i])() == 100 + i);

    uint8_t patched[8];
    return_constant(patched, 42);
    stubpool_patch_t patch = {entries[1], immediate_offset, patched + immediate_offset, immediate_size};
    CHECK(stubpool_arena_patch(arena, &patch, 1));
    EXPECT(((int (*)(void))entries[1])() == 42);

    stubpool_patch_t outside = {entries[1], SIZE_MAX, patched, 4};
    EXPECT(stubpool_arena_patch(arena, &outside, 1) == STUBPOOL_E_OUT_OF_BOUNDS);

    CHECK(stubpool_arena_free(arena, entries[0]));
    EXPECT(stubpool_arena_free(arena, entries[0]) == STUBPOOL_E_NOT_LIVE);
    stubpool_arena_stats_t stats = {.struct_size = sizeof stats};
    CHECK(stubpool_arena_statistics(arena, &stats));
    EXPECT(stats.live_blobs == 2);
    printf("arena: %zu live blobs, %zu commit(s), %zu cache-maintenance passes\n", stats.live_blobs,
           stats.commits, stats.cache_maintenance_passes);
    char text[1024];
    size_t length;
    CHECK(stubpool_arena_describe(arena, 1, text, sizeof text, &length));
    EXPECT(length < sizeof text && strstr(text, "body:101") != NULL && strstr(text, "body:100") == NULL);
    printf("%s", text);
    stubpool_arena_destroy(arena);
}

int main(void) {
    EXPECT(stubpool_api_version() == STUBPOOL_API_VERSION);
    pools();
    lazy_stubs();
    arena();
    printf("stubpool C example: ok\n");
    return 0;
}
