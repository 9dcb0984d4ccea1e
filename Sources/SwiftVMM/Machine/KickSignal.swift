import CHostThread
#if canImport(Glibc)
import Glibc
#endif

/// The signal that pulls a vCPU thread out of `KVM_RUN` (DESIGN-NOTES, "The kick that is
/// never lost"). It is blocked in vCPU threads at all times and unblocked only inside
/// `KVM_RUN` through `KVM_SET_SIGNAL_MASK`, so a kick sent at any moment either interrupts
/// the running guest or stays pending and makes the next `KVM_RUN` return EINTR at once.
/// The pending signal is then consumed with `sigtimedwait`, never delivered.
///
/// A vCPU's own POSIX timer (`VCPUAlarm`) kicks the same way with a signal of its own. Were
/// it the same signal, a kick sent while the timer's signal was pending would merge into it
/// (one pending instance per standard signal), and re-arming the timer may withdraw that
/// pending signal (it is stale): the kick would be gone with it, and a vCPU spinning in the
/// guest would not see a posted interrupt until some other exit.
///
/// The kick is a standard signal, not a real-time one, on purpose: kicks sent while one is
/// pending merge into it, which is all a vCPU needs. Real-time signals queue one instance
/// per send, so a burst of kicks to a vCPU that is slow to leave the guest could fill the
/// user's pending-signal limit (RLIMIT_SIGPENDING), and `pthread_kill` would then fail with
/// EAGAIN: a lost kick.
enum KickSignal {
    static let number = SIGUSR1
    /// The signal of a vCPU's POSIX timer.
    static let alarmNumber = chost_alarm_signal()

    /// Gives both signals a handler that does nothing, once per process, unless the
    /// embedding process handles them itself. A kick or alarm is never delivered on a vCPU
    /// thread (blocked there, it is consumed), so the handler is only for a stray signal
    /// sent to the process: left at SIG_DFL it would end the process, and at SIG_IGN even a
    /// kick that lands inside `KVM_RUN`, where it is unblocked, would be discarded. A
    /// handler the process installed is kept.
    static let installHandler: Void = {
        installQuietHandler(for: number)
        installQuietHandler(for: alarmNumber)
    }()

    /// Installs a handler that does nothing for `signal`, unless the process has its own.
    static func installQuietHandler(for signal: Int32) {
        var current = sigaction()
        sigaction(signal, nil, &current)
        // SAFETY: the union member is a C function pointer or null; only its address is
        // read, to tell SIG_DFL (0) and SIG_IGN (1) from a real handler.
        let address = unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self)
        if current.sa_flags & SA_SIGINFO != 0 || address > 1 { return }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        sigaction(signal, &action, nil)
    }

    /// Blocks every asynchronous signal in the calling (vCPU) thread, so the embedding
    /// process's handlers run elsewhere, and returns the mask to use inside `KVM_RUN`:
    /// the same, less the kick and the alarm.
    static func blockInCurrentThread() -> sigset_t {
        _ = installHandler
        var blocked = sigset_t()
        sigfillset(&blocked)
        for synchronous in [SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT] { sigdelset(&blocked, synchronous) }
        pthread_sigmask(SIG_BLOCK, &blocked, nil)
        var insideRun = sigset_t()
        pthread_sigmask(SIG_BLOCK, nil, &insideRun)
        sigdelset(&insideRun, number)
        sigdelset(&insideRun, alarmNumber)
        return insideRun
    }

    /// Consumes a pending kick or alarm, if any (after `KVM_RUN` returned EINTR).
    static func consumePending() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, number)
        sigaddset(&set, alarmNumber)
        var zero = timespec(tv_sec: 0, tv_nsec: 0)
        while sigtimedwait(&set, nil, &zero) > 0 {}
    }

    static func send(to thread: pthread_t) {
        pthread_kill(thread, number)
    }
}
