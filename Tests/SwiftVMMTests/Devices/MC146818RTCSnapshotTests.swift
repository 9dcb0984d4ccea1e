import Foundation
import Testing
@testable import SwiftVMM
@testable import SwiftVMMDevices

/// The RTC's snapshot: taken from one chip, restored into another with its own wall clock
/// and device clock.
@Suite("MC146818RTC snapshot")
struct MC146818RTCSnapshotTests {
    typealias WallClock = MC146818RTCTests.WallClock

    /// One RTC with its host UTC clock, its device clock and IRQ8.
    struct Chip {
        let wall: WallClock
        let clock = FakeDeviceClock()
        let irq8 = RecordingLine()
        let rtc: MC146818RTC

        init(wall: Int64 = MC146818RTCTests.thursdayEvening, now: UInt64 = MC146818RTCSnapshotTests.t0) {
            let wall = WallClock(wall)
            self.wall = wall
            clock.now = now
            rtc = MC146818RTC(now: { wall.now }, timer: clock.timer, irq8: irq8)
        }

        func read(_ index: Int) -> UInt8 {
            rtc.write(offset: 0, size: 1, value: UInt32(index))
            return UInt8(rtc.read(offset: 1, size: 1))
        }

        func write(_ index: Int, _ value: UInt8) {
            rtc.write(offset: 0, size: 1, value: UInt32(index))
            rtc.write(offset: 1, size: 1, value: UInt32(value))
        }

        /// Both clocks move on by `nanoseconds`.
        func advance(_ nanoseconds: UInt64) {
            wall.advance(nanoseconds: Int64(nanoseconds))
            clock.now += nanoseconds
        }

        /// All 128 bytes, in order (reading register C clears it, on every chip alike).
        func registers() -> [UInt8] { (0..<0x80).map(read) }
    }

    static let t0: UInt64 = 1_000_000_000
    /// Ten seconds: the calendar's update and periodic edges keep their phase.
    static let gap: UInt64 = 10_000_000_000

    /// 19:42:40.5 UTC. Register B: AIE, 24-hour, BCD; alarm at second 45 of any minute and
    /// hour; CMOS 0x40 = 0xAB; shutdown status 0x0A; index 0x0F with NMIs masked.
    static func programmed() -> Chip {
        let chip = Chip()
        chip.write(0x0B, 0x22)
        chip.write(0x01, 0x45)
        chip.write(0x03, 0xC0)
        chip.write(0x05, 0xC0)
        chip.write(0x40, 0xAB)
        chip.write(0x0F, 0x0A)
        chip.rtc.write(offset: 0, size: 1, value: 0x8F)
        return chip
    }

    @Test("a restored RTC reads as the original on every byte, re-arms the same deadline, and its alarm fires once")
    func roundTrip() {
        let old = Self.programmed()
        let snapshot = old.rtc.snapshot()
        let new = Chip(wall: MC146818RTCTests.thursdayEvening + 3_600_017_000_000, now: old.clock.now)
        new.rtc.restore(snapshot)
        let alarm = Self.t0 + 4_500_000_000
        #expect(old.clock.armed == .some(alarm))
        #expect(new.clock.armed == .some(alarm))
        #expect(new.rtc.snapshot() == snapshot, "the calendar follows machine time, not the new host's UTC")
        #expect(new.rtc.nmiDisabled)
        #expect(new.irq8.levels.isEmpty, "the restore drives no line")

        let registers = old.registers()
        #expect(Array(registers[0...0x0D]) == [0x40, 0x45, 0x42, 0xC0, 0x19, 0xC0, 0x05, 0x26, 0x11, 0x26,
                                                0x26, 0x22, 0x00, 0x80])
        #expect(registers[0x0F] == 0x0A && registers[0x40] == 0xAB && registers[0x32] == 0x20)
        #expect(new.registers() == registers)
        for chip in [old, new] { chip.advance(2_000_000_000) }
        #expect(old.read(0x00) == 0x42)
        #expect(new.registers() == old.registers())

        for chip in [old, new] {
            chip.advance(2_500_000_000 - 1)
            chip.rtc.timerFired()
            #expect(chip.irq8.pulses == 0)
            chip.advance(1)
            chip.rtc.timerFired()
            chip.advance(500_000_000)
            chip.rtc.timerFired()
            #expect(chip.irq8.pulses == 1, "the alarm, once")
            #expect(chip.irq8.level)
            #expect(chip.read(0x0C) == 0xF0, "IRQF, PF, AF, UF")
            #expect(!chip.irq8.level)
            #expect(chip.clock.armed == .some(alarm + 60_000_000_000), "the next minute's")
        }
    }

    @Test("advanced(by:): the calendar reads the gap later; the armed update interrupt keeps its remaining time")
    func advanced() {
        let old = Chip()
        old.write(0x0B, 0x12)                                     // UIE, 24-hour, BCD
        let snapshot = old.rtc.snapshot()
        #expect(snapshot.advanced(by: 0) == snapshot)
        #expect(old.clock.armed == .some(Self.t0 + 500_000_000), "19:42:41")
        let new = Chip(wall: MC146818RTCTests.thursdayEvening + 3_600_017_000_000, now: old.clock.now + Self.gap)
        new.rtc.restore(snapshot.advanced(by: Self.gap))
        #expect(new.clock.armed == .some(Self.t0 + 500_000_000 + Self.gap))
        #expect([new.read(0x04), new.read(0x02), new.read(0x00)] == [0x19, 0x42, 0x50], "19:42:50")

        new.rtc.timerFired()
        #expect(new.irq8.pulses == 0, "nothing owed for the gap")
        new.advance(500_000_000 - 1)
        new.rtc.timerFired()
        #expect(new.irq8.pulses == 0)
        new.advance(1)
        new.rtc.timerFired()
        #expect(new.irq8.pulses == 1)
        #expect(new.read(0x00) == 0x51)
        #expect(new.read(0x0C) == 0xD0, "IRQF, PF, UF")
        #expect(new.clock.armed == .some(Self.t0 + 1_500_000_000 + Self.gap))
    }

    @Test("a snapshot survives JSON unchanged")
    func codable() throws {
        let snapshot = Self.programmed().rtc.snapshot()
        #expect(snapshot.ram[0x40] == 0xAB && snapshot.ram[0x01] == 0x45)
        #expect(snapshot.index == 0x0F && snapshot.nmiDisabled)
        #expect(snapshot.machineClockOffset == MC146818RTCTests.thursdayEvening - Int64(Self.t0))
        #expect(snapshot.deadline == Self.t0 + 4_500_000_000)
        let decoded = try JSONDecoder().decode(MC146818RTC.Snapshot.self, from: JSONEncoder().encode(snapshot))
        #expect(decoded == snapshot)
    }
}
