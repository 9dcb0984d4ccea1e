import Logging
import SwiftVMMBoot
import SwiftVMMPlatform
import SwiftVMMDevices
import SwiftVMMMemory

/// The devices of the PC SwiftVMM builds, placed on its port and MMIO buses, and the ACPI
/// tables that describe them: the chipset (8259s, PIT, I/O APIC, HPET, PM timer; with
/// SwiftVMM's irqchip), COM1 and COM2, the VGA text mirror, the RTC, ACPI power management
/// and S3, reset, the i8042 and QEMU's devices. Nothing here runs yet: the timers the
/// devices arm fire once the machine runs.
struct Board {
    let ports: PortBus
    let mmio: MMIOBus
    let chipset: Chipset?
    let acpi: (image: [UInt8], rsdp: [UInt8], facs: UInt64)
    /// Every byte COM1 transmits passes here.
    let serialMonitor: SerialMonitor
    let uart: Serial16550
    let com2: Serial16550?
    let vgaText: VGATextMirror?
    let rtc: MC146818RTC
    let suspendToRAM: SuspendToRAM?
    let powerManagement: ACPIPowerManagement
    let resetControl: ResetControl
    /// fw_cfg, port 0x92 and the test device.
    let qemu: Machine.QEMUDevices

    /// Device timer slots of the machine's `TimerService` (each vCPU keeps its local APIC's
    /// timer in its own `VCPUAlarm`).
    enum TimerSlot {
        static let pit = 0, hpet = 1, rtc = 2, count = 3
    }

    init(_ configuration: Machine.Configuration, host: HostVM, clock: MachineClock, timers: TimerService,
         apicBus: APICBus, control: RunControl, cmos: MC146818RTC.Backup, logger: Logger) throws {
        let cpus = configuration.cpus
        // Weak: the timer service holds its handlers, which hold the devices.
        func timer(_ slot: Int) -> DeviceTimer {
            DeviceTimer(now: { clock.now() }, arm: { [weak timers] in timers?.arm(slot, atNanoseconds: $0) })
        }
        ports = PortBus(name: "port", logger: logger)
        mmio = MMIOBus(name: "MMIO address", logger: logger)
        let chipset = host.userspaceAPIC ? Chipset(
            ioAPICID: UInt8(ACPITables(cpuCount: cpus).ioAPICID), pitTimer: timer(TimerSlot.pit), hpetTimer: timer(TimerSlot.hpet),
            apicBus: apicBus, lostTicks: configuration.lostTicks) : nil
        self.chipset = chipset
        acpi = ACPITables(cpuCount: cpus, hpetBlockID: chipset.map { UInt32(truncatingIfNeeded: $0.hpet.read(offset: 0, size: 4)) })
            .build(at: Layout.acpiArea.lowerBound)
        let line = { (n: Int) in host.interruptLine(n, chipset: chipset, control: control) }

        (serialMonitor, uart, com2, vgaText) = try Self.placeConsoles(configuration, on: ports, memory: host.memory,
                                                                      control: control, line: line)
        suspendToRAM = host.userspaceAPIC ? SuspendToRAM(facs: acpi.facs, memory: host.memory, control: control, logger: logger) : nil
        let irq8 = chipset?.rtcIRQ8 ?? line(Layout.rtcIRQ)
        rtc = MC146818RTC(backup: cmos, timer: timer(TimerSlot.rtc), irq8: suspendToRAM?.watchingRTC(irq8) ?? irq8)
        rtc.store { FirmwareCMOS.write(into: &$0, ram: host.memory.layout, cpus: cpus) }
        try ports.place(rtc, at: UInt64(Layout.cmos), count: 2)
        (powerManagement, resetControl) = try Self.placePowerAndReset(on: ports, suspendToRAM: suspendToRAM, control: control,
                                                                      logger: logger)
        try chipset?.place(ports: ports, mmio: mmio)
        qemu = try Machine.placeQEMUPorts(on: ports, mmio: mmio, configuration: configuration, memory: host.memory,
                                   serialOutput: serialMonitor, control: control, line: line)
    }

    /// COM1 (through the monitor `expect` and the serial streams read), COM2 when it has an
    /// output, and the VGA text mirror; `--exit-on` watches COM1 and the mirror, each with
    /// its own line buffer.
    private static func placeConsoles(_ configuration: Machine.Configuration, on ports: PortBus, memory: GuestMemory,
                                      control: RunControl, line: (Int) -> any InterruptLine) throws
        -> (SerialMonitor, Serial16550, Serial16550?, VGATextMirror?) {
        func watched(_ output: any SerialSink) throws(MachineError) -> any SerialSink {
            guard !configuration.exitOn.isEmpty else { return output }
            let status = configuration.exitOnStatus
            do {
                return try LineMatchingSink(output: output, patterns: configuration.exitOn) {
                    control.finish(.outputMatched(pattern: $0, status: status))
                }
            } catch {
                throw MachineError.invalidConfiguration("--exit-on: not a valid regular expression: \(error)")
            }
        }
        let monitor = SerialMonitor(output: try watched(configuration.serialOutput))
        let uart = Serial16550(sink: monitor, irq: line(Layout.com1IRQ))
        try ports.place(uart, at: UInt64(Layout.com1), count: 8)
        let com2 = configuration.serial2Output.map { Serial16550(sink: $0, irq: line(Layout.com2IRQ)) }
        if let com2 { try ports.place(com2, at: UInt64(Layout.com2), count: 8) }
        let vgaText = try configuration.vgaTextOutput.map { output throws(MachineError) in
            VGATextMirror(memory: memory, sink: try watched(output))
        }
        return (monitor, uart, com2, vgaText)
    }

    /// ACPI PM1 (power off, S3), the reset control register and the i8042's reset line.
    private static func placePowerAndReset(on ports: PortBus, suspendToRAM: SuspendToRAM?, control: RunControl,
                                           logger: Logger) throws -> (ACPIPowerManagement, ResetControl) {
        let powerManagement = ACPIPowerManagement(powerOff: { control.finish(.poweredOff) }, suspend: {
            if let suspendToRAM { suspendToRAM.enter() } else {
                logger.warning("the guest asked for ACPI S3; SwiftVMM suspends to RAM only with its own irqchip (--irqchip user)")
            }
        })
        try ports.place(powerManagement.eventBlock, at: UInt64(Layout.pm1aEvent), count: 4)
        try ports.place(powerManagement.control, at: UInt64(Layout.pm1aControl), count: 2)
        try ports.place(powerManagement.control, at: UInt64(Layout.bochsPowerOff), count: 2)
        let resetControl = ResetControl { control.finish(.reset) }
        try ports.place(resetControl, at: UInt64(Layout.resetControl), count: 1)
        let keyboardController = I8042 { control.finish(.reset) }
        try ports.place(keyboardController.data, at: UInt64(Layout.i8042Data), count: 1)
        try ports.place(keyboardController.command, at: UInt64(Layout.i8042Command), count: 1)
        return (powerManagement, resetControl)
    }

    /// The ACPI tables, what firmware leaves running (`--bios-timer`), then the kernel and
    /// its boot information: where the boot processor starts.
    func loadFirmwareAndKernel(_ payload: BootPayload, configuration: Machine.Configuration,
                               memory: GuestMemory) throws -> EntryState {
        try memory.write(acpi.image, at: Layout.acpiArea.lowerBound)
        if configuration.biosTimer {
            guard let chipset else { throw MachineError.invalidConfiguration("--bios-timer needs SwiftVMM's irqchip (--irqchip user)") }
            try Machine.leaveBIOSTimer(chipset: chipset, memory: memory,
                                       acpiEnd: Layout.acpiArea.lowerBound + UInt64(acpi.image.count))
        }
        return try BootLoader.boot(payload, rsdp: acpi.rsdp, memory: memory)
    }
}
