import SwiftVMMDevices
import SwiftVMMKVM

/// Every device of the board as a snapshot keeps it (each device's `Snapshot`), and KVM's
/// irqchip where KVM emulates the interrupt controllers (`--irqchip kernel`). Devices whose
/// registers hold nothing (the POST port, the debug-exit ports, the Bochs ports) have no
/// entry; the local APICs are the vCPUs' (`VCPUSnapshot`).
struct DeviceSnapshots: Sendable, Codable {
    /// The 8259s, I/O APIC, PIT, HPET and PM timer, with SwiftVMM's irqchip.
    struct Chipset: Sendable, Codable {
        var pic: PIC8259Pair.Snapshot
        var ioapic: IOAPIC.Snapshot
        var pit: PIT8254.Snapshot
        var hpet: HPET.Snapshot
        var pmTimer: ACPIPMTimer.Snapshot
    }

    var chipset: Chipset?
    var kernelIRQChip: KernelIRQChipState?
    var rtc: MC146818RTC.Snapshot
    var com1: Serial16550.Snapshot
    var com2: Serial16550.Snapshot?
    var powerManagement: ACPIPowerManagement.Snapshot
    var resetControl: ResetControl.Snapshot
    var systemControlPortA: SystemControlPortA.Snapshot
    var firmwareConfig: FirmwareConfig.Snapshot
    var testDevice: PCTestDevice.Snapshot?

    /// Takes every device of `board` (whose timers are held and whose vCPUs are parked).
    init(board: Board, vm: VirtualMachine) throws(KVMError) {
        chipset = board.chipset.map {
            Chipset(pic: $0.pic.snapshot(), ioapic: $0.ioapic.snapshot(), pit: $0.pit.snapshot(), hpet: $0.hpet.snapshot(),
                    pmTimer: $0.pmTimer.snapshot())
        }
        kernelIRQChip = board.chipset == nil ? try vm.captureKernelIRQChip(pit: true) : nil
        rtc = board.rtc.snapshot()
        com1 = board.uart.snapshot()
        com2 = board.com2?.snapshot()
        powerManagement = board.powerManagement.snapshot()
        resetControl = board.resetControl.snapshot()
        systemControlPortA = board.qemu.systemControlPortA.snapshot()
        firmwareConfig = board.qemu.firmwareConfig.snapshot()
        testDevice = board.qemu.testDevice?.snapshot()
    }

    /// Every register array has its hardware's length (checked before a snapshot read from
    /// a file is restored: a wrong length would index out of range).
    var isWellFormed: Bool {
        let chipsetWellFormed = chipset.map { $0.ioapic.isWellFormed && $0.pit.isWellFormed && $0.hpet.isWellFormed } ?? true
        return chipsetWellFormed && rtc.isWellFormed && (testDevice?.isWellFormed ?? true)
            && (kernelIRQChip.map { $0.chips.count == 3 } ?? true)
    }

    /// Loads every device of `board` (a new machine's, same shape), with their timers
    /// `gap` nanoseconds later (`Machine.restore`). KVM's irqchip is restored with the vCPUs.
    func restore(into board: Board, advancedBy gap: UInt64) {
        if let chipset, let devices = board.chipset {
            devices.pic.restore(chipset.pic)
            devices.ioapic.restore(chipset.ioapic)
            devices.pit.restore(chipset.pit.advanced(by: gap))
            devices.hpet.restore(chipset.hpet.advanced(by: gap))
            devices.pmTimer.restore(chipset.pmTimer.advanced(by: gap))
        }
        board.rtc.restore(rtc.advanced(by: gap))
        board.uart.restore(com1)
        if let com2 { board.com2?.restore(com2) }
        board.powerManagement.restore(powerManagement)
        board.resetControl.restore(resetControl)
        board.qemu.systemControlPortA.restore(systemControlPortA)
        board.qemu.firmwareConfig.restore(firmwareConfig)
        if let testDevice { board.qemu.testDevice?.restore(testDevice) }
    }
}
