// C++ exceptions across generated code, for the arena's call-frame tests (exceptions.cpp).
#ifndef CXXTESTHELPERS_H
#define CXXTESTHELPERS_H

#ifdef __cplusplus
extern "C" {
#endif

/// Throws std::runtime_error("thrown below generated code").
void cxx_throw_from_callee(void);

/// Calls `code` (a `void (void)` function) inside a try block. 1: the exception thrown below it
/// was caught here, with its message; 0: nothing was thrown; 2, 3: something else was caught.
/// An exception that cannot unwind through `code` ends the process in std::terminate.
int cxx_catch_through(const void *code);

#ifdef __cplusplus
}
#endif

#endif
