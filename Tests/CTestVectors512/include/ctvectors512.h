// __m512 arguments and results (x86-64, AVX-512F). Call only after ct_cpu_supports_avx512f()
// returned 1.
#ifndef CTVECTORS512_H
#define CTVECTORS512_H
const void *ct___m512_target_address(void);
int ct___m512_check(const void *fn, unsigned seed);
#endif
