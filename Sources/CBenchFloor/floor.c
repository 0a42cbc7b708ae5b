// The floor (stubpool_floor.h): what allocation, release, retarget and bulk allocation of
// data-slot stubs cost at the least, for the headline's `floor` column.
#include "stubpool_floor.h"

#include <stdlib.h>
#include <sys/mman.h>

struct floor_pool {
    uintptr_t *data;      // 2 words per slot: context, target
    uintptr_t *handles;   // what an allocation returns: the data slot's address
    uint32_t *cache;      // free slot numbers
    size_t capacity, cached, allocated;
};

/// The value a released slot holds (StubPool stores its trap's address there).
static const uintptr_t released_value = 1;

floor_pool_t *floor_pool_create(size_t capacity) {
    floor_pool_t *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->data = calloc(capacity, 2 * sizeof(uintptr_t));
    pool->handles = calloc(capacity, sizeof(uintptr_t));
    pool->cache = malloc(capacity * sizeof(uint32_t));
    if (!pool->data || !pool->handles || !pool->cache) {
        floor_pool_destroy(pool);
        return NULL;
    }
    pool->capacity = capacity;
    for (size_t slot = 0; slot < capacity; slot++) {
        pool->data[2 * slot + 1] = released_value;
        pool->cache[slot] = (uint32_t)(capacity - 1 - slot);  // lowest slot on top
    }
    pool->cached = capacity;
    return pool;
}

void floor_pool_destroy(floor_pool_t *pool) {
    if (!pool) return;
    free(pool->data);
    free(pool->handles);
    free(pool->cache);
    free(pool);
}

void floor_allocate(floor_pool_t *pool, size_t count, uintptr_t target, uintptr_t context) {
    if (count > pool->cached) count = pool->cached;
    for (size_t i = 0; i < count; i++) {
        uint32_t slot = pool->cache[--pool->cached];
        uintptr_t *words = &pool->data[2 * slot];
        words[0] = context;
        __atomic_store_n(&words[1], target, __ATOMIC_RELEASE);
        pool->handles[pool->allocated++] = (uintptr_t)words;
    }
}

void floor_release(floor_pool_t *pool, size_t count) {
    if (count > pool->allocated) count = pool->allocated;
    for (size_t i = 0; i < count; i++) {
        uintptr_t *words = (uintptr_t *)pool->handles[--pool->allocated];
        __atomic_store_n(&words[1], released_value, __ATOMIC_RELEASE);
        pool->cache[pool->cached++] = (uint32_t)((words - pool->data) / 2);
    }
}

void floor_retarget(floor_pool_t *pool, size_t count, size_t rounds, uintptr_t target) {
    if (count > pool->allocated) count = pool->allocated;
    uintptr_t low = (uintptr_t)pool->data, high = (uintptr_t)(pool->data + 2 * pool->capacity);
    for (size_t round = 0; round < rounds; round++) {
        for (size_t i = 0; i < count; i++) {
            uintptr_t handle = pool->handles[i];
            if (handle - low < high - low) __atomic_store_n(&((uintptr_t *)handle)[1], target + round, __ATOMIC_RELEASE);
        }
    }
}

void *floor_bulk(size_t count, uintptr_t target) {
    size_t bytes = count * 3 * sizeof(uintptr_t);
    void *mapping = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (mapping == MAP_FAILED) return NULL;
    uintptr_t *data = mapping, *handles = data + 2 * count;
    for (size_t slot = 0; slot < count; slot++) {
        data[2 * slot] = 0;
        data[2 * slot + 1] = target;
        handles[slot] = (uintptr_t)&data[2 * slot];
    }
    return mapping;
}

void floor_bulk_free(void *mapping, size_t count) {
    if (mapping) munmap(mapping, count * 3 * sizeof(uintptr_t));
}
