import SwiftVMMSupport

/// Where everything sits in the guest's physical address space and I/O port space.
/// One place, so a reader can see the whole PC at once.
public enum Layout {
    // MARK: Memory

    /// Conventional memory ends where the Extended BIOS Data Area begins (639 KiB), as on
    /// a PC with firmware. Multiboot's mem_lower is this in KiB.
    public static let conventionalMemoryEnd: UInt64 = 0x9_FC00
    /// 0x9FC00–0xFFFFF: EBDA, VGA memory, option ROMs and BIOS area — reserved in the map.
    public static let highMemoryStart: UInt64 = 0x10_0000
    /// The VMM writes nothing in this range, where kernels put SMP trampolines
    /// (0x8000, 0x70000, ...) and the BIOS data area lives (0x400–0x4FF).
    public static let kernelOwnedLowMemory: Range<UInt64> = 0x500..<0x9_FC00
    /// VGA memory (IBM VGA Technical Reference): plain guest RAM here, reserved in the
    /// memory map. The colour text page (80×25 cells of character + attribute) is at 0xB8000.
    public static let vgaMemory: Range<UInt64> = 0xA_0000..<0xC_0000
    public static let vgaTextPage: UInt64 = 0xB_8000
    /// ACPI tables and the RSDP: the BIOS read-only area an OS scans for "RSD PTR "
    /// (ACPI 6.5 §5.2.5.1, "Finding the RSDP on IA-PC systems").
    public static let acpiArea: Range<UInt64> = 0xE_0000..<0x10_0000

    /// RAM below 4 GiB stops here at most; the rest of RAM is mapped from 4 GiB up, so the
    /// 32-bit device window is never shadowed by RAM.
    public static let lowRAMLimit: UInt64 = 0xC000_0000
    /// Start of RAM above the device window.
    public static let highRAMStart: UInt64 = 0x1_0000_0000
    /// 3–4 GiB: the 32-bit device window (reserved in the memory map).
    public static let deviceWindow: Range<UInt64> = 0xC000_0000..<0x1_0000_0000

    /// I/O APIC (Intel 82093AA datasheet §3.0; the conventional address ACPI MADT reports).
    public static let ioAPICBase: UInt64 = 0xFEC0_0000
    /// HPET (IA-PC HPET 1.0a §3.2.4, the address the ACPI HPET table reports).
    public static let hpetBase: UInt64 = 0xFED0_0000
    /// Local APIC default base (Intel SDM Vol. 3A §11.4.1, IA32_APIC_BASE reset value).
    public static let localAPICBase: UInt64 = 0xFEE0_0000
    /// Three pages KVM on Intel VMX needs for real-mode emulation (KVM_SET_TSS_ADDR);
    /// inside the device window, the same address Firecracker uses.
    public static let kvmTSSAddress: UInt64 = 0xFFFB_D000

    // MARK: I/O ports

    /// 8259A master and slave (command, data) and the edge/level control registers
    /// (PC/AT; ELCR as on PIIX/ICH chipsets).
    public static let masterPIC: UInt16 = 0x20, slavePIC: UInt16 = 0xA0, edgeLevelControl: UInt16 = 0x4D0
    /// 8254 PIT counters 0–2 and control word; port 0x61 is system control port B
    /// (speaker gate, OUT2).
    public static let pit: UInt16 = 0x40, systemControlPortB: UInt16 = 0x61
    /// ACPI PM1a event and control blocks and PM timer (as the FADT says; QEMU's values).
    public static let pm1aEvent: UInt16 = 0x600, pm1aControl: UInt16 = 0x604, pmTimer: UInt16 = 0x608
    /// Old Bochs/QEMU power-off port (PIIX4 PM control at base 0xB000).
    public static let bochsPowerOff: UInt16 = 0xB004
    /// Reset control register (ICH/PCH), the FADT's RESET_REG.
    public static let resetControl: UInt16 = 0xCF9
    /// 8042 keyboard controller data and command/status ports.
    public static let i8042Data: UInt16 = 0x60, i8042Command: UInt16 = 0x64
    /// COM1, 8 registers (PC/AT convention).
    public static let com1: UInt16 = 0x3F8
    /// COM2, 8 registers (PC/AT convention), present only when asked for (`--serial2`).
    public static let com2: UInt16 = 0x2F8
    /// MC146818 RTC/CMOS index and data ports (PC/AT).
    public static let cmos: UInt16 = 0x70
    /// QEMU's isa-debug-exit as SwiftVMM places it (QEMU: `-device isa-debug-exit,iobase=0xf4`).
    public static let debugExit: UInt16 = 0xF4
    /// Ports test kernels written for QEMU and Bochs poke: the debug console (Bochs "E9
    /// hack", QEMU isa-debugcon), Bochs's shutdown port, the POST code port and system
    /// control port A (fast A20 and reset, PS/2).
    public static let bochsDebugConsole: UInt16 = 0xE9, bochsShutdown: UInt16 = 0x8900
    public static let postCode: UInt16 = 0x80, systemControlPortA: UInt16 = 0x92
    /// QEMU's fw_cfg on x86: selector 0x510, data 0x511, DMA address 0x514–0x51B
    /// (QEMU docs/specs/fw_cfg.rst, FW_CFG_IO_BASE).
    public static let firmwareConfig: UInt16 = 0x510, firmwareConfigDMA: UInt16 = 0x514
    /// SwiftVMM's snapshot port (`SnapshotPort`), a port no PC/AT device and none of
    /// QEMU's x86 devices decode.
    public static let snapshotPort: UInt16 = 0x5F0

    // MARK: Interrupt lines

    /// COM1's ISA IRQ.
    public static let com1IRQ: Int = 4
    /// COM2's ISA IRQ.
    public static let com2IRQ: Int = 3
    /// The RTC's periodic, alarm and update interrupts (IBM PC/AT).
    public static let rtcIRQ: Int = 8
    /// The ACPI SCI (FADT SCI_INT).
    public static let sciIRQ: Int = 9

    // MARK: Clocks

    /// The local APIC timer's input clock: 1 GHz (as KVM's), so one count is one nanosecond
    /// at divide-by-1. CPUID leaf 0x40000010 tells the guest.
    public static let localAPICBusHz: UInt64 = 1_000_000_000
}

/// One entry of the memory map the guest is given (multiboot mmap, e820 types).
public struct MemoryMapEntry: Equatable, Sendable, CustomStringConvertible {
    public enum Kind: UInt32, Sendable {
        case usable = 1
        case reserved = 2
    }
    public var base: UInt64
    public var length: UInt64
    public var kind: Kind

    public var end: UInt64 { base + length }
    public var description: String { "\(hex(base))-\(hex(end)) \(kind)" }
}

/// The guest's RAM split around the device window.
public struct RAMLayout: Equatable, Sendable {
    public let size: UInt64

    public init(size: UInt64) { self.size = size }

    /// A RAM size as QEMU's `-m` writes it (and `--memory`, manifests): a bare number is MiB;
    /// K, M, G, T suffixes, optionally followed by B. Nil when malformed, zero or too large.
    public static func bytes(parsing argument: String) -> UInt64? {
        var text = argument.uppercased()
        if text.hasSuffix("B") { text.removeLast() }
        let shifts: [Character: UInt64] = ["K": 10, "M": 20, "G": 30, "T": 40]
        var shift: UInt64 = 20
        if let last = text.last, let unit = shifts[last] {
            shift = unit
            text.removeLast()
        }
        guard let value = UInt64(text), value > 0, value <= UInt64.max >> shift else { return nil }
        return value << shift
    }

    /// RAM from 0 up, below the device window.
    public var lowSize: UInt64 { min(size, Layout.lowRAMLimit) }
    /// RAM from 4 GiB up (0 when it all fits below 3 GiB).
    public var highSize: UInt64 { size - lowSize }
    /// Guest-physical ranges backed by RAM.
    public var ranges: [Range<UInt64>] {
        var ranges = [0..<lowSize]
        if highSize > 0 { ranges.append(Layout.highRAMStart..<Layout.highRAMStart + highSize) }
        return ranges
    }

    /// The memory map handed to the kernel, in address order.
    public var memoryMap: [MemoryMapEntry] {
        var map = [
            MemoryMapEntry(base: 0, length: Layout.conventionalMemoryEnd, kind: .usable),
            MemoryMapEntry(base: Layout.conventionalMemoryEnd,
                           length: Layout.highMemoryStart - Layout.conventionalMemoryEnd, kind: .reserved),
        ]
        if lowSize > Layout.highMemoryStart {
            map.append(MemoryMapEntry(base: Layout.highMemoryStart, length: lowSize - Layout.highMemoryStart, kind: .usable))
        }
        map.append(MemoryMapEntry(base: Layout.deviceWindow.lowerBound,
                                  length: Layout.deviceWindow.upperBound - Layout.deviceWindow.lowerBound, kind: .reserved))
        if highSize > 0 {
            map.append(MemoryMapEntry(base: Layout.highRAMStart, length: highSize, kind: .usable))
        }
        return map
    }
}
