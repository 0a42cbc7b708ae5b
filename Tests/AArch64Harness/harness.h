// The emulated AArch64 harness: maps stub templates made by StubPool's Swift encoders the way the
// pool does and calls through them. Cross-compiled with aarch64-linux-gnu-gcc together with the
// C shim and the C test helpers, run under qemu-aarch64 by the Swift tests (AArch64EmulationTests).
#ifndef HARNESS_H
#define HARNESS_H

#include <ffi.h>
#include <stddef.h>
#include <stdint.h>

enum harness_kind { KIND_FORWARD, KIND_CONTEXT, KIND_BIND };

/// One mapped chunk: code from the template (read+execute, shared memfd), then read+write data.
struct harness_chunk {
    unsigned char *base;
    size_t code_size, data_size, slot_size;
    size_t slots;             // code slots, the anchor (last) included
    enum harness_kind kind;
    size_t released_offset;   // forward only: the released entry inside a slot
    size_t lazy_offset;       // lazy context templates: the lazy entry inside a slot (0: none)
};

static inline void *harness_stub(const struct harness_chunk *c, size_t slot) { return c->base + slot * c->slot_size; }
static inline uint64_t *harness_data(const struct harness_chunk *c, size_t slot) {
    return (uint64_t *)(c->base + c->code_size + slot * 16);  // [0] context, [1] target
}
/// Publishes a data slot: context, then the target with a release store (as the pool does).
void harness_publish(const struct harness_chunk *c, size_t slot, uint64_t target, uint64_t context);

/// Makes the next call of `slot` reach `target` with `context`: published directly, or (lazy
/// templates) by leaving the slot pending so the call goes through the lazy resolver (lazy.c).
void harness_prepare_call(const struct harness_chunk *c, size_t slot, uint64_t target, uint64_t context);
extern unsigned harness_lazy_resolutions, harness_lazy_wrong_slots;

/// SplitMix64, as in the Swift tests.
static inline uint64_t harness_random(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/// Runs arena bodies listed in `path` (emitted.c); prints a RESULT line. `--emitted -` with an
/// empty file just reports the address of ct_weighted3 (the harness is linked -no-pie, so it is
/// the same in every run).
int harness_run_emitted(const char *path);
/// Backtraces from a trap inside a chunk mapped at `address`, without and with its .eh_frame
/// section (--unwind TEMPLATE EH_FRAME ADDRESS CODE_SIZE); see unwind.c.
int harness_run_unwind(const char *template_path, const char *eh_frame_path, uintptr_t address, size_t code_size);

// ---- Signatures (signatures.c) ----------------------------------------------------------------

/// A signature parsed from the Swift tests' textual form, e.g. `double(s32, {float,float}, ...,
/// double)`, prepared for libffi, with argument values.
struct harness_signature {
    ffi_cif cif;
    ffi_type *rtype;
    ffi_type *types[24];
    void *values[24];
    unsigned nargs, nfixed;    // nfixed == nargs when not variadic
    int variadic;
    // Where AAPCS64 puts things (computed independently of libffi).
    int uses_hfa, indirect_result, stack_arguments;
    unsigned general_demand;   // x registers the arguments would take with no limit
    uint64_t prefix_value;     // the value of the leading pointer argument, if any
    void *owned[96];           // allocations to free
    unsigned owned_count;
};
/// Parses `text` into `sig`, prepares its cif (with `prefix_pointer`, an extra leading pointer
/// argument) and fills argument values from `seed`. Returns 0 or -1 with a message on stderr.
int harness_parse_signature(const char *text, int prefix_pointer, uint64_t seed, struct harness_signature *sig);
void harness_free_signature(struct harness_signature *sig);

// ---- Oracles (oracle.c) -------------------------------------------------------------------------

/// libffi random-signature oracle through stub `slot`: returns mismatches; adds to the counters.
struct harness_oracle_counts { unsigned signatures, variadic, hfa, indirect, stack, skipped; };
unsigned harness_ffi_oracle(const struct harness_chunk *c, size_t slot, const char *path, uint64_t seed,
                            struct harness_oracle_counts *counts);
/// Full register state through stub `slot`, `rounds` random states: returns mismatches.
unsigned harness_register_oracle(const struct harness_chunk *c, size_t slot, unsigned rounds, uint64_t seed);

#endif
