import CHostThread
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// A vCPU's own alarm clock: its local APIC timer deadline and its interrupt-window poll,
/// kept by the vCPU's thread and enforced by a POSIX timer that sends a signal to that
/// thread alone (`timer_create` with `SIGEV_THREAD_ID`; `KickSignal.alarmNumber`, a signal
/// of its own, not the kick).
///
/// The host's timer interrupt signals the vCPU directly: a vCPU in the guest leaves
/// `KVM_RUN` at once, one that is not running finds the kick pending when it next enters.
/// A shared timer thread would first have to be scheduled itself, on a host where every
/// core may be busy running vCPUs, and only then kick (BENCHMARKS.md §3 measured that hop).
/// The vCPU thread calls `takeTimerIfDue` before every entry, so a deadline that passed while it
/// was out of the guest is taken without any signal; a halted vCPU sleeps until
/// `sleepDeadline`.
///
/// Everything here is touched by the vCPU's thread only (arming comes from its own local
/// APIC and exit handling); before the thread starts, the machine's set-up may arm it.
final class VCPUAlarm {
    private let clock: MachineClock
    /// The local APIC timer's deadline in machine time (ns), converted once when armed.
    private var timerDeadline: UInt64?
    /// When to look at the interrupt window again (machine time), while one is wanted.
    private var pollDeadline: UInt64?
    /// The POSIX timer, from `start()` on the vCPU thread until `stop()` (the outer optional;
    /// `timer_t` is a pointer type and Linux's first timer id, 0, is a null one).
    private var timer: timer_t??
    /// The host time the POSIX timer is set for (0: disarmed).
    private var programmed: UInt64 = 0
    /// Whether the timer's expiry needs the vCPU out of the guest or awake
    /// (`LocalAPIC.timerExpiryRaisesInterrupt`). When it does not, the deadline is taken
    /// at the next exit instead: a timer whose period is shorter than one pass through the
    /// exit loop would otherwise have its signal pending at every entry, and a guest with
    /// interrupts off would never run again.
    private var timerWakes = true

    init(clock: MachineClock) {
        self.clock = clock
    }

    /// Creates the POSIX timer for the calling thread (the vCPU's) and sets it; the
    /// thread's timed sleeps get 1 ns of timer slack (the default 50 µs would make a halted
    /// vCPU's timer that late).
    func start() throws(HostError) {
        _ = chost_set_timer_slack(1)
        var created: timer_t?
        guard chost_thread_timer_create(chost_gettid(), KickSignal.alarmNumber, &created) == 0 else {
            throw .io("timer_create for the vCPU thread", Errno(rawValue: errno))
        }
        timer = .some(created)
        program()
    }

    /// Deletes the POSIX timer; a signal it already sent stays pending and is harmless.
    func stop() {
        if case .some(let timer) = timer { timer_delete(timer) }
        timer = nil
        programmed = 0
    }

    /// Arms the local APIC timer for machine time `nanoseconds`, or disarms it.
    func armTimer(atNanoseconds nanoseconds: UInt64?) {
        timerDeadline = nanoseconds
        program()
    }

    /// Says whether the timer's expiry needs a kick (see `timerWakes`).
    func timerExpiry(wakes: Bool) {
        guard wakes != timerWakes else { return }
        timerWakes = wakes
        program()
    }

    /// The interval to the next interrupt-window poll: `firstPoll`, doubled at every pass
    /// that still wants the window, up to `lastPoll`.
    private var pollInterval = VCPUAlarm.firstPoll
    static let firstPoll: UInt64 = 20_000
    static let lastPoll: UInt64 = 640_000

    /// Asks for a kick a little later (true), or cancels it (false), for a vCPU that wants
    /// an interrupt window. The interval grows while the window stays wanted: a kick that
    /// comes before the guest has run at all (entry is slow on a loaded or nested host)
    /// cancels KVM's injection of an interrupt queued in the same entry, and a fixed short
    /// interval could do that at every entry, so that the guest never took it.
    func pollInterruptWindow(_ on: Bool) {
        guard on || pollDeadline != nil else { return }   // no poll to cancel
        if on {
            pollDeadline = clock.now() &+ pollInterval
            pollInterval = min(pollInterval * 2, Self.lastPoll)
        } else {
            pollDeadline = nil
            pollInterval = Self.firstPoll
        }
        program()
    }

    /// The local APIC timer's deadline has passed: it is cleared (the APIC re-arms a
    /// periodic timer, or one whose guest TSC deadline is not reached yet).
    func takeTimerIfDue() -> Bool {
        guard let deadline = timerDeadline, clock.now() >= deadline else { return false }
        timerDeadline = nil
        program()
        return true
    }

    /// The host time a halted vCPU may sleep until: its timer's deadline, if armed and its
    /// expiry would wake the vCPU.
    var sleepDeadline: UInt64? {
        timerWakes ? timerDeadline.map(clock.hostTime) : nil
    }

    /// Sets the POSIX timer again after the machine clock was paused and resumed (host
    /// times of machine deadlines moved).
    func clockChanged() {
        programmed = 0
        program()
    }

    /// Sets the POSIX timer to the earlier deadline's host time, when that changed. An
    /// absolute time already past fires at once (0 would disarm, hence at least 1).
    /// Runs on every exit that wants a window: no allocation here.
    private func program() {
        guard case .some(let timer) = timer else { return }
        let due = min(timerWakes ? timerDeadline ?? .max : .max, pollDeadline ?? .max)
        let earliest = due == .max ? 0 : max(clock.hostTime(due), 1)
        guard earliest != programmed else { return }
        programmed = earliest
        var setting = itimerspec()
        setting.it_value = timespec(tv_sec: Int(earliest / 1_000_000_000), tv_nsec: Int(earliest % 1_000_000_000))
        timer_settime(timer, TIMER_ABSTIME, &setting, nil)
    }
}
