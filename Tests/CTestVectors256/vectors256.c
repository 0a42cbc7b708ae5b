// The __m256 vector target and check; this target is compiled with -mavx.
#include "ctvectors256.h"

#if defined(__x86_64__)
#include "ct_vector_check.h"
CT_VECTOR_CHECK(__m256, _mm256_set1_ps, _mm256_add_ps, _mm256_mul_ps, 8)
#endif
