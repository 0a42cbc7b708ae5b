// Glue between the assembly trap entries and the handler StubPool installs.
#include "stubpool_shim.h"

#include <stdlib.h>

extern char stubpool_trap_return_address[];
extern char stubpool_trap_context_register[];
extern char stubpool_trap_first_argument[];

static stubpool_released_handler_t released_handler;

__attribute__((visibility("hidden"), noreturn, used))
void stubpool_report_released(uintptr_t address_in_stub) {
    stubpool_released_handler_t handler = __atomic_load_n(&released_handler, __ATOMIC_ACQUIRE);
    if (handler) handler(address_in_stub);
    abort();
}

void stubpool_set_released_handler(stubpool_released_handler_t handler) {
    __atomic_store_n(&released_handler, handler, __ATOMIC_RELEASE);
}

uintptr_t stubpool_released_trap_entry(stubpool_trap_source_t source) {
#if defined(__x86_64__) || defined(__aarch64__)
    switch (source) {
    case STUBPOOL_TRAP_FROM_RETURN_ADDRESS: return (uintptr_t)stubpool_trap_return_address;
    case STUBPOOL_TRAP_FROM_CONTEXT_REGISTER: return (uintptr_t)stubpool_trap_context_register;
    case STUBPOOL_TRAP_FROM_FIRST_ARGUMENT: return (uintptr_t)stubpool_trap_first_argument;
    }
#endif
    (void)source;
    return 0;
}
