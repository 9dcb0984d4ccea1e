import Synchronization
import Testing
@testable import SwiftVMM

/// The HPET through 32- and 64-bit MMIO with a fake clock and recording lines.
@Suite("HPET")
struct HPETTests {
    struct LineEvent: Equatable, Sendable {
        let line: Int
        let level: Bool
        init(_ line: Int, _ level: Bool) { self.line = line; self.level = level }
    }

    private let clock = FakeDeviceClock()
    let lines = Recorder<LineEvent>()
    let hpet: HPET
    static let t0: UInt64 = 1_000_000_000

    init() {
        let lines = lines
        hpet = HPET(timer: clock.timer, setLine: { lines.append(LineEvent($0, $1)) })
    }

    // IA-PC HPET 1.0a Table 2.
    static let capabilities: UInt64 = 0x000, configuration: UInt64 = 0x010, status: UInt64 = 0x020
    static let counter: UInt64 = 0x0F0
    static func config(_ timer: UInt64) -> UInt64 { 0x100 + 0x20 * timer }
    static func comparator(_ timer: UInt64) -> UInt64 { 0x108 + 0x20 * timer }
    // Timer configuration bits (§2.3.8).
    static let level: UInt64 = 1 << 1, enable: UInt64 = 1 << 2, periodic: UInt64 = 1 << 3
    static let valueSet: UInt64 = 1 << 6, mode32: UInt64 = 1 << 8
    static func route(_ irq: UInt64) -> UInt64 { irq << 9 }

    func read64(_ offset: UInt64) -> UInt64 { hpet.read(offset: offset, size: 8) }
    func read32(_ offset: UInt64) -> UInt32 { UInt32(hpet.read(offset: offset, size: 4)) }
    func write64(_ offset: UInt64, _ value: UInt64) { hpet.write(offset: offset, size: 8, value: value) }
    func write32(_ offset: UInt64, _ value: UInt32) { hpet.write(offset: offset, size: 4, value: UInt64(value)) }

    /// Moves the clock to `ticks` 100 ns main-counter ticks after t0.
    func at(ticks: UInt64) { clock.now = Self.t0 + ticks * 100 }
    func fire() { hpet.timerFired(now: clock.now) }

    // MARK: General registers

    @Test("capabilities: rev 1, 3 timers, 64-bit, legacy route, vendor 8086, 100 ns period")
    func capabilities() {
        #expect(read64(Self.capabilities) == 0x05F5_E100_8086_A201)
        #expect(read32(Self.capabilities) == 0x8086_A201)
        #expect(read32(Self.capabilities + 4) == 0x05F5_E100)
        write64(Self.capabilities, 0)
        #expect(read64(Self.capabilities) == 0x05F5_E100_8086_A201, "read-only")
        #expect(read64(0x0C0) == 0, "reserved")
    }

    @Test("the main counter runs only while ENABLE_CNF is set")
    func counterRunsWhenEnabled() {
        #expect(read64(Self.counter) == 0)
        at(ticks: 10_000)
        #expect(read64(Self.counter) == 0, "halted")
        write32(Self.configuration, 1)
        #expect(read32(Self.configuration) == 1)
        at(ticks: 20_000)
        #expect(read64(Self.counter) == 10_000)
        #expect(read32(Self.counter) == 10_000)
        write32(Self.configuration, 0)
        at(ticks: 90_000)
        #expect(read64(Self.counter) == 10_000, "halted again, value kept")
    }

    @Test("the main counter is writable, whole or by halves, while halted only")
    func counterWrites() {
        write64(Self.counter, 0x1234_5678_9ABC_DEF0)
        #expect(read64(Self.counter) == 0x1234_5678_9ABC_DEF0)
        write32(Self.counter + 4, 0xAAAA_AAAA)
        #expect(read64(Self.counter) == 0xAAAA_AAAA_9ABC_DEF0)
        write32(Self.counter, 1)
        #expect(read64(Self.counter) == 0xAAAA_AAAA_0000_0001)
        #expect(read32(Self.counter + 4) == 0xAAAA_AAAA)
        write32(Self.configuration, 1)
        write64(Self.counter, 0)
        at(ticks: 1)
        #expect(read64(Self.counter) == 0xAAAA_AAAA_0000_0002, "writes while running are ignored")
    }

    // MARK: Timer registers

    @Test("timer configuration: capabilities, writable bits, supported routes only")
    func timerConfiguration() {
        #expect(read64(Self.config(0)) == 0x00F0_0104_0000_0030, "routes 2, 8, 20–23; periodic and 64-bit capable")
        #expect(read64(Self.config(2)) == 0x00F0_0104_0000_0030)
        #expect(read64(Self.config(3)) == 0, "no timer 3")
        write32(Self.config(1), UInt32(Self.route(20)))
        #expect(read32(Self.config(1)) == 0x2830)
        write32(Self.config(1), UInt32(Self.route(5)))
        #expect(read32(Self.config(1)) == 0x2830, "route 5 is not supported: unchanged")
        write32(Self.config(1), 0xFFFF_FFFF)
        #expect(read32(Self.config(1)) == 0x297E, "FSB bits and reserved bits stay clear")
        #expect(read64(Self.comparator(1)) == 0xFFFF_FFFF, "32-bit mode clears the comparator's upper half")
        #expect(read64(Self.comparator(0)) == .max, "comparators reset to all ones")
    }

    @Test("one-shot comparator: 64-bit and 32-bit writes, by halves")
    func comparatorWrites() {
        write64(Self.comparator(2), 0x1111_2222_3333_4444)
        #expect(read64(Self.comparator(2)) == 0x1111_2222_3333_4444)
        write32(Self.comparator(2) + 4, 0x5555_6666)
        #expect(read64(Self.comparator(2)) == 0x5555_6666_3333_4444)
        write32(Self.comparator(2), 0x7777_8888)
        #expect(read32(Self.comparator(2)) == 0x7777_8888)
        #expect(read32(Self.comparator(2) + 4) == 0x5555_6666)
        write32(Self.config(2), UInt32(Self.mode32))
        write64(Self.comparator(2), 0x9999_AAAA_BBBB_CCCC)
        #expect(read64(Self.comparator(2)) == 0xBBBB_CCCC, "32-bit mode keeps 32 bits")
    }

    // MARK: Interrupts

    @Test("periodic with VAL_SET: first match at the comparator, then every period on phase")
    func periodicTimer() {
        write32(Self.configuration, 1)
        write32(Self.config(0), UInt32(Self.periodic | Self.enable | Self.valueSet | Self.route(20)))
        write64(Self.comparator(0), 10_000)                    // 1 ms
        #expect(read32(Self.config(0)) & UInt32(Self.valueSet) == 0, "VAL_SET clears after the write")
        #expect(clock.armed == .some(Self.t0 + 1_000_000))
        at(ticks: 10_000)
        fire()
        #expect(lines.values == [LineEvent(20, true), LineEvent(20, false)])
        #expect(clock.armed == .some(Self.t0 + 2_000_000))
        #expect(read64(Self.comparator(0)) == 20_000, "the comparator advances by the period")
        at(ticks: 55_000)
        fire()
        #expect(lines.values.count == 4, "late by three periods: one interrupt now, three owed")
        #expect(clock.armed == .some(Self.t0 + 6_000_000), "next period boundary")
        #expect(read64(Self.comparator(0)) == 60_000)
        var ticks = TimerTicks()
        (ticks.expiries, ticks.delivered) = (5, 2)
        #expect(hpet.ticks[0] == ticks)
        at(ticks: 59_000)
        fire()
        #expect(lines.values.count == 6, "early: no match, but the line is ready for an owed edge")
        #expect(clock.armed == .some(Self.t0 + 6_000_000), "and re-armed")
    }

    /// An edge HPET whose controllers answer as the test says.
    final class EdgeController: Sendable {
        let state = Mutex(EdgeAcceptance.ready)
        var acceptance: EdgeAcceptance {
            get { state.withLock { $0 } }
            set { state.withLock { $0 = newValue } }
        }
    }

    func lateHPET(_ controller: EdgeController, lostTicks: PIT8254.LostTickPolicy = .delay) -> (HPET, Recorder<LineEvent>) {
        let lines = Recorder<LineEvent>()
        let hpet = HPET(timer: clock.timer, setLine: { lines.append(LineEvent($0, $1)) },
                        acceptance: { _, _ in controller.acceptance }, lostTicks: lostTicks)
        hpet.write(offset: Self.configuration, size: 4, value: 1)
        hpet.write(offset: Self.config(0), size: 4, value: Self.periodic | Self.enable | Self.valueSet | Self.route(20))
        hpet.write(offset: Self.comparator(0), size: 8, value: 10_000)   // every 1 ms from 1 ms
        at(ticks: 10_000)
        hpet.timerFired(now: clock.now)
        controller.acceptance = .pending                                   // the guest has not taken it yet
        at(ticks: 55_000)                                                  // 20k, 30k, 40k and 50k missed
        hpet.timerFired(now: clock.now)
        return (hpet, lines)
    }

    @Test("edge periodic: every period a late host missed is sent, each once the controllers took the one before")
    func edgePeriodicCatchesUp() {
        let controller = EdgeController()
        let (hpet, lines) = lateHPET(controller)
        #expect(lines.values.count == 2, "nothing merged into the edge still pending")
        for sent in 1...4 {
            controller.acceptance = .ready
            hpet.acknowledged(route: 20)
            controller.acceptance = .pending
            #expect(lines.values.count == 2 + 2 * sent)
        }
        controller.acceptance = .ready
        hpet.acknowledged(route: 20)
        hpet.acknowledged(route: 21)
        #expect(lines.values.count == 10, "nothing more was owed")
        var ticks = TimerTicks()
        (ticks.expiries, ticks.delivered, ticks.caughtUp) = (5, 5, 4)
        #expect(hpet.ticks[0] == ticks)
    }

    @Test("edge periodic: stopping the timer drops what it owed; no edge after the stop")
    func edgeBacklogDroppedOnStop() {
        let controller = EdgeController()
        let (hpet, lines) = lateHPET(controller)
        hpet.write(offset: Self.config(0), size: 4, value: Self.periodic | Self.route(20))   // interrupts off
        controller.acceptance = .ready
        hpet.acknowledged(route: 20)
        #expect(lines.values.count == 2)
        var ticks = TimerTicks()
        (ticks.expiries, ticks.delivered, ticks.discarded) = (5, 1, 4)
        #expect(hpet.ticks[0] == ticks)
    }

    @Test("edge periodic: a masked route, or the discard policy, takes one edge and drops the rest", arguments: [true, false])
    func edgeBacklogMerged(discardPolicy: Bool) {
        let controller = EdgeController()
        let (hpet, lines) = lateHPET(controller, lostTicks: discardPolicy ? .discard : .delay)
        if !discardPolicy {
            controller.acceptance = .masked
            hpet.timerFired(now: clock.now)
        }
        #expect(lines.values.count == 4)
        controller.acceptance = .ready
        hpet.acknowledged(route: 20)
        #expect(lines.values.count == 4)
        var ticks = TimerTicks()
        (ticks.expiries, ticks.delivered, ticks.discarded) = (5, 2, 3)
        #expect(hpet.ticks[0] == ticks)
    }

    @Test("periodic: the write after VAL_SET sets only the period (Linux's two-write sequence)")
    func periodicTwoWrites() {
        write32(Self.configuration, 1)
        write32(Self.config(0), UInt32(Self.periodic | Self.enable | Self.valueSet | Self.mode32 | Self.route(21)))
        write32(Self.comparator(0), 5_000)                     // first match at 0.5 ms
        write32(Self.comparator(0), 10_000)                    // period 1 ms
        #expect(read64(Self.comparator(0)) == 5_000)
        #expect(clock.armed == .some(Self.t0 + 500_000))
        at(ticks: 5_000)
        fire()
        #expect(clock.armed == .some(Self.t0 + 1_500_000))
        #expect(read64(Self.comparator(0)) == 15_000)
        #expect(lines.values == [LineEvent(21, true), LineEvent(21, false)])
    }

    @Test("periodic: a one-tick period is spaced to the minimum, on phase")
    func periodicMinimum() {
        write32(Self.configuration, 1)
        write32(Self.config(0), UInt32(Self.periodic | Self.enable | Self.valueSet | Self.route(20)))
        write64(Self.comparator(0), 1)
        at(ticks: 1)
        fire()
        #expect(clock.armed == .some(Self.t0 + 100 + HPET.minimumPeriod))
    }

    @Test("level: the status bit holds the line until written with 1")
    func levelInterrupt() {
        write32(Self.configuration, 1)
        write32(Self.config(1), UInt32(Self.level | Self.enable | Self.route(21)))
        write64(Self.comparator(1), 100)
        #expect(clock.armed == .some(Self.t0 + 10_000))
        at(ticks: 100)
        fire()
        #expect(lines.values == [LineEvent(21, true)])
        #expect(read32(Self.status) == 0x2)
        #expect(clock.armed == .some(nil), "64-bit one-shot: no further match")
        write32(Self.status, 0x1)
        #expect(read32(Self.status) == 0x2, "other bits: no effect")
        #expect(lines.values.count == 1)
        write32(Self.status, 0x2)
        #expect(read32(Self.status) == 0)
        #expect(lines.values == [LineEvent(21, true), LineEvent(21, false)])
    }

    @Test("level periodic: a late host delivers every missed period, one per status clear")
    func levelPeriodicCatchesUp() {
        write32(Self.configuration, 1)
        write32(Self.config(0), UInt32(Self.level | Self.enable | Self.periodic | Self.valueSet | Self.route(20)))
        write64(Self.comparator(0), 10_000)                  // 1 ms period, first match at 1 ms
        at(ticks: 35_000)                                    // the host is 2.5 periods late
        fire()
        #expect(lines.values == [LineEvent(20, true)], "one interrupt now, not a burst")
        #expect(clock.armed == .some(nil), "nothing more until the guest clears the status bit")
        write32(Self.status, 0x1)                            // the handler clears it at 3.5 ms
        #expect(clock.armed == .some(Self.t0 + 35_000 * 100 + HPET.minimumPeriod),
                "the missed 2 ms tick comes minimumPeriod after the clear")
        at(ticks: 35_500)
        fire()
        #expect(read32(Self.status) == 0x1)
        write32(Self.status, 0x1)
        at(ticks: 36_000)
        fire()
        #expect(read32(Self.status) == 0x1, "the 3 ms tick: caught up")
        write32(Self.status, 0x1)
        #expect(clock.armed == .some(Self.t0 + 40_000 * 100), "back on phase: the 4 ms tick")
        #expect(lines.values.filter(\.level).count == 3)
    }

    @Test("level: halting the HPET drops the line; enabling it again raises it")
    func levelLineFollowsEnable() {
        write32(Self.configuration, 1)
        write32(Self.config(2), UInt32(Self.level | Self.enable | Self.route(23)))
        write64(Self.comparator(2), 10)
        at(ticks: 10)
        fire()
        write32(Self.configuration, 0)
        write32(Self.configuration, 1)
        #expect(lines.values == [LineEvent(23, true), LineEvent(23, false), LineEvent(23, true)])
        write32(Self.config(2), UInt32(Self.level | Self.enable | Self.route(22)))
        #expect(lines.values.suffix(2) == [LineEvent(22, true), LineEvent(23, false)], "moved to the new route")
    }

    @Test("legacy replacement: timer 0 to IRQ0, timer 1 to IRQ8, timer 2 keeps its route")
    func legacyRoutes() {
        write32(Self.configuration, 3)
        #expect(hpet.legacyReplacement)
        write32(Self.config(0), UInt32(Self.enable | Self.route(20)))
        write32(Self.config(1), UInt32(Self.enable | Self.route(20)))
        write32(Self.config(2), UInt32(Self.enable | Self.route(22)))
        write64(Self.comparator(0), 50)
        write64(Self.comparator(1), 80)
        write64(Self.comparator(2), 90)
        #expect(clock.armed == .some(Self.t0 + 5_000), "the earliest of the three")
        at(ticks: 50)
        fire()
        #expect(clock.armed == .some(Self.t0 + 8_000))
        at(ticks: 100)
        fire()
        #expect(lines.values == [LineEvent(0, true), LineEvent(0, false), LineEvent(8, true), LineEvent(8, false),
                                 LineEvent(22, true), LineEvent(22, false)])
        write32(Self.configuration, 1)
        #expect(!hpet.legacyReplacement)
    }

    @Test("64-bit one-shot: a comparator already passed does not match")
    func passedComparator() {
        write64(Self.counter, 1_000)
        write32(Self.config(0), UInt32(Self.enable | Self.route(20)))
        write64(Self.comparator(0), 500)
        write32(Self.configuration, 1)
        #expect(clock.armed == .none)
        write64(Self.comparator(0), 1_500)
        #expect(clock.armed == .some(Self.t0 + 500 * 100))
    }

    @Test("32-bit one-shot: the comparator matches after the counter's low half wraps, and again 2^32 later")
    func thirtyTwoBitWrap() {
        write64(Self.counter, 0xFFFF_FF00)
        write32(Self.config(0), UInt32(Self.enable | Self.mode32 | Self.route(20)))
        write64(Self.comparator(0), 0x1_0000_0010)
        #expect(read64(Self.comparator(0)) == 0x10)
        write32(Self.configuration, 1)
        #expect(clock.armed == .some(Self.t0 + 0x110 * 100))
        at(ticks: 0x110)
        fire()
        #expect(lines.values == [LineEvent(20, true), LineEvent(20, false)])
        #expect(clock.armed == .some(Self.t0 + (0x110 + (1 << 32)) * 100))
    }

    @Test("timers with interrupts disabled, or a halted HPET, arm nothing")
    func nothingArmed() {
        write64(Self.comparator(0), 100)
        write32(Self.config(0), UInt32(Self.enable | Self.route(20)))
        #expect(clock.arms.isEmpty, "halted")
        write32(Self.config(0), UInt32(Self.route(20)))
        write32(Self.configuration, 1)
        #expect(clock.arms.isEmpty, "interrupt disabled")
        write32(Self.config(0), UInt32(Self.enable | Self.route(20)))
        #expect(clock.armed == .some(Self.t0 + 10_000))
        write32(Self.configuration, 0)
        #expect(clock.armed == .some(nil))
        at(ticks: 200)
        fire()
        #expect(lines.values.isEmpty)
    }
}
