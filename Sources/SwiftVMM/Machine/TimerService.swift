import CHostThread
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One thread that fires the device timers (the PIT's and the HPET's) at their host
/// deadlines (DESIGN-NOTES, "Time"); each local APIC timer is kept by its own vCPU thread
/// instead (`VCPUAlarm`). Each timer is a slot; the thread sleeps on a condition variable
/// with an absolute CLOCK_MONOTONIC deadline and 1 ns timer slack, and arming an earlier
/// deadline wakes it. With one slot per timer, finding the earliest is a scan.
///
/// Deadlines are in `MachineClock` time; while the clock is paused (a debugger holds the
/// machine) or held (a snapshot is taken) nothing fires.
///
/// The thread starts at the first armed deadline: a machine whose devices never arm one (a
/// kernel that keeps time with its local APIC timers alone) never makes it, which saves a
/// thread's creation and teardown on every such run (BENCHMARKS.md §1).
final class TimerService: @unchecked Sendable {
    private let clock: MachineClock
    private let lock = ConditionLock()
    /// Host deadline per slot (guarded by `lock`).
    private var deadlines: [UInt64?]
    private var stopping = false
    /// `hold()` keeps handlers from running; `firing`: handlers run now (both guarded by `lock`).
    private var held = false
    private var firing = false
    private var handlers: [@Sendable () -> Void] = []
    /// Hears that the thread could not be made (set by `start`).
    private var failed: (@Sendable (HostError) -> Void)?
    /// The CPUs of the thread that called `start`: the timer thread runs there, not on the
    /// one CPU a pinned vCPU thread that armed the first deadline may run on (set by `start`).
    private var cpuMask: [UInt64]?
    // Guarded by `lock`: `start` was called; the thread was asked for; the thread.
    private var started = false, threadRequested = false
    private var thread: HostThread?

    /// Slots can be armed before the thread starts; they fire once it runs.
    init(slots: Int, clock: MachineClock) {
        self.clock = clock
        deadlines = Array(repeating: nil, count: slots)
    }

    /// Lets the timers fire: `handlers[i]` runs on the timer thread when slot i's deadline
    /// passes. The thread starts now if a slot is armed, else at the first `arm`; `failed`
    /// hears if it cannot be made.
    func start(handlers: [@Sendable () -> Void], failed: @escaping @Sendable (HostError) -> Void) {
        let mask = CPUAffinity.currentMask()
        let armed = lock.withLock {
            (self.handlers, self.failed, cpuMask, started) = (handlers, failed, mask, true)
            return threadNeeded()
        }
        if armed { startThread() }
    }

    /// Arms slot `slot` for host time `nanoseconds` (CLOCK_MONOTONIC), or disarms it.
    func arm(_ slot: Int, atNanoseconds nanoseconds: UInt64?) {
        let first = lock.withLock {
            let wasEarliest = nanoseconds.map { new in deadlines.allSatisfy { ($0 ?? .max) > new } } ?? false
            deadlines[slot] = nanoseconds
            if wasEarliest { lock.broadcast() }
            return threadNeeded()
        }
        if first { startThread() }
    }

    /// Whether the caller must start the thread now (it then counts as asked for); with
    /// `lock` held.
    private func threadNeeded() -> Bool {
        guard started, !threadRequested, !stopping, deadlines.contains(where: { $0 != nil }) else { return false }
        threadRequested = true
        return true
    }

    private func startThread() {
        do throws(HostError) {
            let made = try HostThread(name: "timers") { [self] in serve() }
            // `stop` may have run meanwhile: then the thread sees `stopping` and ends at once.
            let late = lock.withLock { () -> HostThread? in
                if stopping { return made }
                thread = made
                return nil
            }
            late?.join()
        } catch {
            lock.withLock { failed }?(error)
        }
    }

    /// Looks at the clock again (it was paused or resumed).
    func clockChanged() {
        lock.withLock { lock.broadcast() }
    }

    /// Stops firing and waits for handlers already running to return, so the devices stand
    /// still while a snapshot is taken. Deadlines stay armed; `release()` fires what came due.
    func hold() {
        lock.withLock {
            held = true
            while firing { lock.wait() }
        }
    }

    func release() {
        lock.withLock {
            held = false
            lock.broadcast()
        }
    }

    func stop() {
        let running = lock.withLock { () -> HostThread? in
            stopping = true
            lock.broadcast()
            defer { thread = nil }
            return thread
        }
        running?.join()
        lock.withLock { (handlers, failed) = ([], nil) }
    }

    private func serve() {
        if let mask = lock.withLock({ cpuMask }) { CPUAffinity.setMask(mask) }
        _ = chost_set_timer_slack(1)
        var due: [Int] = []
        while true {
            lock.withLock {
                due.removeAll(keepingCapacity: true)
                while !stopping {
                    if clock.isPaused || held {
                        lock.wait()
                        continue
                    }
                    let now = clock.now()
                    for (slot, deadline) in deadlines.enumerated() where deadline.map({ $0 <= now }) ?? false {
                        deadlines[slot] = nil
                        due.append(slot)
                    }
                    if !due.isEmpty {
                        firing = true
                        break
                    }
                    lock.wait(untilNanoseconds: deadlines.compactMap { $0 }.min().map(clock.hostTime))
                }
            }
            if due.isEmpty { return }   // stopping
            for slot in due { handlers[slot]() }
            lock.withLock {
                firing = false
                if held { lock.broadcast() }
            }
        }
    }
}
