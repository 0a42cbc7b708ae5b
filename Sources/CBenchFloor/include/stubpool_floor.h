// The floor: the least an allocator of data-slot stubs must do, in plain C, for the headline to
// measure StubPool against (`floor` subject). No locks, no checks beyond the one a retarget needs,
// no code mapping: a data region of 16-byte slots (target, context), a cache of free slot numbers,
// and 8-byte handles.
#ifndef STUBPOOL_FLOOR_H
#define STUBPOOL_FLOOR_H

#include <stddef.h>
#include <stdint.h>

/// A floor pool of `capacity` slots: its data region (touched once, so that the measured loops
/// run on resident memory, as StubPool's warm pools do), the cache of free slots (all of them),
/// and room for `capacity` handles.
typedef struct floor_pool floor_pool_t;

/// NULL if memory could not be had.
floor_pool_t *floor_pool_create(size_t capacity);
void floor_pool_destroy(floor_pool_t *pool);

/// Allocates `count` stubs (at most the free ones): pops a slot from the cache, writes its data
/// slot (context, then target with a release store) and stores its handle.
void floor_allocate(floor_pool_t *pool, size_t count, uintptr_t target, uintptr_t context);

/// Releases the `count` most recently allocated stubs: writes each one's released value into its
/// data slot and pushes its slot back on the cache.
void floor_release(floor_pool_t *pool, size_t count);

/// Retargets the first `count` allocated stubs `rounds` times each: an ownership compare (the
/// handle lies inside the data region), then one release store of the target.
void floor_retarget(floor_pool_t *pool, size_t count, size_t rounds, uintptr_t target);

/// Bulk allocation into fresh memory: maps `count` data slots and handles (MAP_POPULATE), writes
/// every slot and handle; returns the mapping for floor_bulk_free (NULL if it failed).
void *floor_bulk(size_t count, uintptr_t target);
void floor_bulk_free(void *mapping, size_t count);

#endif
