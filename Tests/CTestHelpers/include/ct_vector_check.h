// Defines, for one vector type, a target taking ten vectors (eight in registers, two on the
// stack) and returning a weighted sum, and a check that calls a function pointer with seeded
// values and compares its result with a direct call (1 = identical). Each vector width lives in
// its own C target compiled with that width's -m flag: the calling convention for __m256 and
// __m512 follows the translation unit's flags, not function attributes.
#ifndef CT_VECTOR_CHECK_H
#define CT_VECTOR_CHECK_H

#include <immintrin.h>
#include <string.h>

#define CT_VECTOR_CHECK(type, set1, add, mul, lanes)                                              \
    type ct_##type##_target(type a, type b, type c, type d, type e, type f, type g, type h,       \
                                      type i, type j) {                                                      \
        type r = add(a, mul(b, set1(2)));                                                                    \
        r = add(r, mul(c, set1(3))); r = add(r, mul(d, set1(5))); r = add(r, mul(e, set1(7)));               \
        r = add(r, mul(f, set1(11))); r = add(r, mul(g, set1(13))); r = add(r, mul(h, set1(17)));            \
        r = add(r, mul(i, set1(19))); return add(r, mul(j, set1(23)));                                       \
    }                                                                                                        \
    const void *ct_##type##_target_address(void) { return (const void *)ct_##type##_target; }              \
    int ct_##type##_check(const void *fn, unsigned seed) {                                         \
        type v[10];                                                                                          \
        for (int k = 0; k < 10; k++) {                                                                       \
            float lane[lanes];                                                                               \
            for (int l = 0; l < lanes; l++) lane[l] = (float)((seed * 31u + (unsigned)k * 7u + (unsigned)l) % 1000u) + 0.25f; \
            memcpy(&v[k], lane, sizeof v[k]);                                                                \
        }                                                                                                    \
        type (*through)(type, type, type, type, type, type, type, type, type, type) = (type (*)(type, type, type, type, type, type, type, type, type, type))fn; \
        type expected = ct_##type##_target(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]);      \
        type got = through(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]);                      \
        return memcmp(&expected, &got, sizeof got) == 0;                                                     \
    }

#endif
