// Unwinding out of a pool chunk on AArch64: the template mapped read+execute at a fixed address,
// a call into its anchor slot (trap fill: brk #0) and a backtrace taken in the SIGTRAP handler,
// checked for the call's return address (ct_backtrace_crosses): once with no unwind information
// for the chunk, once with the .eh_frame section the Swift side made for it registered.
// Prints "RESULT unregistered=<0|1> registered=<0|1> failures=<n>".
#define _GNU_SOURCE
#include "harness.h"
#include "ctesthelpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void __register_frame(const void *);
void __deregister_frame(const void *);

static unsigned char *read_file(const char *path, size_t *size) {
    FILE *file = fopen(path, "rb");
    if (!file) { perror(path); return NULL; }
    fseek(file, 0, SEEK_END);
    long length = ftell(file);
    fseek(file, 0, SEEK_SET);
    unsigned char *bytes = malloc((size_t)length);
    *size = bytes ? fread(bytes, 1, (size_t)length, file) : 0;
    fclose(file);
    return bytes;
}

int harness_run_unwind(const char *template_path, const char *eh_frame_path, uintptr_t address, size_t code_size) {
    size_t template_size = 0, eh_frame_size = 0;
    unsigned char *template = read_file(template_path, &template_size);
    unsigned char *eh_frame = read_file(eh_frame_path, &eh_frame_size);
    if (!template || !eh_frame || template_size != code_size) { fprintf(stderr, "unwind: bad input files\n"); return 2; }
    void *code = mmap((void *)address, code_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (code != (void *)address) { perror("unwind: mmap at the chunk's address"); return 2; }
    memcpy(code, template, code_size);
    __builtin___clear_cache((char *)code, (char *)code + code_size);
    if (mprotect(code, code_size, PROT_READ | PROT_EXEC) != 0) { perror("unwind: mprotect"); return 2; }
    // The anchor slot is the code region's last: trap fill.
    const void *trap = (const char *)code + code_size - 4;
    int unregistered = ct_backtrace_crosses(trap);
    __register_frame(eh_frame);
    int registered = ct_backtrace_crosses(trap);
    __deregister_frame(eh_frame);
    int failures = (unregistered != 0) + (registered != 1);
    printf("RESULT unregistered=%d registered=%d failures=%d\n", unregistered, registered, failures);
    free(template);
    free(eh_frame);
    return failures ? 1 : 0;
}
