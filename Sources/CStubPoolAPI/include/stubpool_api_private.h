// Internal to StubPool's C API: what its Swift face uses to record a failure. Not part of the
// public header; C programs include only stubpool.h.
#ifndef STUBPOOL_API_PRIVATE_H
#define STUBPOOL_API_PRIVATE_H

#include "stubpool.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Records `status` and a copy of `message` (`length` bytes, truncated to the buffer) as the
/// calling thread's last error, for stubpool_last_error().
void stubpool_api_set_error(stubpool_status_t status, const char *message, size_t length);

#ifdef __cplusplus
}
#endif
#endif
