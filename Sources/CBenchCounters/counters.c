#define _GNU_SOURCE
#include "stubpool_counters.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int stubpool_counter_open(stubpool_counter_event_t event) {
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_HW_CACHE;
    unsigned long long cache = event == STUBPOOL_COUNTER_L1I_MISSES ? PERF_COUNT_HW_CACHE_L1I : PERF_COUNT_HW_CACHE_ITLB;
    attr.config = cache | (PERF_COUNT_HW_CACHE_OP_READ << 8) | (PERF_COUNT_HW_CACHE_RESULT_MISS << 16);
    attr.disabled = 1;
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    long fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
    if (fd < 0) return -errno;
    return (int)fd;
}

int stubpool_counter_start(int fd) {
    if (ioctl(fd, PERF_EVENT_IOC_RESET, 0) != 0) return -errno;
    if (ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) != 0) return -errno;
    return 0;
}

int stubpool_counter_stop(int fd, uint64_t *value) {
    if (ioctl(fd, PERF_EVENT_IOC_DISABLE, 0) != 0) return -errno;
    ssize_t got = read(fd, value, sizeof *value);
    if (got < 0) return -errno;
    if (got != (ssize_t)sizeof *value) return -EIO;
    return 0;
}

void stubpool_counter_close(int fd) { close(fd); }
