// The C API subset the libffi drop-in (Sources/StubPoolFFI/closures.c) uses, for AArch64 under
// qemu, where the Swift runtime is not available. It is a stand-in for the pool's allocator only:
// the stubs are the real ones — a code region that the Swift encoder made (`stubpool template
// --arch arm64 --kind context --output FILE`) mapped read+execute from a memory file, data slots
// and payloads in a read+write mapping beside it, the released state and the trap from the C shim
// — so libffi's own closure tests, linked with closures.c and this file ahead of -lffi, check the
// drop-in's AArch64 protocol (closure in x17, entry read at tramp + 16, HFA and x8 results).
//
// One chunk per pool (64 KiB of code: 4,095 closures), a free stack and a quarantine, one lock.
// Environment: STUBPOOL_AARCH64_TEMPLATE (the code region file), STUBPOOL_AARCH64_SLOT_SIZE.
#define _GNU_SOURCE
#include "stubpool.h"
#include "stubpool_shim.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct stubpool_pool {
    uintptr_t base;
    size_t code_size, data_size, slot_size, slots, payload_size;
    uintptr_t released_trap;
    pthread_mutex_t lock;
    uint32_t *free_slots, *quarantine;
    size_t free_count, quarantine_count;
    unsigned char *live;
};

static __thread char message[256];
static __thread stubpool_status_t last_code;

static stubpool_status_t fail(stubpool_status_t code, const char *format, const char *detail) {
    snprintf(message, sizeof message, format, detail);
    last_code = code;
    return code;
}

const char *stubpool_last_error(void) { return message; }
stubpool_status_t stubpool_last_error_code(void) { return last_code; }

void stubpool_config_init(stubpool_config_t *config) {
    memset(config, 0, sizeof *config);
    config->struct_size = sizeof *config;
}

static uint64_t *data_slot(const stubpool_pool_t *pool, size_t slot) {
    return (uint64_t *)(pool->base + pool->code_size + slot * 16);  // [0] context, [1] target
}

/// Context first, then the target with a release store: the stub loads the target with acquire.
static void publish(stubpool_pool_t *pool, size_t slot, uintptr_t target, uintptr_t context) {
    uint64_t *words = data_slot(pool, slot);
    __atomic_store_n(&words[0], context, __ATOMIC_RELAXED);
    __atomic_store_n(&words[1], target, __ATOMIC_RELEASE);
}

stubpool_status_t stubpool_pool_create(const stubpool_config_t *config, stubpool_pool_t **out_pool) {
    if (!config || !out_pool) return fail(STUBPOOL_E_INVALID_ARGUMENT, "%s", "NULL configuration or output");
    if (config->kind != STUBPOOL_KIND_CONTEXT || config->landing_pads || config->lazy_batches) {
        return fail(STUBPOOL_E_UNSUPPORTED, "%s", "the AArch64 stand-in maps context stubs without landing pads only");
    }
    const char *path = getenv("STUBPOOL_AARCH64_TEMPLATE"), *slot_size = getenv("STUBPOOL_AARCH64_SLOT_SIZE");
    if (!path || !slot_size) return fail(STUBPOOL_E_SYSTEM, "%s", "STUBPOOL_AARCH64_TEMPLATE / _SLOT_SIZE not set");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat status;
    if (fd < 0 || fstat(fd, &status) != 0) return fail(STUBPOOL_E_SYSTEM, "cannot open the template %s", path);
    stubpool_pool_t *pool = calloc(1, sizeof *pool);
    if (!pool) { close(fd); return fail(STUBPOOL_E_SYSTEM, "%s", "calloc"); }
    pool->code_size = (size_t)status.st_size;
    pool->slot_size = strtoul(slot_size, NULL, 10);
    pool->slots = pool->code_size / pool->slot_size;
    pool->data_size = (pool->slots * 16 + 65535) / 65536 * 65536;  // ChunkGeometry's data region
    pool->payload_size = config->payload_size;
    size_t writable = pool->data_size + pool->slots * pool->payload_size;
    // The whole chunk read+write, then the template read+execute over its code region (r-x, never
    // writable: MAP_SHARED of a read-only file).
    void *base = mmap(NULL, pool->code_size + writable, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED || mmap(base, pool->code_size, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
        close(fd);
        free(pool);
        return fail(STUBPOOL_E_SYSTEM, "%s", "mmap of the chunk");
    }
    close(fd);
    pool->base = (uintptr_t)base;
    pool->released_trap = stubpool_released_trap_entry(STUBPOOL_TRAP_FROM_CONTEXT_REGISTER);
    // The anchor slot: the trap, then the lazy resolver (unused: no lazy stubs here).
    data_slot(pool, pool->slots - 1)[0] = stubpool_released_trap_entry(STUBPOOL_TRAP_FROM_RETURN_ADDRESS);
    data_slot(pool, pool->slots - 1)[1] = stubpool_released_trap_entry(STUBPOOL_TRAP_FROM_RETURN_ADDRESS);
    pool->free_slots = calloc(pool->slots, sizeof *pool->free_slots);
    pool->quarantine = calloc(pool->slots, sizeof *pool->quarantine);
    pool->live = calloc(pool->slots, 1);
    pthread_mutex_init(&pool->lock, NULL);
    for (size_t slot = pool->slots - 1; slot-- > 0;) {
        publish(pool, slot, pool->released_trap, pool->base + slot * pool->slot_size);
        pool->free_slots[pool->free_count++] = (uint32_t)slot;
    }
    *out_pool = pool;
    return STUBPOOL_OK;
}

/// The slot whose entry is `stub`, or (size_t)-1.
static size_t slot_of(const stubpool_pool_t *pool, const void *stub) {
    uintptr_t address = (uintptr_t)stub;
    if (address < pool->base || address >= pool->base + pool->code_size - pool->slot_size) return (size_t)-1;
    if ((address - pool->base) % pool->slot_size != 0) return (size_t)-1;
    return (address - pool->base) / pool->slot_size;
}

stubpool_status_t stubpool_pool_allocate_with_payload(stubpool_pool_t *pool, const void *target, uintptr_t context,
                                                 void **out_stub, void **out_payload) {
    if (!pool || !target || !out_stub) return fail(STUBPOOL_E_INVALID_ARGUMENT, "%s", "NULL argument");
    pthread_mutex_lock(&pool->lock);
    if (pool->free_count == 0) {
        pthread_mutex_unlock(&pool->lock);
        return fail(STUBPOOL_E_SYSTEM, "%s", "the stand-in's single chunk is full");
    }
    size_t slot = pool->free_slots[--pool->free_count];
    pool->live[slot] = 1;
    pthread_mutex_unlock(&pool->lock);
    publish(pool, slot, (uintptr_t)target, context);
    *out_stub = (void *)(pool->base + slot * pool->slot_size);
    if (out_payload) *out_payload = (void *)(pool->base + pool->code_size + pool->data_size + slot * pool->payload_size);
    return STUBPOOL_OK;
}

stubpool_status_t stubpool_pool_allocate_closure(stubpool_pool_t *pool, const void *target, void **out_stub, void **out_payload) {
    if (!out_payload) return fail(STUBPOOL_E_INVALID_ARGUMENT, "%s", "NULL out_payload");
    stubpool_status_t status = stubpool_pool_allocate_with_payload(pool, target, 0, out_stub, out_payload);
    return status == STUBPOOL_OK ? stubpool_pool_retarget(pool, *out_stub, target, (uintptr_t)*out_payload) : status;
}

stubpool_status_t stubpool_pool_allocate_closures(stubpool_pool_t *pool, size_t count, const void *target, void **out_stubs,
                                                  void **out_payloads) {
    if (!pool || !target || !out_stubs || !out_payloads) return fail(STUBPOOL_E_INVALID_ARGUMENT, "%s", "NULL argument");
    if (count == 0 || count > pool->slots) return fail(STUBPOOL_E_INVALID_COUNT, "%s", "invalid count");
    pthread_mutex_lock(&pool->lock);
    if (pool->free_count < count) {
        pthread_mutex_unlock(&pool->lock);
        return fail(STUBPOOL_E_SYSTEM, "%s", "the stand-in's single chunk is full");
    }
    size_t slots[count];
    for (size_t i = 0; i < count; i++) {
        slots[i] = pool->free_slots[--pool->free_count];
        pool->live[slots[i]] = 1;
    }
    pthread_mutex_unlock(&pool->lock);
    for (size_t i = 0; i < count; i++) {
        out_stubs[i] = (void *)(pool->base + slots[i] * pool->slot_size);
        out_payloads[i] = (void *)(pool->base + pool->code_size + pool->data_size + slots[i] * pool->payload_size);
        publish(pool, slots[i], (uintptr_t)target, (uintptr_t)out_payloads[i]);
    }
    return STUBPOOL_OK;
}

stubpool_status_t stubpool_pool_allocate(stubpool_pool_t *pool, const void *target, uintptr_t context, void **out_stub) {
    return stubpool_pool_allocate_with_payload(pool, target, context, out_stub, NULL);
}

stubpool_status_t stubpool_pool_retarget(stubpool_pool_t *pool, void *stub, const void *target, uintptr_t context) {
    if (!pool || !target) return fail(STUBPOOL_E_INVALID_ARGUMENT, "%s", "NULL argument");
    size_t slot = slot_of(pool, stub);
    if (slot == (size_t)-1) return fail(STUBPOOL_E_FOREIGN_STUB, "%s", "not a stub of this pool");
    if (!__atomic_load_n(&pool->live[slot], __ATOMIC_ACQUIRE)) return fail(STUBPOOL_E_RELEASED, "%s", "released stub");
    publish(pool, slot, (uintptr_t)target, context);
    return STUBPOOL_OK;
}

stubpool_status_t stubpool_pool_release(stubpool_pool_t *pool, void *stub) {
    if (!pool) return fail(STUBPOOL_E_INVALID_ARGUMENT, "%s", "NULL pool");
    size_t slot = slot_of(pool, stub);
    if (slot == (size_t)-1) return fail(STUBPOOL_E_FOREIGN_STUB, "%s", "not a stub of this pool");
    pthread_mutex_lock(&pool->lock);
    if (!pool->live[slot]) {
        pthread_mutex_unlock(&pool->lock);
        return fail(STUBPOOL_E_RELEASED, "%s", "released stub");
    }
    pool->live[slot] = 0;
    publish(pool, slot, pool->released_trap, (uintptr_t)stub);
    pool->quarantine[pool->quarantine_count++] = (uint32_t)slot;
    pthread_mutex_unlock(&pool->lock);
    return STUBPOOL_OK;
}

size_t stubpool_pool_reclaim(stubpool_pool_t *pool) {
    if (!pool) return 0;
    pthread_mutex_lock(&pool->lock);
    size_t count = pool->quarantine_count;
    for (size_t i = 0; i < count; i++) pool->free_slots[pool->free_count++] = pool->quarantine[i];
    pool->quarantine_count = 0;
    pthread_mutex_unlock(&pool->lock);
    return count;
}

stubpool_status_t stubpool_pool_payload_owner(stubpool_pool_t *pool, const void *payload, void **out_stub) {
    if (!pool || !out_stub) return fail(STUBPOOL_E_INVALID_ARGUMENT, "%s", "NULL argument");
    // From the address alone, as the real pool: nothing at `payload` is read.
    uintptr_t start = pool->base + pool->code_size + pool->data_size, address = (uintptr_t)payload;
    if (address < start || address >= start + (pool->slots - 1) * pool->payload_size ||
        (address - start) % pool->payload_size != 0) {
        return fail(STUBPOOL_E_NOT_FOUND, "%s", "not the payload of a stub of this pool");
    }
    *out_stub = (void *)(pool->base + (address - start) / pool->payload_size * pool->slot_size);
    return STUBPOOL_OK;
}

stubpool_status_t stubpool_pool_payload_release(stubpool_pool_t *pool, const void *payload) {
    void *stub;
    stubpool_status_t status = stubpool_pool_payload_owner(pool, payload, &stub);
    if (status == STUBPOOL_E_NOT_FOUND) return fail(STUBPOOL_E_FOREIGN_STUB, "%s", "not the payload of a stub of this pool");
    return status == STUBPOOL_OK ? stubpool_pool_release(pool, stub) : status;
}

stubpool_status_t stubpool_pool_payload_release_each(stubpool_pool_t *pool, size_t count, const void *const *payloads,
                                                     stubpool_status_t *out_statuses) {
    if (!pool || !payloads || !out_statuses) return fail(STUBPOOL_E_INVALID_ARGUMENT, "%s", "NULL argument");
    if (count == 0) return fail(STUBPOOL_E_INVALID_COUNT, "%s", "invalid count");
    for (size_t i = 0; i < count; i++) out_statuses[i] = stubpool_pool_payload_release(pool, payloads[i]);
    return STUBPOOL_OK;
}

void stubpool_pool_destroy(stubpool_pool_t *pool) {
    if (!pool) return;
    munmap((void *)pool->base, pool->code_size + pool->data_size + pool->slots * pool->payload_size);
    free(pool->free_slots);
    free(pool->quarantine);
    free(pool->live);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}
