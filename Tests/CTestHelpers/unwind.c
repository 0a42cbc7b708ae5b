// ct_backtrace_crosses (ctesthelpers.h): a backtrace taken in a signal handler when the program
// counter is inside generated code, checked for the call site that entered that code.
#define _GNU_SOURCE
#include "ctesthelpers.h"

#include <execinfo.h>
#include <stdio.h>
#include <unistd.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>

static sigjmp_buf trap_return;
static void *trap_frames[64];
static int trap_frame_count;
/// The return address the call into the code pushes (written before the call: the call never
/// returns, the handler jumps back).
static void *volatile expected_return;

static void on_trap(int signal, siginfo_t *info, void *context) {
    (void)signal, (void)info, (void)context;
    trap_frame_count = backtrace(trap_frames, 64);
    siglongjmp(trap_return, 1);
}

int ct_backtrace_crosses(const void *code) {
#if defined(__x86_64__) || defined(__aarch64__)
    struct sigaction action, previous;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_trap;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGTRAP, &action, &previous) != 0) return -1;
    trap_frame_count = 0;
    expected_return = NULL;
    if (sigsetjmp(trap_return, 1) == 0) {
#if defined(__x86_64__)
        // Below the red zone, then a call whose return address is label 1.
        __asm__ volatile("sub $128, %%rsp\n\t"
                         "lea 1f(%%rip), %%rax\n\t"
                         "mov %%rax, %0\n\t"
                         "call *%1\n"
                         "1:\n\t"
                         "add $128, %%rsp"
                         : "=m"(expected_return)
                         : "r"(code)
                         : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory", "cc");
#else
        // blr leaves label 1 in x30, where a frameless stub keeps its return address.
        __asm__ volatile("adr x9, 1f\n\t"
                         "str x9, %0\n\t"
                         "blr %1\n"
                         "1:\n\t"
                         : "=m"(expected_return)
                         : "r"(code)
                         : "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13",
                           "x14", "x15", "x16", "x17", "x30", "memory", "cc");
#endif
    }
    sigaction(SIGTRAP, &previous, NULL);
    for (int i = 0; i < trap_frame_count; i++) {
        if (trap_frames[i] == expected_return) return 1;
    }
    return 0;
#else
    (void)code;
    return -1;
#endif
}

static void report_hang(int signal) {
    char header[64];
    int length = snprintf(header, sizeof header, "hung child %d: stuck in\n", (int)getpid());
    if (length > 0) (void)!write(2, header, (size_t)length);
    void *frames[64];
    int count = backtrace(frames, 64);
    backtrace_symbols_fd(frames, count, 2);
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    sigaction(signal, &fallback, NULL);
    raise(signal);
}

void ct_report_hang_on_alarm(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = report_hang;
    sigemptyset(&action.sa_mask);
    sigaction(SIGALRM, &action, NULL);
}
