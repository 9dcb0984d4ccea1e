import Testing
@testable import SwiftVMM

/// PM1a event/control, the reset control register and the 8042, with recording sinks.
struct PowerDevicesTests {
    final class Count: Sendable {
        private let value = AnnotatedMutex(0)
        func increment() { value.withLock { $0 += 1 } }
        var count: Int { value.withLock { $0 } }
    }

    @Test func pm1ControlPowersOffOnSleepTypeZeroAndSuspendsOnOne() {
        let offs = Count(), suspends = Count()
        let pm = ACPIPowerManagement(powerOff: { offs.increment() }, suspend: { suspends.increment() })
        #expect(pm.control.read(offset: 0, size: 2) & 1 == 1, "SCI_EN: ACPI mode from the start")
        pm.control.write(offset: 0, size: 2, value: 1 << 10)             // SLP_TYP 1, no SLP_EN
        pm.control.write(offset: 0, size: 2, value: 0)                   // no SLP_EN
        pm.control.write(offset: 0, size: 2, value: 5 << 10 | 1 << 13)   // SLP_TYP 5: no such state
        #expect(offs.count == 0 && suspends.count == 0)
        pm.control.write(offset: 0, size: 2, value: 0x2400)              // SLP_EN, SLP_TYP 1: \_S3_
        #expect(offs.count == 0 && suspends.count == 1)
        pm.control.write(offset: 0, size: 2, value: 0x2000)              // SLP_EN, SLP_TYP 0: \_S5_
        #expect(offs.count == 1 && suspends.count == 1)
    }

    @Test func pm1EventBlockHoldsEnableAndClearsStatus() {
        let pm = ACPIPowerManagement {}
        pm.eventBlock.write(offset: 2, size: 2, value: 0x0120)
        #expect(pm.eventBlock.read(offset: 2, size: 2) == 0x0120)
        #expect(!pm.rtcWakeEnabled)
        #expect(pm.eventBlock.read(offset: 0, size: 2) == 0, "no events raised")
        pm.eventBlock.write(offset: 2, size: 2, value: 0x0400)           // RTC_EN
        #expect(pm.rtcWakeEnabled)
        pm.wokeOnRTC()
        #expect(pm.eventBlock.read(offset: 0, size: 2) == 0x8400, "WAK_STS and RTC_STS")
        pm.eventBlock.write(offset: 0, size: 2, value: 0x8000)           // write 1 to clear WAK_STS
        #expect(pm.eventBlock.read(offset: 0, size: 4) == 0x0400_0400, "RTC_STS; enable above")
    }

    @Test func resetControlRegister() {
        let resets = Count()
        let cf9 = ResetControl { resets.increment() }
        cf9.write(offset: 0, size: 1, value: 0x02)                       // hard-reset select only
        #expect(resets.count == 0)
        #expect(cf9.read(offset: 0, size: 1) == 0x02)
        cf9.write(offset: 0, size: 1, value: 0x06)
        #expect(resets.count == 1)
    }

    @Test func keyboardControllerResetAndA20() {
        let resets = Count()
        let kbc = I8042 { resets.increment() }
        #expect(kbc.command.read(offset: 0, size: 1) == 0, "status: buffers empty, never busy")
        kbc.command.write(offset: 0, size: 1, value: 0xD1)               // write output port (A20)
        kbc.data.write(offset: 0, size: 1, value: 0xDF)
        #expect(resets.count == 0)
        kbc.command.write(offset: 0, size: 1, value: 0xFE)
        #expect(resets.count == 1)
    }
}
