/// The ACPI fixed-hardware PM1a event and control blocks (ACPI 6.5 §4.8.3.1 and §4.8.3.2),
/// as the FADT places them (PM1a_EVT_BLK 0x600, PM1a_CNT_BLK 0x604). A write to PM1
/// control with SLP_EN set and SLP_TYP 0 — the `\_S5_` sleep type SwiftVMM's DSDT gives —
/// turns the machine off. SCI_EN reads 1: ACPI is enabled from the start (SMI_CMD is 0).
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
    /// The sleep type meaning "soft off" (the DSDT's `\_S5_` package).
    static let softOffSleepType: UInt16 = 0

    /// PM1 status (offset 0, write 1 to clear) and enable (offset 2) — no events are
    /// ever raised, so both only hold what the guest writes.
    private let events = AnnotatedMutex<(status: UInt16, enable: UInt16)>((0, 0))
    private let powerOff: @Sendable () -> Void

    public init(powerOff: @escaping @Sendable () -> Void) { self.powerOff = powerOff }

    public var eventBlock: any PortDevice { EventBlock(pm: self) }
    public var control: any PortDevice { ControlBlock(pm: self) }

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
            let sleepType = (control & Control.sleepTypeMask) >> Control.sleepTypeShift
            if control & Control.sleepEnable != 0, sleepType == ACPIPowerManagement.softOffSleepType { pm.powerOff() }
        }
    }
}

/// The PC's reset control register at port 0xCF9 (Intel ICH/PCH datasheets, "Reset Control
/// Register"; the FADT's RESET_REG with RESET_VALUE 6): writing bit 2 (reset CPU) resets
/// the machine; bit 1 chooses hard reset, which is the same here.
public final class ResetControl: PortDevice {
    static let resetCPU: UInt32 = 1 << 2
    private let register = AnnotatedMutex<UInt8>(0)
    private let reset: @Sendable () -> Void

    public init(reset: @escaping @Sendable () -> Void) { self.reset = reset }

    public func read(offset: UInt16, size: Int) -> UInt32 { UInt32(register.withLock { $0 }) }

    public func write(offset: UInt16, size: Int, value: UInt32) {
        register.withLock { $0 = UInt8(truncatingIfNeeded: value) & 0x0E }
        if value & Self.resetCPU != 0 { reset() }
    }
}
