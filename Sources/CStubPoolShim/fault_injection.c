// Fault injection state: thread-local, so parallel tests do not disturb each other.
#include "stubpool_shim.h"

#include <errno.h>
#include <stdatomic.h>

#include "fault_injection.h"

#ifdef STUBPOOL_FAULT_INJECTION
static _Thread_local unsigned long call_counts[STUBPOOL_SYS_COUNT];
static _Thread_local int armed_syscall = -1;
static _Thread_local unsigned long armed_at;
static _Thread_local int armed_error;

int stubpool_fault_check(stubpool_syscall_t syscall) {
    unsigned long n = ++call_counts[syscall];
    if ((int)syscall == armed_syscall && n == armed_at) {
        armed_syscall = -1;
        return armed_error;
    }
    return 0;
}

int stubpool_fault_arm(stubpool_syscall_t syscall, unsigned int nth, int error) {
    if ((unsigned)syscall >= STUBPOOL_SYS_COUNT || nth == 0 || error == 0) return EINVAL;
    armed_syscall = (int)syscall;
    armed_at = call_counts[syscall] + nth;
    armed_error = error;
    return 0;
}

void stubpool_fault_disarm(void) { armed_syscall = -1; }

unsigned long stubpool_syscall_count(stubpool_syscall_t syscall) {
    return (unsigned)syscall < STUBPOOL_SYS_COUNT ? call_counts[syscall] : 0;
}

static _Atomic long mapped_bytes;

void stubpool_ledger_add(long delta) { atomic_fetch_add_explicit(&mapped_bytes, delta, memory_order_relaxed); }

long stubpool_mapped_bytes(void) { return atomic_load_explicit(&mapped_bytes, memory_order_relaxed); }
#else
long stubpool_mapped_bytes(void) { return -1; }
int stubpool_fault_arm(stubpool_syscall_t syscall, unsigned int nth, int error) {
    (void)syscall; (void)nth; (void)error;
    return ENOTSUP;
}
void stubpool_fault_disarm(void) {}
unsigned long stubpool_syscall_count(stubpool_syscall_t syscall) { (void)syscall; return 0; }
#endif
