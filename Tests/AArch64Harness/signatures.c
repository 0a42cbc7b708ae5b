// Parses the Swift tests' textual signatures and classifies them by the AAPCS64 rules.
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *own(struct harness_signature *sig, size_t size) {
    if (sig->owned_count == sizeof sig->owned / sizeof sig->owned[0]) return NULL;
    void *memory = calloc(1, size < 16 ? 16 : size);
    if (memory) sig->owned[sig->owned_count++] = memory;
    return memory;
}

static void skip_spaces(const char **p) { while (**p == ' ') (*p)++; }

static ffi_type *parse_type(const char **p, struct harness_signature *sig) {
    skip_spaces(p);
    if (**p == '{') {
        (*p)++;
        ffi_type *members[16];
        unsigned count = 0;
        for (;;) {
            ffi_type *member = parse_type(p, sig);
            if (!member || count == 15) return NULL;
            members[count++] = member;
            skip_spaces(p);
            if (**p == ',') { (*p)++; continue; }
            if (**p == '}') { (*p)++; break; }
            return NULL;
        }
        ffi_type *type = own(sig, sizeof *type);
        ffi_type **elements = own(sig, (count + 1) * sizeof *elements);
        if (!type || !elements) return NULL;
        memcpy(elements, members, count * sizeof *elements);
        type->type = FFI_TYPE_STRUCT;
        type->elements = elements;
        return type;
    }
    static const struct { const char *name; ffi_type *type; } scalars[] = {
        {"void", &ffi_type_void}, {"u8", &ffi_type_uint8}, {"s8", &ffi_type_sint8},
        {"u16", &ffi_type_uint16}, {"s16", &ffi_type_sint16}, {"u32", &ffi_type_uint32},
        {"s32", &ffi_type_sint32}, {"u64", &ffi_type_uint64}, {"s64", &ffi_type_sint64},
        {"float", &ffi_type_float}, {"double", &ffi_type_double}, {"ptr", &ffi_type_pointer},
    };
    size_t length = strcspn(*p, ",)}( ");
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++) {
        if (strlen(scalars[i].name) == length && strncmp(*p, scalars[i].name, length) == 0) {
            *p += length;
            return scalars[i].type;
        }
    }
    return NULL;
}

/// Members of a homogeneous floating-point aggregate (1-4 members of one FP type), or 0.
static unsigned hfa_members(const ffi_type *type) {
    if (type->type != FFI_TYPE_STRUCT) return 0;
    unsigned count = 0;
    unsigned short kind = 0;
    for (size_t i = 0; type->elements[i]; i++) {
        unsigned short member = type->elements[i]->type;
        if (member != FFI_TYPE_FLOAT && member != FFI_TYPE_DOUBLE) return 0;
        if (kind && member != kind) return 0;
        kind = member;
        count++;
    }
    return count <= 4 ? count : 0;
}

/// AAPCS64 argument allocation (Linux: variadic arguments follow the same rules).
static void classify(struct harness_signature *sig) {
    unsigned ngrn = 0, nsrn = 0;
    sig->uses_hfa = hfa_members(sig->rtype) > 0;
    sig->indirect_result = sig->rtype->type == FFI_TYPE_STRUCT && sig->rtype->size > 16 && !hfa_members(sig->rtype);
    for (unsigned i = 0; i < sig->nargs; i++) {
        const ffi_type *type = sig->types[i];
        unsigned hfa = hfa_members(type);
        if (type->type == FFI_TYPE_FLOAT || type->type == FFI_TYPE_DOUBLE || hfa) {
            unsigned needed = hfa ? hfa : 1;
            sig->uses_hfa |= hfa > 0;
            if (nsrn + needed <= 8) nsrn += needed; else { nsrn = 8; sig->stack_arguments = 1; }
            continue;
        }
        unsigned words = 1;
        if (type->type == FFI_TYPE_STRUCT && type->size <= 16) words = (unsigned)((type->size + 7) / 8);
        sig->general_demand += words;
        if (ngrn + words <= 8) ngrn += words; else { ngrn = 8; sig->stack_arguments = 1; }
    }
}

int harness_parse_signature(const char *text, int prefix_pointer, uint64_t seed, struct harness_signature *sig) {
    memset(sig, 0, sizeof *sig);
    const char *p = text;
    sig->rtype = parse_type(&p, sig);
    skip_spaces(&p);
    if (!sig->rtype || *p++ != '(') goto malformed;
    if (prefix_pointer) {
        sig->types[sig->nargs] = &ffi_type_pointer;
        sig->values[sig->nargs++] = &sig->prefix_value;
    }
    sig->nfixed = (unsigned)-1;
    skip_spaces(&p);
    while (*p && *p != ')') {
        if (strncmp(p, "...", 3) == 0) {
            sig->nfixed = sig->nargs;
            p += 3;
        } else {
            if (sig->nargs == sizeof sig->types / sizeof sig->types[0]) goto malformed;
            ffi_type *type = parse_type(&p, sig);
            if (!type || type == &ffi_type_void) goto malformed;
            sig->types[sig->nargs++] = type;
        }
        skip_spaces(&p);
        if (*p == ',') p++;
        skip_spaces(&p);
    }
    if (*p != ')') goto malformed;
    sig->variadic = sig->nfixed != (unsigned)-1;
    if (!sig->variadic) sig->nfixed = sig->nargs;
    ffi_status status = sig->variadic
        ? ffi_prep_cif_var(&sig->cif, FFI_DEFAULT_ABI, sig->nfixed, sig->nargs, sig->rtype, sig->types)
        : ffi_prep_cif(&sig->cif, FFI_DEFAULT_ABI, sig->nargs, sig->rtype, sig->types);
    if (status != FFI_OK) {
        fprintf(stderr, "ffi_prep_cif failed (%d) for %s\n", (int)status, text);
        harness_free_signature(sig);
        return -1;
    }
    for (unsigned i = prefix_pointer ? 1 : 0; i < sig->nargs; i++) {
        unsigned char *value = own(sig, sig->types[i]->size);
        if (!value) goto malformed;
        for (size_t b = 0; b < sig->types[i]->size; b++) value[b] = (unsigned char)harness_random(&seed);
        sig->values[i] = value;
    }
    classify(sig);
    return 0;
malformed:
    fprintf(stderr, "malformed signature: %s\n", text);
    harness_free_signature(sig);
    return -1;
}

void harness_free_signature(struct harness_signature *sig) {
    for (unsigned i = 0; i < sig->owned_count; i++) free(sig->owned[i]);
    sig->owned_count = 0;
}
