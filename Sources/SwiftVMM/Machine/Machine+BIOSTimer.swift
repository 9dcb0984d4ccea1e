import SwiftVMMSupport
import SwiftVMMMemory

/// `--bios-timer`: what a PC BIOS leaves running for the kernel it boots, and what QEMU's
/// firmware (SeaBIOS) leaves, so a kernel written for QEMU that enables interrupts in
/// real mode before it programs the chipset finds it:
/// - PIT channel 0 in mode 2 with count 0 (65536), about 18.2 Hz, on IRQ 0;
/// - the master 8259's IRQ 0 and the cascade (IRQ 2) unmasked, vectors 0x08 and 0x70 as
///   ever (the BSP's LINT0 is ExtINT: `LocalAPIC.configureVirtualWire`);
/// - a real-mode interrupt vector table at 0 whose every entry points at a handler in the
///   BIOS area: the 8259 vectors' handlers send EOI (to the slave too for IRQ 8–15) and
///   return; every other vector's just returns. (SeaBIOS's IRQ 0 handler also counts
///   ticks in the BIOS data area; nothing here does.)
/// Off by default: a firmware-free kernel finds the chipset at rest and no timer exits
/// cost it anything. The QEMU spelling turns it on unless `-machine pit=off`.
extension Machine {
    /// The handlers' 16 bytes at the top of the BIOS area, below the reset vector; the
    /// ACPI tables end far below (checked in `leaveBIOSTimer`).
    static let biosInterruptHandlers: UInt64 = 0xF_F000

    /// 8086 code (assembled by hand; Intel SDM Vol. 2 opcode tables).
    enum BIOSHandler {
        /// iret
        static let plain: [UInt8] = [0xCF]
        /// push ax; mov al, 0x20; out 0x20, al; pop ax; iret — non-specific EOI (OCW2 0x20).
        static let masterEOI: [UInt8] = [0x50, 0xB0, 0x20, 0xE6, 0x20, 0x58, 0xCF]
        /// push ax; mov al, 0x20; out 0xA0, al; out 0x20, al; pop ax; iret
        static let slaveEOI: [UInt8] = [0x50, 0xB0, 0x20, 0xE6, 0xA0, 0xE6, 0x20, 0x58, 0xCF]
    }

    static func leaveBIOSTimer(chipset: Chipset, memory: GuestMemory, acpiEnd: UInt64) throws(MachineError) {
        guard acpiEnd <= biosInterruptHandlers else {
            throw .invalidConfiguration("--bios-timer: the ACPI tables reach \(hex(acpiEnd)), over the BIOS handlers at \(hex(biosInterruptHandlers))")
        }
        let handlers = BIOSHandler.plain + BIOSHandler.masterEOI + BIOSHandler.slaveEOI
        let segment: UInt16 = 0xF000                    // the BIOS's segment, 0xF0000–0xFFFFF
        let plain = UInt16(biosInterruptHandlers - 0xF_0000)
        let master = plain + UInt16(BIOSHandler.plain.count), slave = master + UInt16(BIOSHandler.masterEOI.count)
        var table: [UInt8] = []
        for vector in 0..<256 {
            let offset = switch vector {
            case 0x08...0x0F: master
            case 0x70...0x77: slave
            default: plain
            }
            table += [UInt8(offset & 0xFF), UInt8(offset >> 8), UInt8(segment & 0xFF), UInt8(segment >> 8)]
        }
        do {
            try memory.write(handlers, at: biosInterruptHandlers)
            try memory.write(table, at: 0)
        } catch {
            throw .host(.memory(error))
        }
        // Through the devices' own registers, as firmware programs them: the PIT's control
        // word (channel 0, lobyte/hibyte, mode 2, binary), then count 0 low and high; the
        // master 8259's OCW1 (IMR) with IRQ 0 and IRQ 2 clear.
        chipset.pit.write(offset: 3, size: 1, value: 0x34)
        chipset.pit.write(offset: 0, size: 1, value: 0)
        chipset.pit.write(offset: 0, size: 1, value: 0)
        chipset.pic.master.write(offset: 1, size: 1, value: 0xFA)
    }
}
