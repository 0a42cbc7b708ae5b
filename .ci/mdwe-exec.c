// Runs a program under kernel W^X enforcement: prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN),
// which execve preserves. Usage: mdwe-exec PROGRAM [ARGS...]
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: mdwe-exec PROGRAM [ARGS...]\n");
        return 2;
    }
    if (prctl(65 /* PR_SET_MDWE */, 1 /* PR_MDWE_REFUSE_EXEC_GAIN */, 0, 0, 0) != 0) {
        fprintf(stderr, "mdwe-exec: PR_SET_MDWE failed: %s\n", strerror(errno));
        return 2;
    }
    execvp(argv[1], argv + 1);
    fprintf(stderr, "mdwe-exec: %s: %s\n", argv[1], strerror(errno));
    return 127;
}
