import Foundation
import Testing
@testable import SwiftVMM
@testable import SwiftVMMDevices

/// The HPET's snapshot: taken from one block, restored into another with its own fake clock.
@Suite("HPET snapshot")
struct HPETSnapshotTests {
    typealias LineEvent = HPETTests.LineEvent

    /// One HPET with its clock and the lines it drives.
    struct Chip {
        let clock = FakeDeviceClock()
        let lines = Recorder<LineEvent>()
        let hpet: HPET

        init(now: UInt64 = HPETSnapshotTests.t0) {
            clock.now = now
            let lines = lines
            hpet = HPET(timer: clock.timer, setLine: { lines.append(LineEvent($0, $1)) })
        }

        func read64(_ offset: UInt64) -> UInt64 { hpet.read(offset: offset, size: 8) }
        func write64(_ offset: UInt64, _ value: UInt64) { hpet.write(offset: offset, size: 8, value: value) }
        func fire() { hpet.timerFired(now: clock.now) }
        /// The edges sent on `line`.
        func pulses(_ line: Int) -> Int { lines.values.filter { $0 == LineEvent(line, true) }.count }

        /// Every register the guest can read (IA-PC HPET 1.0a Table 2).
        func registers() -> [UInt64] {
            [HPETTests.capabilities, HPETTests.configuration, HPETTests.status, HPETTests.counter].map(read64)
                + (0..<3).flatMap { [read64(HPETTests.config($0)), read64(HPETTests.comparator($0))] }
        }
    }

    static let t0: UInt64 = 1_000_000_000
    /// The host time `ticks` 100 ns main-counter ticks after t0.
    static func at(ticks: UInt64) -> UInt64 { t0 + ticks * 100 }
    /// Three seconds: 30 000 000 main-counter ticks.
    static let gap: UInt64 = 3_000_000_000

    /// Enabled at t0. Timer 0: edge, periodic every 10 000 from 10 000, route 20. Timer 1:
    /// edge one-shot at 5 000, route 21. Timer 2: level, 32-bit, one-shot at 2 000, route
    /// 22, matched (status bit set, line high). The clock at tick 3 000.
    static func programmed() -> Chip {
        let chip = Chip()
        chip.write64(HPETTests.configuration, 1)
        chip.write64(HPETTests.config(0), HPETTests.periodic | HPETTests.enable | HPETTests.valueSet | HPETTests.route(20))
        chip.write64(HPETTests.comparator(0), 10_000)
        chip.write64(HPETTests.config(1), HPETTests.enable | HPETTests.route(21))
        chip.write64(HPETTests.comparator(1), 5_000)
        chip.write64(HPETTests.config(2), HPETTests.level | HPETTests.enable | HPETTests.mode32 | HPETTests.route(22))
        chip.write64(HPETTests.comparator(2), 2_000)
        chip.clock.now = at(ticks: 3_000)
        chip.fire()
        return chip
    }

    @Test("a restored HPET reads as the original on every register, re-arms the same deadline, and its one-shot fires once")
    func roundTrip() {
        let old = Self.programmed()
        #expect(old.lines.values == [LineEvent(22, true)])
        let snapshot = old.hpet.snapshot()
        let new = Chip(now: old.clock.now)
        new.hpet.restore(snapshot)
        #expect(old.clock.armed == .some(Self.at(ticks: 5_000)))
        #expect(new.clock.armed == .some(Self.at(ticks: 5_000)))
        #expect(new.hpet.snapshot() == snapshot)
        #expect(new.lines.values.isEmpty, "the restore drives no line")

        let registers = old.registers()
        #expect(registers[1...3] == [1, 4, 3_000], "enabled; timer 2's status bit; the counter")
        #expect(registers[4...].enumerated().filter { $0.offset % 2 == 1 }.map(\.element) == [10_000, 5_000, 2_000])
        #expect(new.registers() == registers)
        for chip in [old, new] { chip.clock.now = Self.at(ticks: 4_000) }
        #expect(old.registers()[3] == 4_000)
        #expect(new.registers() == old.registers())

        for chip in [old, new] {
            chip.clock.now = Self.at(ticks: 5_000) - 1
            chip.fire()
            #expect(chip.pulses(21) == 0)
            chip.clock.now = Self.at(ticks: 5_000)
            chip.fire()
            chip.clock.now = Self.at(ticks: 9_000)
            chip.fire()
            #expect(chip.pulses(21) == 1, "the one-shot, once")
            #expect(chip.clock.armed == .some(Self.at(ticks: 10_000)), "timer 0 next")
        }
        #expect(new.hpet.ticks == old.hpet.ticks)
    }

    @Test("advanced(by:): the counter reads the gap later; armed comparators move with it and keep their remaining time")
    func advanced() {
        let old = Self.programmed()
        let snapshot = old.hpet.snapshot()
        #expect(snapshot.advanced(by: 0) == snapshot)
        let gapTicks: UInt64 = 30_000_000
        let new = Chip(now: old.clock.now + Self.gap)
        new.hpet.restore(snapshot.advanced(by: Self.gap))
        #expect(new.clock.armed == .some(Self.at(ticks: 5_000) + Self.gap))
        #expect(new.read64(HPETTests.counter) == 3_000 + gapTicks)
        #expect(new.read64(HPETTests.comparator(0)) == 10_000 + gapTicks)
        #expect(new.read64(HPETTests.comparator(1)) == 5_000 + gapTicks)
        #expect(new.read64(HPETTests.comparator(2)) == 2_000 + gapTicks, "32-bit, tracked: moved too")
        #expect(new.read64(HPETTests.status) == 4, "timer 2's status kept")

        new.fire()
        #expect(new.lines.values.isEmpty, "nothing due at the restore")
        new.clock.now = Self.at(ticks: 5_000) + Self.gap - 1
        new.fire()
        #expect(new.pulses(21) == 0)
        new.clock.now = Self.at(ticks: 5_000) + Self.gap
        new.fire()
        #expect(new.pulses(21) == 1)
        new.clock.now = Self.at(ticks: 10_000) + Self.gap
        new.fire()
        #expect(new.pulses(20) == 1)
        #expect(new.hpet.ticks[0].expiries == 1, "one period, not three seconds of them")
        #expect(new.read64(HPETTests.comparator(0)) == 20_000 + gapTicks)
        #expect(new.clock.armed == .some(Self.at(ticks: 20_000) + Self.gap))
    }

    @Test("a snapshot survives JSON unchanged")
    func codable() throws {
        let snapshot = Self.programmed().hpet.snapshot()
        #expect(snapshot.interruptStatus == 4)
        #expect(snapshot.lines == HPET.Lines(asserted: 1 << 22, domain: 1 << 22))
        #expect(snapshot.timers[2].target == 2_000 + 1 << 32)
        let decoded = try JSONDecoder().decode(HPET.Snapshot.self, from: JSONEncoder().encode(snapshot))
        #expect(decoded == snapshot)
    }
}
