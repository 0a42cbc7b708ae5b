// Hardware event counters for the icache experiment: perf_event_open and its ioctls only.
#ifndef STUBPOOL_COUNTERS_H
#define STUBPOOL_COUNTERS_H
#include <stdint.h>

typedef enum {
    STUBPOOL_COUNTER_L1I_MISSES = 0,
    STUBPOOL_COUNTER_ITLB_MISSES = 1,
} stubpool_counter_event_t;

/// Opens a disabled counter for this thread (user space only). Returns the fd, or -errno.
int stubpool_counter_open(stubpool_counter_event_t event);
/// Resets and enables the counter. Returns 0 or -errno.
int stubpool_counter_start(int fd);
/// Disables the counter and reads its value into *value. Returns 0 or -errno.
int stubpool_counter_stop(int fd, uint64_t *value);
void stubpool_counter_close(int fd);
#endif
