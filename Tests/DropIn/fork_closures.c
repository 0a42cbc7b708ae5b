// fork() while three threads allocate, prepare, call and free libffi closures without pause.
//
// Usage: fork_closures FORKS. The main thread makes 100 closures, starts the workers, then forks
// FORKS times. Each child (5 s alarm) calls the 100 inherited closures, frees half of them, makes
// 1,000 new ones, calls and frees them, and calls the other half again; its exit status says what
// failed. The parent reaps every child, stops the workers and calls its 100 closures again.
// Prints `key=value` lines and exits 0 if the program itself ran (the counts are the verdict).
#include <ffi.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

enum { kept = 100, child_new = 1000, wrong_inherited = 10, wrong_new = 11, alloc_failed = 12 };

static ffi_cif cif;
static ffi_type *arguments[1] = {&ffi_type_sint64};
static atomic_int stop;
static atomic_long rounds;
static atomic_int worker_failed;

static void handler(ffi_cif *c, void *result, void **args, void *user_data) {
    (void)c;
    *(ffi_sarg *)result = *(int64_t *)args[0] * 3 + (int64_t)(intptr_t)user_data;
}

static int64_t call(void *code, int64_t x) { return ((int64_t(*)(int64_t))code)(x); }

/// A prepared closure whose call returns x * 3 + tag; NULL if anything failed.
static ffi_closure *make(intptr_t tag, void **code) {
    ffi_closure *closure = ffi_closure_alloc(sizeof(ffi_closure), code);
    if (!closure) return NULL;
    if (ffi_prep_closure_loc(closure, &cif, handler, (void *)tag, *code) != FFI_OK) {
        ffi_closure_free(closure);
        return NULL;
    }
    return closure;
}

static void *worker(void *raw) {
    intptr_t id = (intptr_t)raw;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        void *codes[16];
        ffi_closure *closures[16];
        for (int i = 0; i < 16; i++) {
            closures[i] = make(id * 100 + i, &codes[i]);
            if (!closures[i]) atomic_store(&worker_failed, 1);
        }
        for (int i = 0; i < 16; i++) {
            if (closures[i] && call(codes[i], 2) != 6 + id * 100 + i) atomic_store(&worker_failed, 2);
        }
        for (int i = 0; i < 16; i++) ffi_closure_free(closures[i]);
        atomic_fetch_add_explicit(&rounds, 1, memory_order_relaxed);
    }
    return NULL;
}

static ffi_closure *closures[kept];
static void *codes[kept];

static int kept_intact(int from, int to) {
    for (int i = from; i < to; i++) {
        if (call(codes[i], 5) != 15 + 7000 + i) return 0;
    }
    return 1;
}

static void child(void) {
    alarm(5);
    if (!kept_intact(0, kept)) _exit(wrong_inherited);
    for (int i = 0; i < kept / 2; i++) ffi_closure_free(closures[i]);
    for (int i = 0; i < child_new; i++) {
        void *code;
        ffi_closure *closure = make(i, &code);
        if (!closure) _exit(alloc_failed);
        if (call(code, 1) != 3 + i) _exit(wrong_new);
        ffi_closure_free(closure);
    }
    if (!kept_intact(kept / 2, kept)) _exit(wrong_inherited);
    _exit(0);
}

int main(int argc, char **argv) {
    int forks = argc > 1 ? atoi(argv[1]) : 1000;
    if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 1, &ffi_type_sint64, arguments) != FFI_OK) return 2;
    for (int i = 0; i < kept; i++) {
        closures[i] = make(7000 + i, &codes[i]);
        if (!closures[i]) return 2;
    }
    pthread_t threads[3];
    for (intptr_t t = 0; t < 3; t++) pthread_create(&threads[t], NULL, worker, (void *)(t + 1));
    while (atomic_load(&rounds) < 30) usleep(100);
    int ok = 0, hung = 0, inherited = 0, fresh = 0, failed_alloc = 0, other = 0;
    for (int i = 0; i < forks; i++) {
        pid_t pid = fork();
        if (pid == 0) child();
        if (pid < 0) return 2;
        int status;
        while (waitpid(pid, &status, 0) < 0) {}
        if (WIFEXITED(status)) {
            switch (WEXITSTATUS(status)) {
            case 0: ok++; break;
            case wrong_inherited: inherited++; break;
            case wrong_new: fresh++; break;
            case alloc_failed: failed_alloc++; break;
            default: other++;
            }
        } else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
            hung++;
        } else {
            other++;
        }
    }
    atomic_store(&stop, 1);
    for (int t = 0; t < 3; t++) pthread_join(threads[t], NULL);
    printf("forks=%d\nchildren_ok=%d\nchildren_hung=%d\nchildren_inherited_wrong=%d\nchildren_new_wrong=%d\n"
           "children_alloc_failed=%d\nchildren_other=%d\nworker_rounds=%ld\nworker_failed=%d\nparent_intact=%d\n",
           forks, ok, hung, inherited, fresh, failed_alloc, other, atomic_load(&rounds), atomic_load(&worker_failed),
           kept_intact(0, kept));
    for (int i = 0; i < kept; i++) ffi_closure_free(closures[i]);
    return 0;
}
