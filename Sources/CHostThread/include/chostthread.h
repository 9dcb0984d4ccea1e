// CHostThread: the host thread calls Swift's Glibc module does not import (GNU
// extensions, variadic prctl, SIGEV_THREAD_ID), needed to name, pin and tune the threads
// that run vCPUs and timers, and the Linux event descriptors (eventfd, signalfd) a run's
// wait polls. Nothing here is KVM's (that is CKVM). No logic lives here: every function
// is one expression.
#ifndef CHOSTTHREAD_H
#define CHOSTTHREAD_H

#include <signal.h>
#include <time.h>

int chost_set_thread_name(const char *name);
int chost_get_affinity(void *mask, unsigned long size);
int chost_set_affinity(const void *mask, unsigned long size);
int chost_set_timer_slack(unsigned long nanoseconds);
int chost_gettid(void);
// The CPU the calling thread runs on now, or -1.
int chost_current_cpu(void);
// A CLOCK_MONOTONIC POSIX timer whose expiry sends `signal` to thread `tid` alone
// (SIGEV_THREAD_ID, a Linux extension Glibc does not show Swift). 0, or -1 with errno.
int chost_thread_timer_create(int tid, int signal, timer_t *timer);
// The real-time signal a vCPU's own POSIX timer sends (SIGRTMIN is a Glibc function call,
// which Swift cannot import as a macro; +1 stays clear of any the C library reserves).
static inline int chost_alarm_signal(void) { return SIGRTMIN + 1; }

// eventfd(2): a counter descriptor, non-blocking, closed on exec. Its descriptor, or -1.
int chost_eventfd(void);
// signalfd(2) for `set` (already blocked by the caller), non-blocking, closed on exec.
int chost_signalfd(const sigset_t *set);
// The size of what a signalfd read returns per signal (struct signalfd_siginfo, 128 bytes,
// whose first field is the signal number as a uint32).
static inline unsigned long chost_signalfd_info_size(void) { return 128; }

#endif
