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
    private var thread: HostThread?

    /// Slots can be armed before the thread starts; they fire once it runs.
    init(slots: Int, clock: MachineClock) {
        self.clock = clock
        deadlines = Array(repeating: nil, count: slots)
    }

    /// Starts the timer thread; `handlers[i]` runs on it when slot i's deadline passes.
    func start(handlers: [@Sendable () -> Void]) throws(HostError) {
        self.handlers = handlers
        thread = try HostThread(name: "timers") { [self] in serve() }
    }

    /// Arms slot `slot` for host time `nanoseconds` (CLOCK_MONOTONIC), or disarms it.
    func arm(_ slot: Int, atNanoseconds nanoseconds: UInt64?) {
        lock.withLock {
            let wasEarliest = nanoseconds.map { new in deadlines.allSatisfy { ($0 ?? .max) > new } } ?? false
            deadlines[slot] = nanoseconds
            if wasEarliest { lock.broadcast() }
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
        lock.withLock {
            stopping = true
            lock.broadcast()
        }
        thread?.join()
        thread = nil
        handlers = []
    }

    private func serve() {
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
