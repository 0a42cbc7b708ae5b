// Lazy stubs in the harness: a slot made pending jumps to its lazy entry, which hands the slot to
// the shim's generic resolver; the handler here plays the pool's batch: it publishes the
// resolution, overwrites the argument registers the resolver must have saved, and returns where
// the call continues.
#include "harness.h"
#include "stubpool_shim.h"

#include <stdio.h>
#include <stdlib.h>

static const struct harness_chunk *pending_chunk;
static size_t pending_slot;
static uint64_t pending_target, pending_context;
unsigned harness_lazy_resolutions, harness_lazy_wrong_slots;

/// Overwrites x0-x8 and q0-q7: a resolver that failed to save them would be caught.
static void clobber_argument_registers(void) {
    __asm__ volatile(
        "movi v0.16b, #0xA5\n\tmovi v1.16b, #0xA5\n\tmovi v2.16b, #0xA5\n\tmovi v3.16b, #0xA5\n\t"
        "movi v4.16b, #0xA5\n\tmovi v5.16b, #0xA5\n\tmovi v6.16b, #0xA5\n\tmovi v7.16b, #0xA5\n\t"
        "mov x0, #-1\n\tmov x1, #-1\n\tmov x2, #-1\n\tmov x3, #-1\n\tmov x4, #-1\n\t"
        "mov x5, #-1\n\tmov x6, #-1\n\tmov x7, #-1\n\tmov x8, #-1"
        ::: "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8",
            "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "memory");
}

static stubpool_lazy_continuation_t resolve(uintptr_t slot) {
    const struct harness_chunk *c = pending_chunk;
    harness_lazy_resolutions++;
    if (!c || slot != (uintptr_t)harness_stub(c, pending_slot)) {
        harness_lazy_wrong_slots++;
        fprintf(stderr, "lazy resolver got slot %#lx, expected %#lx\n", (unsigned long)slot,
                c ? (unsigned long)harness_stub(c, pending_slot) : 0ul);
    }
    clobber_argument_registers();
    if (c) harness_publish(c, pending_slot, pending_target, pending_context);
    return (stubpool_lazy_continuation_t){pending_target, pending_context};
}

void harness_prepare_call(const struct harness_chunk *c, size_t slot, uint64_t target, uint64_t context) {
    if (!c->lazy_offset) {
        harness_publish(c, slot, target, context);
        return;
    }
    stubpool_set_lazy_handler(resolve);
    pending_chunk = c;
    pending_slot = slot;
    pending_target = target;
    pending_context = context;
    // Pending: the target is the slot's own lazy entry; the context is garbage on purpose.
    harness_publish(c, slot, (uint64_t)harness_stub(c, slot) + c->lazy_offset, 0xDEADBEEFull);
}
