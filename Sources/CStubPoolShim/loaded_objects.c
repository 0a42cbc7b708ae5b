// The dynamic linker's view of this process, for pool images: which exported symbol covers an
// address, and each loaded object's segments. Queries only; the Swift side decides what they mean.
#define _GNU_SOURCE
#include "stubpool_shim.h"

#include <dlfcn.h>
#include <link.h>

int stubpool_dladdr(const void *address, const char **symbol, const void **symbol_address) {
    Dl_info info;
    if (dladdr(address, &info) == 0 || info.dli_sname == NULL || info.dli_saddr == NULL) return 0;
    *symbol = info.dli_sname;
    *symbol_address = info.dli_saddr;
    return 1;
}

const void *stubpool_dlsym_default(const char *name) {
    return dlsym(RTLD_DEFAULT, name);
}

struct segment_walk {
    stubpool_segment_visitor visitor;
    void *context;
};

static int visit_object(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct segment_walk *walk = data;
    for (int index = 0; index < info->dlpi_phnum; index++) {
        const ElfW(Phdr) *header = &info->dlpi_phdr[index];
        walk->visitor(walk->context, (uintptr_t)info->dlpi_addr, info->dlpi_name, index == 0,
                      header->p_type, (uintptr_t)header->p_vaddr, (uintptr_t)header->p_memsz);
    }
    return 0;
}

void stubpool_visit_loaded_segments(stubpool_segment_visitor visitor, void *context) {
    struct segment_walk walk = { visitor, context };
    dl_iterate_phdr(visit_object, &walk);
}
