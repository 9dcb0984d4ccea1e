// cpu-to-kvm: the CPU time a program has used when it opens /dev/kvm, from its exec.
//   cpu-to-kvm PROGRAM [ARGS...]
// Prints the nanoseconds on the CPU (user + system, /proc/PID/schedstat's first field) of
// PROGRAM's thread at the moment it calls openat("/dev/kvm"), then kills it. Exit status 0,
// or 1 if PROGRAM ended without opening /dev/kvm (its status is printed to stderr).
//
// This is BENCHMARKS.md section 8's "start-up CPU before /dev/kvm" measured on a real
// boot's path rather than on a failing one: a seccomp filter (seccomp(2), SECCOMP_RET_TRACE)
// stops the program at every openat, the tracer reads the path, and at /dev/kvm reads the
// task's schedstat (Documentation/scheduler/sched-stats.rst) while the task is stopped.
// Only openat stops (a handful before /dev/kvm), so the tracing costs the program little;
// the same costs are paid by every program measured. The task must still be single-
// threaded at that point (the C floor and swiftvmm are: their threads start later).
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
    perror(what);
    exit(2);
}

// In the child: stop so the parent can set ptrace options, then trace every openat.
static void child(char **argv) {
    if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0) die("PTRACE_TRACEME");
    raise(SIGSTOP);
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program = {.len = sizeof filter / sizeof filter[0], .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("PR_SET_NO_NEW_PRIVS");
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) die("PR_SET_SECCOMP");
    execvp(argv[0], argv);
    die(argv[0]);
}

// The nanoseconds task `pid` has spent on a CPU.
static unsigned long long cpu_nanoseconds(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/schedstat", pid);
    FILE *file = fopen(path, "r");
    if (!file) die(path);
    unsigned long long nanoseconds = 0;
    if (fscanf(file, "%llu", &nanoseconds) != 1) die("schedstat");
    fclose(file);
    return nanoseconds;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: cpu-to-kvm PROGRAM [ARGS...]\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) child(argv + 1);

    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status)) die("waitpid");
    if (ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL)) != 0)
        die("PTRACE_SETOPTIONS");
    int signal_to_deliver = 0;
    for (;;) {
        if (ptrace(PTRACE_CONT, pid, NULL, (void *)(long)signal_to_deliver) != 0) die("PTRACE_CONT");
        signal_to_deliver = 0;
        if (waitpid(pid, &status, 0) != pid) die("waitpid");
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            fprintf(stderr, "cpu-to-kvm: %s ended (status %d) without opening /dev/kvm\n", argv[1],
                    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
            return 1;
        }
        if (status >> 8 != (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8))) {
            // The SIGTRAP after execve is ptrace's own; any other signal goes on to the program.
            if (WSTOPSIG(status) != SIGTRAP) signal_to_deliver = WSTOPSIG(status);
            continue;
        }
        struct user_regs_struct regs;
        if (ptrace(PTRACE_GETREGS, pid, NULL, &regs) != 0) die("PTRACE_GETREGS");
        char path[16] = {0};
        struct iovec local = {path, sizeof path - 1}, remote = {(void *)regs.rsi, sizeof path - 1};
        // A path shorter than 15 bytes may end near an unmapped page: read what can be read.
        if (process_vm_readv(pid, &local, 1, &remote, 1, 0) < 0 && errno != EFAULT) die("process_vm_readv");
        if (strcmp(path, "/dev/kvm") == 0) {
            printf("%llu\n", cpu_nanoseconds(pid));
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return 0;
        }
    }
}
