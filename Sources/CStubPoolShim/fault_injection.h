// Per-thread fault injection for the system-call wrappers (debug builds only).
#ifndef STUBPOOL_FAULT_INJECTION_H
#define STUBPOOL_FAULT_INJECTION_H

#include "stubpool_shim.h"

#ifdef STUBPOOL_FAULT_INJECTION
/// Counts the call; returns the errno to fail with, or 0 to proceed.
int stubpool_fault_check(stubpool_syscall_t syscall);
#define STUBPOOL_FAULT_POINT(sys)                          \
    do {                                                   \
        int stubpool_injected_ = stubpool_fault_check(sys); \
        if (stubpool_injected_ != 0) {                     \
            errno = stubpool_injected_;                    \
            return stubpool_injected_;                     \
        }                                                  \
    } while (0)
#else
#define STUBPOOL_FAULT_POINT(sys) ((void)0)
#endif

#endif
