import Foundation
import Testing
@testable import SwiftVMM
@testable import SwiftVMMDevices

/// The 8254's snapshot: taken from one device, restored into another with its own fake clock.
@Suite("PIT8254 snapshot")
struct PIT8254SnapshotTests {
    /// One 8254 with its clock and IRQ0.
    struct Chip {
        let clock = FakeDeviceClock()
        let irq0 = RecordingLine()
        let pit: PIT8254

        init(now: UInt64 = PIT8254SnapshotTests.t0) {
            clock.now = now
            pit = PIT8254(timer: clock.timer, irq0: irq0)
        }

        func out(_ port: UInt16, _ value: UInt8) { pit.write(offset: port, size: 1, value: UInt32(value)) }
        func inb(_ port: UInt16) -> UInt8 { UInt8(pit.read(offset: port, size: 1)) }
        func port61() -> UInt8 { UInt8(pit.port61.read(offset: 0, size: 1)) }

        /// Mode `mode`, lo/hi access, binary, then the count (8254 datasheet "Control Word Format").
        func program(_ counter: UInt8, mode: UInt8, count: UInt16) {
            out(PIT8254SnapshotTests.control, counter << 6 | 3 << 4 | mode << 1)
            setCount(counter, count)
        }

        func setCount(_ counter: UInt8, _ count: UInt16) {
            out(UInt16(counter), UInt8(truncatingIfNeeded: count))
            out(UInt16(counter), UInt8(count >> 8))
        }

        func read16(_ counter: UInt8) -> UInt16 { UInt16(inb(UInt16(counter))) | UInt16(inb(UInt16(counter))) << 8 }

        /// Two reads of each counter port, a third of counter 2's, and port 0x61.
        func registers() -> [UInt8] { [inb(0), inb(0), inb(1), inb(1), inb(2), inb(2), inb(2), port61()] }

        func fire() { pit.timerFired(now: clock.now) }
    }

    static let t0: UInt64 = 1_000_000_000
    static let control: UInt16 = 3
    /// The input clock tick at t0.
    static let tick0 = PIT8254.clock.ticks(in: t0)
    /// The host time `ticks` input clocks after t0's tick.
    static func at(ticks: UInt64) -> UInt64 { PIT8254.clock.nanoseconds(for: tick0 + ticks) }
    /// Five seconds: 5 × 1 193 182 whole input clocks.
    static let gap: UInt64 = 5_000_000_000

    /// Channel 0 a one-shot (mode 0, 5000); channel 1 mode 2 (1000) with its count latched at
    /// 300 and a new count (600) pending for the end of the period; channel 2 gated on, a
    /// square wave (0x123) with its status latched; the clock at tick 300.
    static func programmed() -> Chip {
        let chip = Chip()
        chip.program(0, mode: 0, count: 5000)
        chip.program(1, mode: 2, count: 1000)
        chip.pit.port61.write(offset: 0, size: 1, value: 1)     // channel 2's gate high
        chip.program(2, mode: 3, count: 0x123)
        chip.clock.now = at(ticks: 300)
        chip.out(control, 0x40)                                  // counter latch, counter 1
        chip.setCount(1, 600)
        chip.out(control, 0xE0 | 2 << 2)                         // read-back: status of counter 2
        return chip
    }

    @Test("a restored 8254 reads as the original on every port, re-arms the same deadline, and its one-shot fires once")
    func roundTrip() {
        let old = Self.programmed()
        let snapshot = old.pit.snapshot()
        let new = Chip(now: old.clock.now)
        new.pit.restore(snapshot)
        let deadline = Self.at(ticks: 5000)
        #expect(old.clock.armed == .some(deadline))
        #expect(new.clock.armed == .some(deadline))
        #expect(new.pit.snapshot() == snapshot)

        // Counter 0: 5000 − 300; counter 1's latch: 700; counter 2: status (OUT high, lo/hi,
        // mode 3), then 291 − 2·9 rounded down to even.
        let registers = old.registers()
        #expect(registers.prefix(7) == [0x5C, 0x12, 0xBC, 0x02, 0xB6, 0x10, 0x01])
        #expect(registers[7] & ~0x10 == 0x21, "gate 2 set, OUT 2 high")
        #expect(new.registers() == registers)

        for chip in [old, new] { chip.clock.now = Self.at(ticks: 1200) }
        let later = old.registers()
        #expect(later.prefix(4) == [0xD8, 0x0E, 0x90, 0x01], "3800; counter 1 on its pending count: 600 − 200")
        #expect(new.registers() == later)

        for chip in [old, new] {
            chip.clock.now = deadline - 1
            chip.fire()
            #expect(chip.irq0.pulses == 0)
            chip.clock.now = deadline
            chip.fire()
            chip.clock.now = deadline + 10_000_000
            chip.fire()
            #expect(chip.irq0.pulses == 1, "terminal count, once")
            #expect(chip.clock.armed == .some(nil))
            #expect(chip.pit.ticks.expiries == 1)
        }
    }

    @Test("advanced(by:): counts and the deadline keep their remaining time; no periods owed for the gap")
    func advanced() {
        let old = Chip()
        old.program(0, mode: 2, count: 1193)                       // about 1 ms
        old.program(1, mode: 2, count: 1000)
        old.pit.port61.write(offset: 0, size: 1, value: 1)
        old.program(2, mode: 0, count: 4000)
        old.clock.now = Self.at(ticks: 300)
        old.setCount(1, 600)
        let snapshot = old.pit.snapshot()
        #expect(snapshot.advanced(by: 0) == snapshot)
        let advanced = snapshot.advanced(by: Self.gap)
        #expect(advanced.counters[0].start == Self.tick0 + 5 * PIT8254.inputHz)
        #expect(advanced.counters[1].pending == .init(reload: 600, at: Self.tick0 + 1000 + 5 * PIT8254.inputHz))

        let new = Chip(now: old.clock.now + Self.gap)
        new.pit.restore(advanced)
        let deadline = Self.at(ticks: 1193) + Self.gap
        #expect(new.clock.armed == .some(deadline))
        #expect(new.read16(0) == 893)
        #expect(new.read16(1) == 700)
        #expect(new.read16(2) == 3700)
        new.clock.now = Self.at(ticks: 1200) + Self.gap
        #expect(new.read16(1) == 400, "the pending count loaded at the end of the period")
        #expect(new.read16(2) == 2800)

        new.clock.now = old.clock.now + Self.gap
        new.fire()
        #expect(new.irq0.pulses == 0, "nothing due at the restore")
        new.clock.now = deadline - 1
        new.fire()
        #expect(new.irq0.pulses == 0)
        new.clock.now = deadline
        new.fire()
        #expect(new.irq0.pulses == 1)
        #expect(new.pit.ticks.expiries == 1, "one period, not five seconds of them")
        #expect(new.clock.armed == .some(Self.at(ticks: 2 * 1193) + Self.gap))

        // The refresh toggle is machine time: the original reads the same bit then.
        var toggles: [UInt8] = []
        for offset: UInt64 in [0, PIT8254.refreshPeriod] {
            new.clock.now = Self.at(ticks: 300) + Self.gap + offset
            old.clock.now = new.clock.now
            toggles.append(new.port61() & 0x10)
            #expect(toggles.last == old.port61() & 0x10)
        }
        #expect(toggles[0] != toggles[1], "toggled one refresh period later")
    }

    @Test("a snapshot survives JSON unchanged")
    func codable() throws {
        let chip = Self.programmed()
        chip.irq0.acceptance = .pending
        chip.program(0, mode: 2, count: 1193)
        chip.clock.now = Self.at(ticks: 300 + 3 * 1193)
        chip.fire()                                           // three periods owed
        let snapshot = chip.pit.snapshot()
        #expect(snapshot.owed == 3)
        #expect(snapshot.counters[1].outputLatch == 700)
        #expect(snapshot.counters[2].statusLatch == 0xB6)
        let decoded = try JSONDecoder().decode(PIT8254.Snapshot.self, from: JSONEncoder().encode(snapshot))
        #expect(decoded == snapshot)
    }
}
