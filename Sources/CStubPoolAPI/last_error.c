// The calling thread's last error of the C API: storage only. The Swift face decides what the
// status and message are (stubpool_api_set_error); C callers read them back.
#include "stubpool_api_private.h"

#include <string.h>

enum { message_capacity = 512 };

static _Thread_local stubpool_status_t last_status = STUBPOOL_OK;
static _Thread_local char last_message[message_capacity];

void stubpool_api_set_error(stubpool_status_t status, const char *message, size_t length) {
    if (length >= message_capacity) length = message_capacity - 1;
    memcpy(last_message, message, length);
    last_message[length] = '\0';
    last_status = status;
}

const char *stubpool_last_error(void) { return last_message; }

stubpool_status_t stubpool_last_error_code(void) { return last_status; }
