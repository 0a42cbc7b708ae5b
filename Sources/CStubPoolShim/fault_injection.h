// Per-thread fault injection for the system-call wrappers (debug builds only).
#ifndef STUBPOOL_FAULT_INJECTION_H
#define STUBPOOL_FAULT_INJECTION_H

#include "stubpool_shim.h"

#ifdef STUBPOOL_FAULT_INJECTION
/// Counts the call; returns the errno to fail with, or 0 to proceed.
int stubpool_fault_check(stubpool_syscall_t syscall);
/// Adds `delta` bytes to the ledger behind stubpool_mapped_bytes.
void stubpool_ledger_add(long delta);
#define STUBPOOL_LEDGER_ADD(delta) stubpool_ledger_add(delta)
#define STUBPOOL_FAULT_POINT(sys)                          \
    do {                                                   \
        int stubpool_injected_ = stubpool_fault_check(sys); \
        if (stubpool_injected_ != 0) {                     \
            errno = stubpool_injected_;                    \
            return stubpool_injected_;                     \
        }                                                  \
    } while (0)
#else
#define STUBPOOL_LEDGER_ADD(delta) ((void)0)
#define STUBPOOL_FAULT_POINT(sys) ((void)0)
#endif

#endif
