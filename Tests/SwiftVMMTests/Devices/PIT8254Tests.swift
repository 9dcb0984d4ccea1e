import Synchronization
import Testing
@testable import SwiftVMM
@testable import SwiftVMMDevices

/// The 8254 driven through ports 0x40–0x43 and 0x61 with a fake clock.
@Suite("PIT8254")
struct PIT8254Tests {
    private let clock = FakeDeviceClock()
    let irq0 = RecordingLine()
    let pit: PIT8254
    let port61: any PortDevice
    static let t0: UInt64 = 1_000_000_000

    init() {
        pit = PIT8254(timer: clock.timer, irq0: irq0)
        port61 = pit.port61
    }

    static let control: UInt16 = 3
    /// Control words (8254 datasheet "Control Word Format"): counter, access, mode, BCD.
    static func controlWord(counter: UInt8, access: UInt8 = 3, mode: UInt8, bcd: Bool = false) -> UInt8 {
        counter << 6 | access << 4 | mode << 1 | (bcd ? 1 : 0)
    }

    /// Host nanoseconds for `ticks` of the 1.193182 MHz clock (rounded up).
    func ns(_ ticks: UInt64) -> UInt64 { PIT8254.clock.nanoseconds(for: ticks) }
    /// Moves the clock to `ticks` input clocks after t0.
    func at(ticks: UInt64) { clock.now = Self.t0 + ns(ticks) }

    func out(_ port: UInt16, _ value: UInt8) { pit.write(offset: port, size: 1, value: UInt32(value)) }
    func inb(_ port: UInt16) -> UInt8 { UInt8(pit.read(offset: port, size: 1)) }

    func program(_ counter: UInt8, mode: UInt8, count: UInt16, bcd: Bool = false) {
        out(Self.control, Self.controlWord(counter: counter, mode: mode, bcd: bcd))
        setCount(counter, count)
    }

    func setCount(_ counter: UInt8, _ count: UInt16) {
        out(UInt16(counter), UInt8(truncatingIfNeeded: count))
        out(UInt16(counter), UInt8(count >> 8))
    }

    func read16(_ counter: UInt8) -> UInt16 {
        let low = UInt16(inb(UInt16(counter)))
        return low | UInt16(inb(UInt16(counter))) << 8
    }

    /// Read-back command latching the status of one counter, then the status byte.
    func status(_ counter: UInt8) -> UInt8 {
        out(Self.control, 0xE0 | 2 << counter)
        return inb(UInt16(counter))
    }

    // MARK: Counting

    @Test("mode 2: the count read back follows elapsed time and reloads")
    func rateGeneratorCount() {
        program(0, mode: 2, count: 1000)
        at(ticks: 300)
        #expect(read16(0) == 700)
        at(ticks: 999)
        #expect(read16(0) == 1)
        at(ticks: 1000)
        #expect(read16(0) == 1000, "reloaded at the period boundary")
        at(ticks: 1250)
        #expect(read16(0) == 750)
    }

    @Test("counter latch holds the count until both bytes are read; later latches are ignored")
    func counterLatch() {
        program(0, mode: 2, count: 1000)
        at(ticks: 300)
        out(Self.control, 0x00)             // latch counter 0
        at(ticks: 350)
        out(Self.control, 0x00)             // ignored: already latched
        #expect(inb(0) == UInt8(700 & 0xFF))
        at(ticks: 400)
        #expect(inb(0) == UInt8(700 >> 8))
        #expect(read16(0) == 600, "live again after the latched count was read")
    }

    @Test("LSB-only and MSB-only access modes")
    func byteAccessModes() {
        out(port61: 0)                      // counter 2's gate low: counts hold
        out(Self.control, Self.controlWord(counter: 2, access: 1, mode: 0))
        out(2, 0x50)
        #expect(status(2) & 0x40 == 0, "one byte completes the count")
        #expect(inb(2) == 0x50)
        out(Self.control, Self.controlWord(counter: 2, access: 2, mode: 0))
        out(2, 0x12)
        #expect(inb(2) == 0x12)
        out(Self.control, 0x80)             // latch counter 2
        #expect(inb(2) == 0x12, "MSB of 0x1200")
    }

    @Test("count 0 means 65536 (binary) and 10000 (BCD)")
    func largestCount() {
        program(0, mode: 2, count: 0)
        #expect(clock.armed == .some(Self.t0 + ns(65536)))
        at(ticks: 1)
        #expect(read16(0) == 0xFFFF)
        program(1, mode: 2, count: 0, bcd: true)
        at(ticks: 2)
        #expect(read16(1) == 0x9999, "BCD 10000 - 1")
    }

    @Test("BCD counting reads decimal digits")
    func bcd() {
        at(ticks: 0)
        program(1, mode: 2, count: 0x1000, bcd: true)
        at(ticks: 1)
        #expect(read16(1) == 0x0999)
        at(ticks: 12)
        #expect(read16(1) == 0x0988)
        #expect(status(1) == 0x80 | 0x30 | 2 << 1 | 1)
    }

    // MARK: Read-back

    @Test("read-back status: OUT, null count, access and mode as written")
    func readBackStatus() {
        out(Self.control, Self.controlWord(counter: 0, mode: 2))
        #expect(status(0) == 0x80 | 0x40 | 0x34, "OUT high, null count until a count is written")
        setCount(0, 100)
        #expect(status(0) == 0x80 | 0x34)
        at(ticks: 99)
        #expect(status(0) & 0x80 == 0, "OUT low for the last count of the period")
        out(Self.control, Self.controlWord(counter: 1, mode: 6))
        #expect(status(1) == 0x80 | 0x40 | 0x30 | 6 << 1, "mode bits exactly as written (6 is mode 2)")
    }

    @Test("read-back of count and status: status first, then the count; repeats ignored")
    func readBackCountAndStatus() {
        program(0, mode: 2, count: 1000)
        at(ticks: 100)
        out(Self.control, 0xC2)             // latch count and status of counter 0
        at(ticks: 200)
        out(Self.control, 0xC2)             // ignored until read
        #expect(inb(0) == 0x80 | 0x34)
        #expect(read16(0) == 900)
        #expect(read16(0) == 800, "unlatched")
        out(Self.control, 0xE2)             // status only (COUNT bit set)
        #expect(inb(0) == 0x80 | 0x34)
        #expect(read16(0) == 800)
    }

    // MARK: Modes and interrupts

    @Test("mode 0: OUT low until terminal count, one IRQ0 pulse, then the count wraps")
    func interruptOnTerminalCount() {
        out(Self.control, Self.controlWord(counter: 0, mode: 0))
        #expect(status(0) == 0x40 | 0x30, "OUT low after the control word")
        setCount(0, 100)
        #expect(clock.armed == .some(Self.t0 + ns(100)))
        at(ticks: 99)
        #expect(status(0) == 0x30)
        pit.timerFired(now: clock.now)      // early: nothing, re-armed
        #expect(irq0.levels.isEmpty)
        #expect(clock.armed == .some(Self.t0 + ns(100)))
        at(ticks: 100)
        #expect(status(0) == 0x80 | 0x30)
        #expect(read16(0) == 0)
        pit.timerFired(now: clock.now)
        #expect(irq0.levels == [true, false])
        #expect(clock.armed == .some(nil), "one-shot: disarmed")
        at(ticks: 110)
        #expect(read16(0) == 65526, "the counter keeps counting down through 0")
        #expect(status(0) & 0x80 != 0, "OUT stays high")
    }

    @Test("mode 0: writing the first byte stops counting and drops OUT")
    func modeZeroRewrite() {
        program(0, mode: 0, count: 10)
        at(ticks: 20)
        #expect(status(0) & 0x80 != 0)
        out(0, 0x30)
        #expect(status(0) & 0x80 == 0)
        out(0, 0x00)
        #expect(clock.armed == .some(Self.t0 + ns(20 + 0x30)), "counting restarts from the new count")
    }

    @Test("mode 2: one pulse per period; a late timer sends one pulse now and keeps the phase")
    func periodicInterrupts() {
        program(0, mode: 2, count: 1193)
        #expect(clock.armed == .some(Self.t0 + ns(1193)))
        at(ticks: 1193)
        pit.timerFired(now: clock.now)
        #expect(irq0.levels == [true, false])
        #expect(clock.armed == .some(Self.t0 + ns(2 * 1193)))
        clock.now = Self.t0 + ns(4 * 1193) + 500
        pit.timerFired(now: clock.now)
        #expect(irq0.pulses == 2, "one pulse now, not three at once")
        #expect(clock.armed == .some(Self.t0 + ns(5 * 1193)))
    }

    @Test("lost ticks are delayed: each acknowledgement sends the next one owed, none merged, none lost")
    func lateTicksAreCaughtUpOnePerAcknowledgement() {
        program(0, mode: 2, count: 1193)
        clock.now = Self.t0 + ns(5 * 1193) + 500   // the timer thread ran 4 periods late
        pit.timerFired(now: clock.now)
        #expect(irq0.pulses == 1)
        // The controllers still hold that edge: another one now would merge with it.
        irq0.acceptance = .pending
        pit.timerFired(now: clock.now)
        #expect(irq0.pulses == 1, "held while the last edge is pending")
        irq0.acceptance = .ready
        for owed in 2...5 {
            pit.irq0Acknowledged()
            #expect(irq0.pulses == owed)
        }
        pit.irq0Acknowledged()
        #expect(irq0.pulses == 5, "five events, five pulses")
        #expect(clock.armed == .some(Self.t0 + ns(6 * 1193)), "still on phase")
        at(ticks: 6 * 1193)
        pit.timerFired(now: clock.now)
        #expect(irq0.pulses == 6)
        var counted = TimerTicks()
        (counted.expiries, counted.delivered, counted.caughtUp, counted.discarded) = (6, 6, 4, 0)
        #expect(pit.ticks == counted, "four sent by acknowledgements after waiting")
    }

    @Test("an acknowledgement that finds a boundary passed sends it without waiting for the timer")
    func acknowledgementCollectsPassedBoundaries() {
        program(0, mode: 2, count: 1193)
        at(ticks: 1193)
        pit.timerFired(now: clock.now)
        clock.now = Self.t0 + ns(2 * 1193) + 100   // due, but the timer thread has not run yet
        pit.irq0Acknowledged()
        #expect(irq0.pulses == 2)
        #expect(clock.armed == .some(Self.t0 + ns(3 * 1193)))
        pit.timerFired(now: clock.now)   // the late timer call finds nothing more owed
        #expect(irq0.pulses == 2)
    }

    @Test("a masked IRQ0 gets the current edge and the backlog is dropped, as is a reprogrammed counter's")
    func backlogDroppedWhenMaskedOrReprogrammed() {
        program(0, mode: 2, count: 1193)
        irq0.acceptance = .masked
        clock.now = Self.t0 + ns(4 * 1193) + 10
        pit.timerFired(now: clock.now)
        #expect(irq0.pulses == 1, "the 8259 latches the current edge even while masked")
        irq0.acceptance = .ready
        pit.irq0Acknowledged()
        #expect(irq0.pulses == 1, "nothing owed from the masked time")

        clock.now = Self.t0 + ns(8 * 1193) + 10   // 4 more periods late
        irq0.acceptance = .pending
        pit.timerFired(now: clock.now)
        #expect(irq0.pulses == 1)
        program(0, mode: 2, count: 1193)   // a new control word and count
        irq0.acceptance = .ready
        pit.irq0Acknowledged()
        #expect(irq0.pulses == 1, "the old counting's backlog is gone")
        let ticks = pit.ticks
        #expect(ticks.expiries == 8 && ticks.delivered == 1 && ticks.discarded == 7, "\(ticks)")
    }

    @Test("discard policy: late events merge into one pulse sent at once, even onto a pending edge")
    func discardPolicyMergesLateTicks() {
        let irq0 = RecordingLine()
        let pit = PIT8254(timer: clock.timer, irq0: irq0, lostTicks: .discard)
        pit.write(offset: Self.control, size: 1, value: UInt32(Self.controlWord(counter: 0, mode: 2)))
        pit.write(offset: 0, size: 1, value: UInt32(1193 & 0xFF))
        pit.write(offset: 0, size: 1, value: UInt32(1193 >> 8))
        clock.now = Self.t0 + ns(5 * 1193) + 500   // the timer thread ran 4 periods late
        pit.timerFired(now: clock.now)
        #expect(irq0.pulses == 1)
        for _ in 0..<4 { pit.irq0Acknowledged() }
        #expect(irq0.pulses == 1, "nothing owed: the four late events are gone")
        irq0.acceptance = .pending
        at(ticks: 6 * 1193)
        pit.timerFired(now: clock.now)
        #expect(irq0.pulses == 2, "sent although the last edge is pending; the controller merges them")
        #expect(clock.armed == .some(Self.t0 + ns(7 * 1193)), "still on phase")
        var counted = TimerTicks()
        (counted.expiries, counted.delivered, counted.caughtUp, counted.discarded) = (6, 2, 0, 4)
        #expect(pit.ticks == counted)
    }

    @Test("the backlog is capped at maximumOwed events")
    func backlogIsCapped() {
        program(0, mode: 2, count: 1193)
        clock.now = Self.t0 + ns(UInt64(3 * PIT8254.maximumOwed) * 1193) + 10
        pit.timerFired(now: clock.now)
        for _ in 0..<(3 * PIT8254.maximumOwed) { pit.irq0Acknowledged() }
        #expect(irq0.pulses == Int(PIT8254.maximumOwed))
    }

    @Test("mode 3 interrupts once per period, and OUT is a square wave")
    func squareWave() {
        program(0, mode: 3, count: 100)
        #expect(clock.armed == .some(Self.t0 + ns(100)))
        at(ticks: 49)
        #expect(status(0) & 0x80 != 0)
        #expect(read16(0) == 2)
        at(ticks: 50)
        #expect(status(0) & 0x80 == 0)
        #expect(read16(0) == 100, "the second half counts down again")
        at(ticks: 100)
        #expect(status(0) & 0x80 != 0)
        pit.timerFired(now: clock.now)
        #expect(clock.armed == .some(Self.t0 + ns(200)))
    }

    @Test("tiny periods are spaced at least 50 µs apart, on phase")
    func minimumPeriod() {
        program(0, mode: 2, count: 2)
        let first = Self.t0 + ns(2)
        clock.now = first
        pit.timerFired(now: first)
        guard case .some(.some(let next)) = clock.armed else {
            Issue.record("not re-armed")
            return
        }
        #expect(next >= first + PIT8254.minimumPeriod)
        #expect(next <= first + PIT8254.minimumPeriod + ns(3))
        #expect(PIT8254.clock.ticks(in: next - Self.t0) % 2 == 0, "on a period boundary")
    }

    @Test("mode 2: a count written mid-period takes effect at the period's end")
    func periodicReload() {
        program(0, mode: 2, count: 1000)
        at(ticks: 300)
        setCount(0, 500)
        #expect(clock.armed == .some(Self.t0 + ns(1000)))
        at(ticks: 400)
        #expect(read16(0) == 600, "the old period runs on")
        #expect(status(0) & 0x40 != 0, "null count until the new count is loaded")
        at(ticks: 1000)
        pit.timerFired(now: clock.now)
        #expect(irq0.levels == [true, false])
        #expect(clock.armed == .some(Self.t0 + ns(1500)))
        at(ticks: 1100)
        #expect(read16(0) == 400)
        #expect(status(0) & 0x40 == 0)
    }

    @Test("a new control word for counter 0 disarms its timer")
    func reprogramDisarms() {
        program(0, mode: 2, count: 1000)
        out(Self.control, Self.controlWord(counter: 0, mode: 2))
        #expect(clock.armed == .some(nil))
        pit.timerFired(now: Self.t0 + ns(1000))
        #expect(irq0.levels.isEmpty)
    }

    @Test("mode 4: OUT strobes low for one clock at terminal count")
    func softwareStrobe() {
        program(0, mode: 4, count: 10)
        at(ticks: 9)
        #expect(status(0) & 0x80 != 0)
        at(ticks: 10)
        #expect(status(0) & 0x80 == 0)
        pit.timerFired(now: clock.now)
        #expect(irq0.levels == [true, false])
        at(ticks: 11)
        #expect(status(0) & 0x80 != 0)
    }

    // MARK: Counter 2 and port 0x61

    func out(port61 value: UInt8) { port61.write(offset: 0, size: 1, value: UInt32(value)) }
    func port61Value() -> UInt8 { UInt8(port61.read(offset: 0, size: 1)) }

    @Test("port 0x61: gate and speaker bits read back; OUT2 in bit 5 follows counter 2 (mode 0)")
    func gateAndOut2() {
        #expect(port61Value() & 0x23 == 0)
        program(2, mode: 0, count: 1000)
        at(ticks: 500)
        #expect(read16(2) == 1000, "gate low: counter 2 does not count")
        out(port61: 0x03)                   // gate on, speaker data on
        #expect(port61Value() & 0x03 == 0x03)
        #expect(port61Value() & 0x20 == 0, "OUT2 low while counting")
        at(ticks: 900)
        #expect(read16(2) == 600)
        out(port61: 0x02)                   // gate off: pauses mode 0
        at(ticks: 1200)
        #expect(read16(2) == 600)
        out(port61: 0x01)
        at(ticks: 1799)
        #expect(port61Value() & 0x20 == 0)
        at(ticks: 1800)
        #expect(port61Value() & 0x20 != 0, "terminal count after 1000 counted clocks")
        #expect(clock.arms.isEmpty, "counter 2 never arms the timer")
    }

    @Test("port 0x61: mode 3 on counter 2 stops with the gate and restarts on its rising edge")
    func speakerSquareWave() {
        out(port61: 0x01)
        program(2, mode: 3, count: 100)
        at(ticks: 10)
        #expect(port61Value() & 0x20 != 0)
        at(ticks: 60)
        #expect(port61Value() & 0x20 == 0)
        out(port61: 0x00)
        #expect(port61Value() & 0x20 != 0, "gate low forces OUT high")
        at(ticks: 70)
        out(port61: 0x01)                   // restart from the full count
        at(ticks: 125)
        #expect(port61Value() & 0x20 == 0, "low half of the restarted period (55 ticks in)")
        at(ticks: 171)
        #expect(port61Value() & 0x20 != 0)
    }

    @Test("mode 1 on counter 2: the gate's rising edge triggers a one-shot low pulse")
    func hardwareOneShot() {
        program(2, mode: 1, count: 100)
        #expect(status(2) & 0xC0 == 0xC0, "OUT high, null count until triggered")
        out(port61: 0x01)
        #expect(status(2) & 0xC0 == 0x00, "OUT low from the trigger")
        at(ticks: 100)
        #expect(status(2) & 0x80 != 0)
        #expect(port61Value() & 0x20 != 0)
    }

    @Test("port 0x61 bit 4 toggles with refresh cycles")
    func refreshToggle() {
        clock.now = 0
        let first = port61Value() & 0x10
        clock.now = PIT8254.refreshPeriod
        #expect(port61Value() & 0x10 != first)
    }
}
