// cxx_throw_from_callee and cxx_catch_through (cxxtesthelpers.h): a C++ caller above generated
// code that calls a C++ function that throws.
#include "cxxtesthelpers.h"

#include <stdexcept>
#include <string>

extern "C" void cxx_throw_from_callee(void) { throw std::runtime_error("thrown below generated code"); }

extern "C" int cxx_catch_through(const void *code) {
    try {
        reinterpret_cast<void (*)(void)>(const_cast<void *>(code))();
    } catch (const std::runtime_error &error) {
        return std::string(error.what()) == "thrown below generated code" ? 1 : 2;
    } catch (...) {
        return 3;
    }
    return 0;
}
