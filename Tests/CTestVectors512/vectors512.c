// The __m512 vector target and check; this target is compiled with -mavx512f.
#include "ctvectors512.h"

#if defined(__x86_64__)
#include "ct_vector_check.h"
CT_VECTOR_CHECK(__m512, _mm512_set1_ps, _mm512_add_ps, _mm512_mul_ps, 16)
#endif
