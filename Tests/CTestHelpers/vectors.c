// CPU feature checks and the __m128 vector target and check (SSE2 is the x86-64 baseline).
#include "ctesthelpers.h"

#if defined(__x86_64__)
#include "ct_vector_check.h"

int ct_cpu_supports_avx(void) { return __builtin_cpu_supports("avx"); }
int ct_cpu_supports_avx512f(void) { return __builtin_cpu_supports("avx512f"); }

CT_VECTOR_CHECK(__m128, _mm_set1_ps, _mm_add_ps, _mm_mul_ps, 4)
#endif
