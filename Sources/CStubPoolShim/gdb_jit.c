// The two symbols of gdb's JIT interface. gdb finds them by name, puts a breakpoint on the
// function and reads the descriptor's list when it is hit. Policy (building symbol files,
// maintaining the list) lives in Swift: Sources/StubPool/Profiling/DebuggerRegistry.swift.
#include "stubpool_shim.h"

__attribute__((weak)) stubpool_jit_descriptor __jit_debug_descriptor = {1, 0, 0, 0};

// Must stay a real, out-of-line call that the compiler cannot drop: gdb's breakpoint sits here.
__attribute__((weak, noinline, used)) void __jit_debug_register_code(void) {
    __asm__ volatile("" ::: "memory");
}

stubpool_jit_descriptor *stubpool_gdb_descriptor(void) { return &__jit_debug_descriptor; }

void stubpool_gdb_notify(void) { __jit_debug_register_code(); }
