// __m256 arguments and results (x86-64, AVX). Call only after ct_cpu_supports_avx() returned 1.
#ifndef CTVECTORS256_H
#define CTVECTORS256_H
const void *ct___m256_target_address(void);
int ct___m256_check(const void *fn, unsigned seed);
#endif
