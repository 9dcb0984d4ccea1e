import SwiftVMMSupport

/// The ACPI fixed-hardware PM1a event and control blocks (ACPI 6.5 §4.8.3.1 and §4.8.3.2),
/// as the FADT places them (PM1a_EVT_BLK 0x600, PM1a_CNT_BLK 0x604). A write to PM1
/// control with SLP_EN set sleeps as SLP_TYP says, by the packages SwiftVMM's DSDT gives:
/// `\_S5_` (0) turns the machine off; `\_S3_` (1) suspends it to RAM, and the RTC's
/// interrupt wakes it when PM1 enable has RTC_EN (§4.8.3.1.1, §16.1 "Sleeping States"; the machine
/// does the rest, `suspend`). SCI_EN reads 1: ACPI is enabled from the start (SMI_CMD is 0).
///
/// Place `control` again at 0xB004 for kernels written for old Bochs/QEMU, which power off
/// with `outw(0xB004, 0x2000)`.
public final class ACPIPowerManagement: Sendable {
    /// PM1 control register bits (§4.8.3.2.1, Table 4.13).
    enum Control {
        static let sciEnable: UInt16 = 1 << 0
        static let sleepTypeShift: UInt16 = 10, sleepTypeMask: UInt16 = 7 << 10
        static let sleepEnable: UInt16 = 1 << 13
    }
    /// PM1 status and enable bits (§4.8.3.1.1, Tables 4.11 and 4.12): RTC_STS/RTC_EN, and
    /// WAK_STS, which the hardware sets when the machine wakes from a sleeping state.
    enum Event {
        static let rtc: UInt16 = 1 << 10
        static let wake: UInt16 = 1 << 15
    }
    /// The sleep types of the DSDT's `\_S5_` (soft off) and `\_S3_` (suspend to RAM)
    /// packages, as in QEMU's DSDT.
    static let softOffSleepType: UInt16 = 0, suspendToRAMSleepType: UInt16 = 1

    /// PM1 status (offset 0, write 1 to clear) and enable (offset 2).
    let events = AnnotatedMutex<(status: UInt16, enable: UInt16)>((0, 0))
    private let powerOff: @Sendable () -> Void
    private let suspend: @Sendable () -> Void

    /// `suspend` runs on the vCPU thread that wrote SLP_EN with the S3 sleep type.
    public init(powerOff: @escaping @Sendable () -> Void, suspend: @escaping @Sendable () -> Void = {}) {
        self.powerOff = powerOff
        self.suspend = suspend
    }

    public var eventBlock: any PortDevice { EventBlock(pm: self) }
    public var control: any PortDevice { ControlBlock(pm: self) }

    /// The RTC's interrupt may wake the machine: PM1 enable has RTC_EN.
    public var rtcWakeEnabled: Bool { events.withLock { $0.enable & Event.rtc != 0 } }

    /// The machine woke from S3 on the RTC's interrupt: WAK_STS and RTC_STS read 1 until
    /// the guest clears them.
    public func wokeOnRTC() {
        events.withLock { $0.status |= Event.wake | Event.rtc }
    }

    private final class EventBlock: PortDevice {
        let pm: ACPIPowerManagement
        init(pm: ACPIPowerManagement) { self.pm = pm }
        func read(offset: UInt16, size: Int) -> UInt32 {
            let (status, enable) = pm.events.withLock { $0 }
            let value = UInt32(status) | UInt32(enable) << 16
            return value >> (8 * UInt32(offset)) & (size == 4 ? 0xFFFF_FFFF : (1 << (8 * UInt32(size))) - 1)
        }
        func write(offset: UInt16, size: Int, value: UInt32) {
            pm.events.withLock { events in
                let shifted = value << (8 * UInt32(offset))
                events.status &= ~UInt16(truncatingIfNeeded: shifted)                 // write 1 to clear
                if offset + UInt16(size) > 2 { events.enable = UInt16(truncatingIfNeeded: shifted >> 16) }
            }
        }
    }

    private final class ControlBlock: PortDevice {
        let pm: ACPIPowerManagement
        init(pm: ACPIPowerManagement) { self.pm = pm }
        func read(offset: UInt16, size: Int) -> UInt32 { offset == 0 ? UInt32(Control.sciEnable) : 0 }
        func write(offset: UInt16, size: Int, value: UInt32) {
            guard offset == 0, size >= 2 else { return }
            let control = UInt16(truncatingIfNeeded: value)
            guard control & Control.sleepEnable != 0 else { return }
            switch (control & Control.sleepTypeMask) >> Control.sleepTypeShift {
            case ACPIPowerManagement.softOffSleepType: pm.powerOff()
            case ACPIPowerManagement.suspendToRAMSleepType: pm.suspend()
            default: break
            }
        }
    }
}

/// The PC's reset control register at port 0xCF9 (Intel ICH/PCH datasheets, "Reset Control
/// Register"; the FADT's RESET_REG with RESET_VALUE 6): writing bit 2 (reset CPU) resets
/// the machine; bit 1 chooses hard reset, which is the same here.
public final class ResetControl: PortDevice {
    static let resetCPU: UInt32 = 1 << 2
    let register = AnnotatedMutex<UInt8>(0)
    private let reset: @Sendable () -> Void

    public init(reset: @escaping @Sendable () -> Void) { self.reset = reset }

    public func read(offset: UInt16, size: Int) -> UInt32 { UInt32(register.withLock { $0 }) }

    public func write(offset: UInt16, size: Int, value: UInt32) {
        register.withLock { $0 = UInt8(truncatingIfNeeded: value) & 0x0E }
        if value & Self.resetCPU != 0 { reset() }
    }
}
