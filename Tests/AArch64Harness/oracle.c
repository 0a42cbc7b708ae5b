// Oracles run through one stub: libffi calls with random signatures into a recording libffi
// closure, and the full argument-register state into an assembly recorder.
#include "harness.h"
#include "ctesthelpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct outcome {
    unsigned char log[4096];
    size_t length;
    unsigned calls;
    unsigned char result[64];
};

/// ffi_call of `fn` with a fresh copy of the argument-pointer array (libffi 3.4 rewrites it).
static void call(const struct harness_signature *sig, void *fn, struct outcome *out) {
    void *values[24];
    memcpy(values, sig->values, sizeof values);
    memset(out->result, 0, sizeof out->result);
    ffi_call((ffi_cif *)&sig->cif, FFI_FN(fn), out->result, values);
}

unsigned harness_ffi_oracle(const struct harness_chunk *c, size_t slot, const char *path, uint64_t seed,
                            struct harness_oracle_counts *counts) {
    FILE *file = fopen(path, "r");
    if (!file) { perror(path); return 1; }
    unsigned mismatches = 0, index = 0;
    char line[1024];
    while (fgets(line, sizeof line, file)) {
        line[strcspn(line, "\n")] = 0;
        if (!*line) continue;
        uint64_t state = seed + 0x1000003ull * ++index;
        uint64_t value_seed = harness_random(&state);
        uint64_t context = harness_random(&state);
        struct harness_signature *caller = calloc(1, sizeof *caller), *callee = calloc(1, sizeof *callee);
        if (harness_parse_signature(line, 0, value_seed, caller) != 0) { mismatches++; goto next; }
        // bindFirstArgument: the callee takes the context as an extra leading pointer. That only
        // shifts every argument by one register when all integer-class arguments stay in
        // registers, so other signatures are skipped for this kind.
        int bind = c->kind == KIND_BIND;
        if (bind && caller->general_demand > 7) { counts->skipped++; goto next; }
        if (harness_parse_signature(line, bind, value_seed, callee) != 0) { mismatches++; goto next; }
        callee->prefix_value = context;

        void *code = NULL;
        ffi_closure *closure = ffi_closure_alloc(sizeof(ffi_closure), &code);
        struct outcome *expected = calloc(1, sizeof *expected), *through = calloc(1, sizeof *through);
        struct ct_closure_log log;
        if (!closure || ffi_prep_closure_loc(closure, &callee->cif, ct_closure_recorder, &log, code) != FFI_OK) {
            fprintf(stderr, "closure preparation failed for %s\n", line);
            mismatches++;
        } else {
            log = (struct ct_closure_log){expected->log, sizeof expected->log, 0, 0};
            call(callee, code, expected);
            expected->length = log.length;
            expected->calls = log.calls;

            harness_prepare_call(c, slot, (uint64_t)code, context);
            log = (struct ct_closure_log){through->log, sizeof through->log, 0, 0};
            call(caller, harness_stub(c, slot), through);
            through->length = log.length;
            through->calls = log.calls;

            if (expected->calls != 1 || through->calls != 1 || expected->length != through->length
                || memcmp(expected->log, through->log, expected->length) != 0
                || memcmp(expected->result, through->result, sizeof expected->result) != 0) {
                mismatches++;
                fprintf(stderr, "mismatch: signature #%u %s\n", index, line);
            }
            counts->signatures++;
            counts->variadic += caller->variadic;
            counts->hfa += caller->uses_hfa;
            counts->indirect += caller->indirect_result;
            counts->stack += caller->stack_arguments;
        }
        if (closure) ffi_closure_free(closure);
        free(expected);
        free(through);
    next:
        harness_free_signature(caller);
        harness_free_signature(callee);
        free(caller);
        free(callee);
    }
    fclose(file);
    return mismatches;
}

unsigned harness_register_oracle(const struct harness_chunk *c, size_t slot, unsigned rounds, uint64_t seed) {
    unsigned mismatches = 0;
    for (unsigned round = 0; round < rounds; round++) {
        struct ct_register_record in;
        uint64_t *words = (uint64_t *)&in;
        for (size_t i = 0; i < sizeof in / 8; i++) words[i] = harness_random(&seed);
        uint64_t context = harness_random(&seed);

        ct_call_with_registers((const void *)ct_recorder, &in);
        struct ct_register_record direct = *ct_last_record();
        struct ct_register_record expected = in;
        expected.return_address = direct.return_address;
        if (memcmp(&direct, &expected, sizeof direct) != 0) {
            fprintf(stderr, "round %u: the harness itself is not transparent\n", round);
            return mismatches + 1;
        }
        harness_prepare_call(c, slot, (uint64_t)ct_recorder, context);
        ct_call_with_registers(harness_stub(c, slot), &in);
        struct ct_register_record got = *ct_last_record();
        // A pending stub's lazy entry hands its slot to the resolver in x17 (IP1, which any veneer
        // may clobber as well): only materialized forward and bind stubs leave x17 alone.
        if (c->lazy_offset) expected.context = got.context;
        switch (c->kind) {
        case KIND_FORWARD: break;
        case KIND_CONTEXT: expected.context = context; break;
        case KIND_BIND:
            // x1..x7 take x0..x6; x0 takes the context (fields: integer = x0-x5, rax = x6, extra[0] = x7).
            expected.extra[0] = in.rax;
            expected.rax = in.integer[5];
            for (int i = 5; i > 0; i--) expected.integer[i] = in.integer[i - 1];
            expected.integer[0] = context;
            break;
        }
        if (memcmp(&got, &expected, sizeof got) != 0) {
            mismatches++;
            fprintf(stderr, "round %u: register state changed through the stub\n", round);
        }
    }
    return mismatches;
}
