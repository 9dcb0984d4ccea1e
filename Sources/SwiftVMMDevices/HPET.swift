import SwiftVMMSupport

/// A High Precision Event Timer block (IA-PC HPET Specification 1.0a): a 64-bit main
/// counter at 10 MHz and three comparators, each one-shot or periodic, 64- or 32-bit, edge
/// or level, routed to an I/O APIC pin or (legacy replacement) to IRQ 0 and IRQ 8.
/// Register constants are in HPET+Registers.swift.
///
/// The main counter is computed from the host clock while ENABLE_CNF is set. Interrupts
/// leave through `setLine(irq, level)`: `irq` is the route — 0 or 8 under legacy
/// replacement (the PC's IRQ0, which an I/O APIC sees on pin 2, and IRQ8), else
/// Tn_INT_ROUTE_CNF (an I/O APIC pin). Edge timers pulse the line (true, then false);
/// level timers hold it asserted while their General Interrupt Status bit is set.
///
/// Documented choices, where the specification leaves room:
/// - Writing a periodic timer's comparator sets the period, and with Tn_VAL_SET_CNF also
///   the comparator (the next match); Tn_VAL_SET_CNF clears after the write (QEMU and
///   Bochs do this; Linux writes the comparator twice to work either way).
/// - A comparator matches when the counter reaches it: in 32-bit mode comparisons are on the
///   counter's low 32 bits, so a value below the counter matches after the wrap, and a
///   one-shot 32-bit comparator matches again every 2^32 ticks; in 64-bit mode a value
///   already passed does not match.
/// - A timer whose interrupt is disabled (Tn_INT_ENB_CNF = 0) is not tracked: its periodic
///   comparator does not advance and it sets no status bit (status bits are set only for
///   enabled level-triggered timers, as in QEMU).
/// - Periodic timers that fall behind stay on phase and lose no period. A level-triggered
///   one delivers every missed period, one at a time as the guest clears its status bit. An
///   edge one owes the missed periods and sends each once the controllers took the one
///   before (the 8259's INTA, the I/O APIC vector's EOI), as the PIT does under the `delay`
///   lost-tick policy; with `discard` they merge into one pulse. Interrupts come at most
///   every `minimumPeriod`; the backlog is capped at `maximumOwed`, and dropped when the
///   guest stops, reprograms or disables the timer (so no tick arrives after a stop).
/// - The main counter is writable only while halted; writes while it runs are ignored.
public final class HPET: MMIODevice {
    /// Shortest interval between two interrupts from one timer, as LocalAPIC.minimumPeriod.
    public static let minimumPeriod: UInt64 = 50_000
    /// The most edges one timer owes at once; beyond, they are dropped (as PIT8254's).
    static let maximumOwed: UInt64 = 1000
    static let clock = TickClock(hertz: counterHz)

    struct Timer: Sendable, Equatable, Codable {
        var configuration = TimerConfiguration()   // writable bits; capabilities added on read
        var comparator: UInt64 = .max              // Tn_COMPARATOR, all ones at reset
        var period: UInt64 = 0                     // the value last written, in periodic mode
        /// The main counter value of the next match while tracked (enabled, interrupts on);
        /// may be above 2^64 − 1 only as saturation.
        var target: UInt64?
        /// Edges matched but not yet sent (the host ran the timer late).
        var owed: UInt64 = 0
        /// What became of this timer's matches (`HPET.ticks`).
        var ticks = TimerTicks()

        var widthMask: UInt64 { configuration.contains(.mode32) ? 0xFFFF_FFFF : .max }
    }

    /// The level lines as last sent: `asserted` lines are held high; `domain` is every line
    /// a level timer has asserted, so moving or clearing one deasserts the old line.
    struct Lines: Sendable, Equatable, Codable {
        var asserted: UInt32 = 0
        var domain: UInt32 = 0
    }

    package struct State: Sendable, Equatable, Codable {
        var configuration = GeneralConfiguration()
        var interruptStatus: UInt64 = 0
        /// Host time of the last status clear: a level timer catching up fires no sooner
        /// than `minimumPeriod` after it, so the handler that cleared the bit has time to
        /// stop the timer before the next (overdue) tick arrives.
        var statusClearedAt: UInt64 = 0
        /// The main counter while halted; its value at `enabledTick` while running.
        var counter: UInt64 = 0
        /// The 10 MHz tick (host nanoseconds / 100) at which ENABLE_CNF was set. Ticks sit
        /// on a fixed grid of host time, so counter values and deadlines convert exactly.
        var enabledTick: UInt64?
        var timers = [Timer](repeating: Timer(), count: HPET.timerCount)
        var deadline: UInt64?
        var lines = Lines()

        func mainCounter(_ now: UInt64) -> UInt64 {
            guard let enabledTick else { return counter }
            let tick = HPET.clock.ticks(in: now)
            return counter &+ (tick > enabledTick ? tick - enabledTick : 0)
        }

        /// The host time the main counter reaches `value`; nil when halted or beyond reach.
        func hostTime(atCounter value: UInt64) -> UInt64? {
            guard let enabledTick else { return nil }
            let (tick, overflow) = enabledTick.addingReportingOverflow(value >= counter ? value - counter : 0)
            let time = HPET.clock.nanoseconds(for: tick)
            return overflow || time > UInt64(Int64.max) ? nil : time
        }

        func route(_ index: Int) -> Int {
            if configuration.contains(.legacyReplacement), index < HPET.legacyRoutes.count { return HPET.legacyRoutes[index] }
            return Int((timers[index].configuration.rawValue & TimerConfiguration.routeMask) >> TimerConfiguration.routeShift)
        }

        /// (Re)computes timer `index`'s next match from its comparator and the counter now.
        mutating func track(_ index: Int, now: UInt64) {
            // Stopped, reprogrammed or disabled: what the old setting owed is not sent.
            timers[index].ticks.discarded += timers[index].owed
            timers[index].owed = 0
            let timer = timers[index]
            guard configuration.contains(.enable), timer.configuration.contains(.interruptEnable) else {
                timers[index].target = nil
                return
            }
            let counter = mainCounter(now)
            if timer.configuration.contains(.mode32) {
                var distance = UInt64(UInt32(truncatingIfNeeded: timer.comparator &- counter))
                if distance == 0 { distance = 1 << 32 }
                timers[index].target = counter &+ distance
            } else {
                timers[index].target = timer.comparator > counter ? timer.comparator : nil
            }
        }

        mutating func trackAll(now: UInt64) {
            for index in timers.indices { track(index, now: now) }
        }

        /// Timer `index` matched at `target`: set status (level) or owe edges, then advance a
        /// periodic comparator past `now` on its phase.
        mutating func fire(_ index: Int, target: UInt64, now: UInt64) {
            var timer = timers[index]
            var events: UInt64 = 1
            if timer.configuration.contains(.levelTriggered) {
                interruptStatus |= 1 << UInt64(index)
                timer.ticks.expiries += 1
                timer.ticks.delivered += 1
            }
            if timer.configuration.contains(.periodic), timer.period & timer.widthMask > 0 {
                let period = timer.period & timer.widthMask
                let minimum = HPET.clock.ticks(in: HPET.minimumPeriod)
                // A level timer delivers every period: when the host ran late it catches up
                // one interrupt at a time, each after the guest clears the previous one's
                // status bit (see `updateDeadline`), so a kernel counting ticks to calibrate
                // never loses one. An edge timer owes the boundaries up to now and moves to
                // the next one after now; `sendOwed` delivers what it owes.
                let caughtUp = timer.configuration.contains(.levelTriggered) ? target &+ 1 : mainCounter(now) &+ 1
                let earliest = max(caughtUp, target &+ minimum)
                let periods = (earliest - target - 1) / period + 1
                // Periods under the minimum are not caught up (as PIT8254's).
                if period >= minimum { events = periods }
                let (next, overflow) = target.addingReportingOverflow(periods &* period)
                timer.target = overflow ? nil : next
                timer.comparator = next & timer.widthMask
            } else if timer.configuration.contains(.mode32) {
                timer.target = target &+ (1 << 32)       // matches again after the wrap
            } else {
                timer.target = nil
            }
            if !timer.configuration.contains(.levelTriggered) {
                timer.ticks.expiries += events
                let kept = min(timer.owed + events, HPET.maximumOwed)
                timer.ticks.discarded += timer.owed + events - kept
                timer.owed = kept
            }
            timers[index] = timer
        }

        /// Sends one owed edge per timer whose route has taken the last (a masked route gets
        /// this one and drops the rest, as does the `discard` policy); a timer whose last
        /// edge still waits at the controllers keeps what it owes until they take it.
        /// `acknowledged` says a controller just took `route`'s last edge: the edge sent
        /// for a timer that owed from before counts as caught up.
        mutating func sendOwed(acceptance: (Int, Bool) -> EdgeAcceptance, discard: Bool, acknowledged: Int? = nil,
                               pulses: inout [Int]) {
            let legacy = configuration.contains(.legacyReplacement)
            for index in timers.indices where timers[index].owed > 0 {
                let route = route(index)
                let acknowledgedHere = acknowledged == route
                switch discard ? .masked : acceptance(route, legacy) {
                case .pending:
                    continue
                case .masked:
                    timers[index].owed -= 1
                    timers[index].ticks.discarded += timers[index].owed
                    timers[index].owed = 0
                case .ready:
                    timers[index].owed -= 1
                    if acknowledgedHere { timers[index].ticks.caughtUp += 1 }
                }
                timers[index].ticks.delivered += 1
                pulses.append(route)
            }
        }

        /// Host time at which timer `index` should fire: its next match, except that a level
        /// timer whose status bit is still set waits for the guest to clear it (nil), and
        /// then waits `minimumPeriod` after the clear.
        func due(_ index: Int) -> UInt64? {
            let timer = timers[index]
            guard let match = timer.target.flatMap(hostTime(atCounter:)) else { return nil }
            guard timer.configuration.contains(.levelTriggered) else { return match }
            if interruptStatus & 1 << UInt64(index) != 0 { return nil }
            return max(match, statusClearedAt &+ HPET.minimumPeriod)
        }

        mutating func updateDeadline() {
            deadline = timers.indices.compactMap(due).min()
        }

        /// The level lines: enabled level timers with their status bit set, while the HPET
        /// runs (§2.3.6: the line stays active until software clears the status bit).
        var levelLines: UInt32 {
            guard configuration.contains(.enable) else { return 0 }
            var asserted: UInt32 = 0
            for (index, timer) in timers.enumerated()
            where timer.configuration.isSuperset(of: [.levelTriggered, .interruptEnable]) && interruptStatus & 1 << UInt64(index) != 0 {
                asserted |= 1 << UInt32(route(index))
            }
            return asserted
        }

        // MARK: Registers

        func read(_ register: UInt64, now: UInt64) -> UInt64 {
            switch register {
            case Register.capabilities: return Capabilities.value
            case Register.configuration: return configuration.rawValue
            case Register.interruptStatus: return interruptStatus
            case Register.mainCounter: return mainCounter(now)
            default:
                guard let (index, field) = HPET.timerRegister(register) else { return 0 }
                switch field {
                case Register.timerConfiguration:
                    return timers[index].configuration.union(TimerConfiguration.capabilities).rawValue
                        | UInt64(HPET.routeCapability) << TimerConfiguration.routeCapabilityShift
                case Register.timerComparator: return timers[index].comparator
                default: return 0
                }
            }
        }

        /// A write of the bits in `mask` (a whole register or one half) of `register`.
        mutating func write(_ register: UInt64, _ value: UInt64, mask: UInt64, now: UInt64) {
            func merged(_ old: UInt64) -> UInt64 { old & ~mask | value & mask }
            switch register {
            case Register.configuration:
                let new = GeneralConfiguration(rawValue: merged(configuration.rawValue) & 3)
                if new.contains(.enable), !configuration.contains(.enable) {
                    enabledTick = HPET.clock.ticks(in: now)
                } else if !new.contains(.enable), configuration.contains(.enable) {
                    counter = mainCounter(now)
                    enabledTick = nil
                }
                configuration = new
                trackAll(now: now)
            case Register.interruptStatus:
                interruptStatus &= ~(value & mask)          // write 1 to clear
                statusClearedAt = now
            case Register.mainCounter:
                guard !configuration.contains(.enable) else { return }
                counter = merged(counter)
            default:
                guard let (index, field) = HPET.timerRegister(register) else { return }
                switch field {
                case Register.timerConfiguration: writeTimerConfiguration(index, merged(timers[index].configuration.rawValue), now: now)
                case Register.timerComparator: writeComparator(index, value, mask: mask, now: now)
                default: break
                }
            }
        }

        mutating func writeTimerConfiguration(_ index: Int, _ value: UInt64, now: UInt64) {
            var timer = timers[index]
            var new = TimerConfiguration(rawValue: value).intersection(.writable)
            let route = (new.rawValue & TimerConfiguration.routeMask) >> TimerConfiguration.routeShift
            if HPET.routeCapability & 1 << UInt32(route) == 0 {
                // "If the value is not supported by this timer, the value read back will
                // not match what is written" (§2.3.8, Tn_INT_ROUTE_CNF): keep the old route.
                new = TimerConfiguration(rawValue: new.rawValue & ~TimerConfiguration.routeMask
                                         | timer.configuration.rawValue & TimerConfiguration.routeMask)
            }
            if new.contains(.mode32) {
                // Tn_32MODE_CNF: the upper 32 bits of the comparator are loaded with zeros.
                timer.comparator &= 0xFFFF_FFFF
                timer.period &= 0xFFFF_FFFF
            }
            if !new.contains(.levelTriggered) { interruptStatus &= ~(1 << UInt64(index)) }
            timer.configuration = new
            timers[index] = timer
            track(index, now: now)
        }

        /// §2.3.9.2: one-shot writes set the comparator; periodic writes set the period, and
        /// with Tn_VAL_SET_CNF the comparator too.
        mutating func writeComparator(_ index: Int, _ value: UInt64, mask: UInt64, now: UInt64) {
            var timer = timers[index]
            let periodic = timer.configuration.contains(.periodic)
            if !periodic || timer.configuration.contains(.valueSet) {
                timer.comparator = (timer.comparator & ~mask | value & mask) & timer.widthMask
            }
            if periodic {
                timer.period = (timer.period & ~mask | value & mask) & timer.widthMask
            }
            timer.configuration.remove(.valueSet)
            timers[index] = timer
            track(index, now: now)
        }
    }

    let state = AnnotatedMutex(State())
    let timer: DeviceTimer
    private let setLine: @Sendable (Int, Bool) -> Void
    private let acceptance: @Sendable (Int, Bool) -> EdgeAcceptance
    private let lostTicks: PIT8254.LostTickPolicy

    /// `timer` gives the host clock and arms the earliest comparator match (the callback is
    /// `timerFired(now:)`); `setLine(irq, level)` drives the timers' interrupt lines and
    /// `acceptance(irq, legacyReplacement)` says whether the controllers took a route's last
    /// edge (see `InterruptLine.acceptance`; it is asked under this device's lock, so it is
    /// told the routing rather than asking); `lostTicks` is what happens to late edges.
    public init(timer: DeviceTimer, setLine: @escaping @Sendable (Int, Bool) -> Void,
                acceptance: @escaping @Sendable (Int, Bool) -> EdgeAcceptance = { _, _ in .ready },
                lostTicks: PIT8254.LostTickPolicy = .delay) {
        self.timer = timer
        self.setLine = setLine
        self.acceptance = acceptance
        self.lostTicks = lostTicks
    }

    /// What became of each timer's comparator matches so far.
    public var ticks: [TimerTicks] { state.withLock { $0.timers.map(\.ticks) } }

    /// LEG_RT_CNF: timers 0 and 1 have replaced the PIT and RTC interrupts, so the machine
    /// may silence those (§2.3.5).
    public var legacyReplacement: Bool {
        state.withLock { $0.configuration.contains(.legacyReplacement) }
    }

    /// (timer index, offset in its block) for an offset in the timer blocks.
    static func timerRegister(_ register: UInt64) -> (Int, UInt64)? {
        guard register >= Register.timers else { return nil }
        let index = Int((register - Register.timers) / Register.timerStride)
        guard index < timerCount else { return nil }
        return (index, (register - Register.timers) % Register.timerStride)
    }

    // MARK: MMIO (32- and 64-bit accesses; smaller ones are treated the same way)

    public func read(offset: UInt64, size: Int) -> UInt64 {
        let now = timer.now()
        let value = state.withLock { $0.read(offset & ~7, now: now) }
        return value >> (8 * (offset & 7)) & Self.sizeMask(size)
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let now = timer.now()
        let shift = 8 * (offset & 7)
        let mask = Self.sizeMask(size) << shift
        access { state, _ in state.write(offset & ~7, value << shift, mask: mask, now: now) }
    }

    static func sizeMask(_ size: Int) -> UInt64 { size >= 8 ? .max : (1 << UInt64(8 * size)) - 1 }

    // MARK: Timer service

    /// The timer service's callback: every timer whose match time has come matches (once,
    /// or once per period missed), and owed edges go where the controllers are ready.
    public func timerFired(now: UInt64) {
        access(alwaysArm: true) { state, pulses in
            for index in state.timers.indices {
                guard let target = state.timers[index].target, let due = state.due(index), now >= due else { continue }
                state.fire(index, target: target, now: now)
            }
            // Asked under this lock (the controllers never call in while holding theirs), so
            // an acknowledgement after this answer finds what is owed and sends it.
            state.sendOwed(acceptance: acceptance, discard: lostTicks == .discard, pulses: &pulses)
        }
    }

    /// The controllers took `route`'s last edge (an INTA of IRQ `route` under legacy
    /// replacement, else the EOI of I/O APIC pin `route`'s vector): the next owed edge goes
    /// now, from the acknowledging vCPU's thread, as PIT8254's `irq0Acknowledged`.
    package func acknowledged(route: Int) {
        access { state, pulses in
            state.sendOwed(acceptance: acceptance, discard: lostTicks == .discard, acknowledged: route, pulses: &pulses)
        }
    }

    /// Runs `body` under the lock, then after unlocking: sends edge pulses, level-line
    /// changes, and a changed deadline to the timer service.
    private func access(alwaysArm: Bool = false, _ body: (inout State, inout [Int]) -> Void) {
        let (pulses, lines, linesChanged, deadline, rearm) = state.withLock { state in
            var pulses: [Int] = []
            let before = state.deadline
            body(&state, &pulses)
            state.updateDeadline()
            let asserted = state.levelLines
            let lines = Lines(asserted: asserted, domain: state.lines.domain | asserted)
            let linesChanged = lines != state.lines
            state.lines = lines
            // An edge on a line a level timer holds high would drop it: skip it.
            pulses.removeAll { asserted & 1 << UInt32($0) != 0 }
            return (pulses, lines, linesChanged, state.deadline, alwaysArm || state.deadline != before)
        }
        for line in pulses {
            setLine(line, true)
            setLine(line, false)
        }
        if linesChanged {
            publishSettled(lines, current: { state.withLock { $0.lines } }) { lines in
                for line in 0..<32 where lines.domain & 1 << UInt32(line) != 0 {
                    setLine(line, lines.asserted & 1 << UInt32(line) != 0)
                }
            }
        }
        if rearm { timer.arm(following: { state.withLock { $0.deadline } }, first: deadline) }
    }
}
