// Thin system-call wrappers: errno is read right after each call and returned.
#define _GNU_SOURCE
#include "stubpool_shim.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fault_injection.h"

int stubpool_mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset, void **out) {
    STUBPOOL_FAULT_POINT(STUBPOOL_SYS_MMAP);
    void *result = mmap(addr, length, prot, flags, fd, offset);
    int err = errno;
    if (result == MAP_FAILED) return err;
    if (!(flags & MAP_FIXED)) STUBPOOL_LEDGER_ADD((long)length);
    *out = result;
    return 0;
}

int stubpool_munmap(void *addr, size_t length) {
    STUBPOOL_FAULT_POINT(STUBPOOL_SYS_MUNMAP);
    int result = munmap(addr, length);
    int err = errno;
    if (result != 0) return err;
    STUBPOOL_LEDGER_ADD(-(long)length);
    return 0;
}

int stubpool_mprotect(void *addr, size_t length, int prot) {
    STUBPOOL_FAULT_POINT(STUBPOOL_SYS_MPROTECT);
    int result = mprotect(addr, length, prot);
    int err = errno;
    return result == 0 ? 0 : err;
}

int stubpool_madvise(void *addr, size_t length, int advice) {
    STUBPOOL_FAULT_POINT(STUBPOOL_SYS_MADVISE);
    int result = madvise(addr, length, advice);
    int err = errno;
    return result == 0 ? 0 : err;
}

int stubpool_memfd_create(const char *name, unsigned int flags, int *out_fd) {
    STUBPOOL_FAULT_POINT(STUBPOOL_SYS_MEMFD_CREATE);
    int fd = (int)syscall(SYS_memfd_create, name, flags);
    int err = errno;
    if (fd < 0) return err;
    *out_fd = fd;
    return 0;
}

int stubpool_ftruncate(int fd, off_t length) {
    STUBPOOL_FAULT_POINT(STUBPOOL_SYS_FTRUNCATE);
    int result = ftruncate(fd, length);
    int err = errno;
    return result == 0 ? 0 : err;
}

int stubpool_add_seals(int fd, int seals) {
    STUBPOOL_FAULT_POINT(STUBPOOL_SYS_FCNTL);
    int result = fcntl(fd, F_ADD_SEALS, seals);
    int err = errno;
    return result == 0 ? 0 : err;
}

int stubpool_close(int fd) {
    STUBPOOL_FAULT_POINT(STUBPOOL_SYS_CLOSE);
    int result = close(fd);
    int err = errno;
    return result == 0 ? 0 : err;
}

int stubpool_mincore(void *addr, size_t length, unsigned char *vec) {
    STUBPOOL_FAULT_POINT(STUBPOOL_SYS_MINCORE);
    int result = mincore(addr, length, vec);
    int err = errno;
    return result == 0 ? 0 : err;
}

int stubpool_membarrier(int cmd, unsigned int flags, int *out_result) {
    STUBPOOL_FAULT_POINT(STUBPOOL_SYS_MEMBARRIER);
    long result = syscall(SYS_membarrier, cmd, flags, 0);
    int err = errno;
    if (result < 0) return err;
    if (out_result) *out_result = (int)result;
    return 0;
}

int stubpool_has_branch_target_identification(void) {
#if defined(__aarch64__)
    return (getauxval(AT_HWCAP2) & (1ul << 17)) != 0;  // HWCAP2_BTI
#else
    return 0;
#endif
}

long stubpool_page_size(void) {
    return sysconf(_SC_PAGESIZE);
}

__thread void *stubpool_thread_slot_caches __attribute__((tls_model("initial-exec")));

// Storage only (the chunk index itself is Swift): a plain symbol, so lookups need no swift_once.
uintptr_t stubpool_chunk_index_top[1 << 16];
uintptr_t stubpool_payload_index_top[1 << 16];

int stubpool_current_cpu(void) {
    return sched_getcpu();
}

void stubpool_yield(void) {
    sched_yield();
}

int stubpool_futex_wait(const void *word, uint32_t expected) {
    long result = syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
    int err = errno;
    return result == 0 ? 0 : err;
}

void stubpool_futex_wake(const void *word, int count) {
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}

void stubpool_clear_cache(void *begin, void *end) {
    __builtin___clear_cache((char *)begin, (char *)end);
}

int stubpool_mdwe_flags(int *out_flags) {
    // PR_GET_MDWE (66), Linux >= 6.3. EINVAL on older kernels: no MDWE there.
    int result = prctl(66, 0, 0, 0, 0);
    int err = errno;
    if (result < 0) return err;
    *out_flags = result;
    return 0;
}

int stubpool_create_file(const char *path, int *out_fd) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err = errno;
    if (fd < 0) return err;
    *out_fd = fd;
    return 0;
}

int stubpool_write_all(int fd, const void *bytes, size_t length) {
    const char *next = bytes;
    while (length > 0) {
        ssize_t written = write(fd, next, length);
        int err = errno;
        if (written < 0) {
            if (err == EINTR) continue;
            return err;
        }
        next += written;
        length -= (size_t)written;
    }
    return 0;
}

int stubpool_make_directory(const char *path) {
    int result = mkdir(path, 0755);
    int err = errno;
    return result == 0 || err == EEXIST ? 0 : err;
}

int stubpool_thread_id(void) {
    return (int)syscall(SYS_gettid);
}

uint64_t stubpool_monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

int stubpool_open_read(const char *path, int *out_fd, int64_t *out_size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int err = errno;
    if (fd < 0) return err;
    struct stat info;
    if (fstat(fd, &info) != 0) {
        err = errno;
        close(fd);
        return err;
    }
    *out_fd = fd;
    *out_size = (int64_t)info.st_size;
    return 0;
}

int stubpool_read_all(int fd, void *bytes, size_t length, size_t *out_read) {
    char *next = bytes;
    size_t total = 0;
    while (total < length) {
        ssize_t got = read(fd, next + total, length - total);
        int err = errno;
        if (got < 0) {
            if (err == EINTR) continue;
            return err;
        }
        if (got == 0) break;
        total += (size_t)got;
    }
    *out_read = total;
    return 0;
}
