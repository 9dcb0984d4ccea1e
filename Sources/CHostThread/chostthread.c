#define _GNU_SOURCE
#include "chostthread.h"
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

_Static_assert(sizeof(struct signalfd_siginfo) == 128, "chost_signalfd_info_size");
_Static_assert(__builtin_offsetof(struct signalfd_siginfo, ssi_signo) == 0, "ssi_signo first");

int chost_set_thread_name(const char *name) { return pthread_setname_np(pthread_self(), name); }
int chost_get_affinity(void *mask, unsigned long size) { return sched_getaffinity(0, size, mask); }
int chost_set_affinity(const void *mask, unsigned long size) { return sched_setaffinity(0, size, mask); }
int chost_set_timer_slack(unsigned long nanoseconds) { return prctl(PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0); }
int chost_gettid(void) { return gettid(); }
int chost_current_cpu(void) { return sched_getcpu(); }
int chost_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }
int chost_signalfd(const sigset_t *set) { return signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC); }

int chost_thread_timer_create(int tid, int signal, timer_t *timer) {
    struct sigevent event = { 0 };
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = signal;
    event._sigev_un._tid = tid;   // glibc spells sigev_notify_thread_id this way
    return timer_create(CLOCK_MONOTONIC, &event, timer);
}
