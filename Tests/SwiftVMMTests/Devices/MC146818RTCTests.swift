import Testing
@testable import SwiftVMM
@testable import SwiftVMMSupport
@testable import SwiftVMMPlatform
@testable import SwiftVMMDevices

/// The RTC with a settable wall clock.
struct MC146818RTCTests {
    final class WallClock: Sendable {
        private let value: AnnotatedMutex<Int64>
        init(_ nanoseconds: Int64) { value = AnnotatedMutex(nanoseconds) }
        var now: Int64 {
            get { value.withLock { $0 } }
            set { value.withLock { $0 = newValue } }
        }
        func advance(nanoseconds: Int64) { value.withLock { $0 += nanoseconds } }
    }

    /// 2026-11-26 (a Thursday) 19:42:40.5 UTC.
    static let thursdayEvening: Int64 = 1_795_722_160 * 1_000_000_000 + 500_000_000

    func make(_ clock: WallClock, backup: MC146818RTC.Backup = .poweredOn) -> MC146818RTC {
        MC146818RTC(backup: backup, now: { clock.now })
    }

    func read(_ rtc: MC146818RTC, _ index: Int) -> UInt8 {
        rtc.write(offset: 0, size: 1, value: UInt32(index))
        return UInt8(rtc.read(offset: 1, size: 1))
    }

    func write(_ rtc: MC146818RTC, _ index: Int, _ value: UInt8) {
        rtc.write(offset: 0, size: 1, value: UInt32(index))
        rtc.write(offset: 1, size: 1, value: UInt32(value))
    }

    @Test func calendarRoundTrips() {
        let cases: [(Int64, [Int])] = [
            (0, [1970, 1, 1, 0, 0, 0, 5]),                       // Thursday
            (951_782_400, [2000, 2, 29, 0, 0, 0, 3]),            // leap day, Tuesday
            (4_107_542_399, [2100, 2, 28, 23, 59, 59, 1]),       // 2100 is not leap; Sunday
            (1_795_722_160, [2026, 11, 26, 19, 42, 40, 5]),
        ]
        for (seconds, expected) in cases {
            let time = MC146818RTC.CalendarTime(unixSeconds: seconds)
            #expect([time.year, time.month, time.day, time.hour, time.minute, time.second, time.dayOfWeek] == expected)
            #expect(time.unixSeconds == seconds)
        }
    }

    @Test func readsTheHostTimeInBCDAnd24HourByDefault() {
        let rtc = make(WallClock(Self.thursdayEvening))
        #expect(read(rtc, 0x0B) == 0x02, "register B: 24-hour, BCD")
        #expect(read(rtc, 0x00) == 0x40)
        #expect(read(rtc, 0x02) == 0x42)
        #expect(read(rtc, 0x04) == 0x19)
        #expect(read(rtc, 0x06) == 0x05, "Thursday")
        #expect(read(rtc, 0x07) == 0x26)
        #expect(read(rtc, 0x08) == 0x11)
        #expect(read(rtc, 0x09) == 0x26)
        #expect(read(rtc, 0x32) == 0x20)
        #expect(read(rtc, 0x0D) == 0x80, "register D: VRT")
        #expect(read(rtc, 0x0A) == 0x26, "register A: divider running, 1024 Hz, not updating")
    }

    @Test func binaryAnd12HourFormats() {
        let rtc = make(WallClock(Self.thursdayEvening))
        write(rtc, 0x0B, 0x04)                                   // binary, 12-hour
        #expect(read(rtc, 0x00) == 40)
        #expect(read(rtc, 0x04) == 0x80 | 7, "7 PM")
        #expect(read(rtc, 0x09) == 26)
        #expect(read(rtc, 0x32) == 20)
        write(rtc, 0x0B, 0x00)                                   // BCD, 12-hour
        #expect(read(rtc, 0x04) == 0x87)
        let midnight = make(WallClock(0))
        write(midnight, 0x0B, 0x00)
        #expect(read(midnight, 0x04) == 0x12, "00:xx is 12 AM")
    }

    @Test func updateInProgressOnlyInTheLast244MicrosecondsOfASecond() {
        let clock = WallClock(1_000 * 1_000_000_000 + 999_700_000)
        let rtc = make(clock)
        #expect(read(rtc, 0x0A) & 0x80 == 0)
        clock.advance(nanoseconds: 100_000)                      // 999.8 ms: inside tBUC
        #expect(read(rtc, 0x0A) & 0x80 != 0)
        #expect(read(rtc, 0x00) == 0x40, "the old second until the update")
        clock.advance(nanoseconds: 200_000)                      // past the update
        #expect(read(rtc, 0x0A) & 0x80 == 0)
        #expect(read(rtc, 0x00) == 0x41)
    }

    @Test func settingTheTimeMovesTheClock() {
        let clock = WallClock(Self.thursdayEvening)
        let rtc = make(clock)
        write(rtc, 0x0B, 0x82)                                   // SET: updates halted
        #expect(read(rtc, 0x0A) & 0x80 == 0, "no UIP while SET")
        clock.advance(nanoseconds: 5_000_000_000)
        #expect(read(rtc, 0x00) == 0x40, "frozen while SET")
        write(rtc, 0x09, 0x30)                                   // 2030
        write(rtc, 0x04, 0x08)
        write(rtc, 0x02, 0x00)
        write(rtc, 0x00, 0x00)
        write(rtc, 0x0B, 0x02)                                   // run again
        clock.advance(nanoseconds: 2_000_000_000)
        #expect(read(rtc, 0x09) == 0x30)
        #expect(read(rtc, 0x04) == 0x08)
        #expect(read(rtc, 0x00) == 0x02)
        // A write while running changes that field at once.
        write(rtc, 0x02, 0x15)
        #expect(read(rtc, 0x02) == 0x15)
        #expect(read(rtc, 0x04) == 0x08)
        // Stopping the divider freezes the clock too.
        write(rtc, 0x0A, 0x66)
        clock.advance(nanoseconds: 3_000_000_000)
        #expect(read(rtc, 0x00) == 0x02)
    }

    @Test func statusCReportsUpdatesAndPeriodicEdgesAndClearsOnRead() {
        let clock = WallClock(Self.thursdayEvening)
        let rtc = make(clock)
        #expect(read(rtc, 0x0C) == 0)
        clock.advance(nanoseconds: 100_000)                      // < 1/1024 s
        #expect(read(rtc, 0x0C) == 0)
        clock.advance(nanoseconds: 1_000_000)                    // a 1024 Hz edge
        #expect(read(rtc, 0x0C) == 0x40, "PF")
        #expect(read(rtc, 0x0C) == 0, "read clears")
        clock.advance(nanoseconds: 600_000_000)                  // crosses a second
        #expect(read(rtc, 0x0C) == 0x50, "UF and PF")
        write(rtc, 0x0B, 0x52)                                   // PIE + UIE
        clock.advance(nanoseconds: 1_000_000_000)
        #expect(read(rtc, 0x0C) == 0xD0, "IRQF with enabled flags")
        write(rtc, 0x0A, 0x20)                                   // rate 0: no periodic edges
        clock.advance(nanoseconds: 2_000_000)
        #expect(read(rtc, 0x0C) == 0)
    }

    @Test func alarmSetsAFAndIsArmedForItsNextMatch() {
        let w = Wired(), start = w.device.now                    // 19:42:40.5, BCD, 24-hour
        write(w.rtc, 0x01, 0x45); write(w.rtc, 0x03, 0x42); write(w.rtc, 0x05, 0x19)   // alarm 19:42:45
        #expect(w.device.armed == .some(nil), "AIE is off")
        write(w.rtc, 0x0B, 0x22)                                 // AIE, 24-hour
        #expect(w.device.armed == start + 4_500_000_000)
        _ = read(w.rtc, 0x0C)
        w.advance(nanoseconds: 4_000_000_000)                    // 19:42:44.5
        #expect(read(w.rtc, 0x0C) == 0x50, "updates and 1024 Hz edges, no alarm yet")
        w.advance(nanoseconds: 1_000_000_000)                    // 19:42:45.5
        #expect(read(w.rtc, 0x0C) == 0xF0, "AF with IRQF (AIE), UF and PF")
        let now = start + 5_000_000_000
        #expect(w.device.armed == now + 86_399_500_000_000, "tomorrow")
        for index in [0x01, 0x03, 0x05] { write(w.rtc, index, 0xC0) }   // don't care: every second
        #expect(w.device.armed == now + 500_000_000)
        write(w.rtc, 0x03, 0x43)                                 // any hour, minute 43, any second
        #expect(w.device.armed == now + 14_500_000_000)
        write(w.rtc, 0x01, 0x60)                                 // second 60 never comes
        #expect(w.device.armed == .some(nil))
        w.advance(nanoseconds: 100 * 1_000_000_000)
        #expect(read(w.rtc, 0x0C) == 0x50, "no AF for an alarm that never matches")
    }

    /// IRQ8 with a fake device clock that advances with the wall clock.
    struct Wired {
        let clock = WallClock(MC146818RTCTests.thursdayEvening)   // 19:42:40.5
        let device = FakeDeviceClock()
        let irq8 = RecordingLine()
        let rtc: MC146818RTC
        init() { rtc = MC146818RTC(now: { [clock] in clock.now }, timer: device.timer, irq8: irq8) }
        func advance(nanoseconds: Int64) {
            clock.advance(nanoseconds: nanoseconds)
            device.now += UInt64(nanoseconds)
        }
    }

    @Test func periodicInterruptRaisesIRQ8UntilCIsRead() {
        let w = Wired(), start = w.device.now
        write(w.rtc, 0x0A, 0x2F)                                 // divider running, RS 15: 2 Hz
        #expect(w.device.armed == .some(nil), "PIE is off: nothing to wait for")
        write(w.rtc, 0x0B, 0x42)                                 // PIE, 24-hour
        #expect(w.device.armed == start + 500_000_000, "the next 0.5 s edge")
        #expect(!w.irq8.level)
        w.advance(nanoseconds: 500_000_000)
        w.rtc.timerFired()
        #expect(w.irq8.level, "IRQF rises with PF")
        #expect(w.device.armed == .some(nil), "nothing more until C is read")
        w.advance(nanoseconds: 2_000_000_000)                    // four more periods merge into it
        w.rtc.timerFired()
        #expect(w.irq8.pulses == 1)
        #expect(read(w.rtc, 0x0C) == 0xD0, "IRQF, PF (and UF, not enabled)")
        #expect(!w.irq8.level, "reading C drops IRQ8")
        #expect(w.device.armed == start + 3_000_000_000, "the next edge after the read")
        w.advance(nanoseconds: 499_999_999)
        w.rtc.timerFired()                                       // early: nothing yet
        #expect(!w.irq8.level && w.device.armed == start + 3_000_000_000)
        w.advance(nanoseconds: 1)
        w.rtc.timerFired()
        #expect(w.irq8.pulses == 2)
        write(w.rtc, 0x0B, 0x02)                                 // PIE off: IRQF stays until C is read
        #expect(w.irq8.level)
        _ = read(w.rtc, 0x0C)
        #expect(!w.irq8.level && w.device.armed == .some(nil))
    }

    @Test func updateAndAlarmInterruptsAreArmedForTheirTimes() {
        let w = Wired(), start = w.device.now
        write(w.rtc, 0x0A, 0x20)                                 // no periodic rate
        write(w.rtc, 0x0B, 0x12)                                 // UIE
        #expect(w.device.armed == start + 500_000_000, "the next update, at 19:42:41")
        write(w.rtc, 0x01, 0x50); write(w.rtc, 0x03, 0x42); write(w.rtc, 0x05, 0x19)   // alarm 19:42:50
        write(w.rtc, 0x0B, 0x22)                                 // AIE only
        #expect(w.device.armed == start + 9_500_000_000)
        w.advance(nanoseconds: 9_500_000_000)
        w.rtc.timerFired()
        #expect(w.irq8.level)
        #expect(read(w.rtc, 0x0C) == 0xB0, "IRQF, AF (and UF, not enabled)")
        #expect(w.device.armed == start + 9_500_000_000 + 86_400_000_000_000, "tomorrow")
    }

    @Test func enablingAnInterruptWhoseFlagIsSetRaisesIRQ8AtOnce() {
        let w = Wired()
        _ = read(w.rtc, 0x0C)
        w.advance(nanoseconds: 1_000_000_000)                    // an update: UF is set
        write(w.rtc, 0x0B, 0x12)                                 // UIE
        #expect(w.irq8.level, "IRQF = UF & UIE")
    }

    @Test func indexPortRecordsNMIDisableAndReadsFF() {
        let rtc = make(WallClock(0))
        rtc.write(offset: 0, size: 1, value: 0x8F)
        #expect(rtc.nmiDisabled)
        #expect(rtc.read(offset: 0, size: 1) == 0xFF)
        rtc.write(offset: 1, size: 1, value: 0x0A)               // shutdown status byte 0x0F
        rtc.write(offset: 0, size: 1, value: 0x0F)
        #expect(!rtc.nmiDisabled)
        #expect(rtc.read(offset: 1, size: 1) == 0x0A)
        write(rtc, 0x0D, 0x00)
        #expect(read(rtc, 0x0D) == 0x80, "register D is read-only")
    }

    @Test func batteryBackedStateSurvivesAReset() {
        let clock = WallClock(Self.thursdayEvening)
        let rtc = make(clock)
        write(rtc, 0x0F, 0x0A)
        write(rtc, 0x7E, 0x5A)
        write(rtc, 0x0B, 0x56)                                   // binary + PIE + UIE
        write(rtc, 0x09, 40)                                     // year 2040 (binary)
        let next = make(clock, backup: rtc.backup)
        #expect(read(next, 0x0F) == 0x0A)
        #expect(read(next, 0x7E) == 0x5A)
        #expect(read(next, 0x0B) == 0x06, "interrupt enables cleared by reset, format kept")
        #expect(read(next, 0x09) == 40, "the clock offset is kept")
    }

    @Test func firmwareMemoryBytesAsQEMU() {
        var small = [UInt8](repeating: 0xEE, count: 128)
        FirmwareCMOS.write(into: &small, ram: RAMLayout(size: 32 << 20), cpus: 4)
        #expect(small[0x15] == 0x80 && small[0x16] == 0x02, "640 KiB")
        #expect(small[0x17] == 0x00 && small[0x18] == 0x7C, "31 MiB above 1 MiB in KiB = 0x7C00")
        #expect(small[0x30] == small[0x17] && small[0x31] == small[0x18])
        #expect(small[0x34] == 0x00 && small[0x35] == 0x01, "16 MiB above 16 MiB in 64 KiB = 0x0100")
        #expect(small[0x5B] == 0 && small[0x5C] == 0 && small[0x5D] == 0)
        #expect(small[0x5F] == 3)
        #expect(small[0x10] == 0xEE && small[0x7F] == 0xEE, "bytes firmware does not set are left alone")
        var large = [UInt8](repeating: 0, count: 128)
        FirmwareCMOS.write(into: &large, ram: RAMLayout(size: 5 << 30), cpus: 1)
        #expect(large[0x17] == 0xFF && large[0x18] == 0xFF, "capped at 65535")
        #expect(large[0x34] == 0x00 && large[0x35] == 0xBF, "3 GiB - 16 MiB in 64 KiB = 0xBF00")
        #expect(large[0x5B] == 0x00 && large[0x5C] == 0x80 && large[0x5D] == 0x00, "2 GiB above 4 GiB in 64 KiB = 0x8000")
    }
}
