import SwiftVMMSupport

/// The ACPI tables SwiftVMM hands a kernel in place of firmware (ACPI 6.5, chapter 5):
/// RSDP → RSDT and XSDT → MADT, FADT (→ DSDT, FACS) and HPET. Built as bytes for one base
/// address, all below 1 MiB.
package struct ACPITables {
    /// vCPUs, with ACPI processor UID = local APIC ID = 0...cpuCount-1.
    let cpuCount: Int
    /// The HPET's Event Timer Block ID (its capabilities register, bits 31:0) when SwiftVMM
    /// models the legacy chipset (HPET, PM timer, IRQ0 on I/O APIC pin 2); nil with KVM's
    /// irqchip, which has none of these.
    var hpetBlockID: UInt32?

    package init(cpuCount: Int, hpetBlockID: UInt32? = nil) {
        self.cpuCount = cpuCount
        self.hpetBlockID = hpetBlockID
    }

    static let oemID = "SWVMM "
    static let oemTableID = "SWIFTVMM"
    static let creatorID = "SVMM"

    /// The tables laid out from `base`, the 36-byte RSDP (which is at `base`) and the
    /// FACS's address (where a kernel leaves its waking vector before S3).
    package func build(at base: UInt64) -> (image: [UInt8], rsdp: [UInt8], facs: UInt64) {
        var image = ByteBuffer()
        func place(_ table: [UInt8]) -> UInt64 {
            image.align(to: 16)
            let address = base + UInt64(image.count)
            image.append(table)
            return address
        }
        image.append([UInt8](repeating: 0, count: 36))  // RSDP, filled in last
        let dsdt = place(Self.table("DSDT", revision: 2, body: Self.dsdtBody()))
        image.align(to: 64)                      // §5.2.10: the FACS is 64-byte aligned
        let facs = place(Self.facs())
        let fadt = place(Self.table("FACP", revision: 6, body: fadtBody(dsdt: dsdt, facs: facs)))
        let madt = place(Self.table("APIC", revision: 5, body: madtBody()))
        let hpet = hpetBlockID.map { place(Self.table("HPET", revision: 1, body: Self.hpetBody(blockID: $0))) }
        var rsdtBody = ByteBuffer(), xsdtBody = ByteBuffer()
        for table in [fadt, madt] + (hpet.map { [$0] } ?? []) {
            rsdtBody.append(UInt32(table))
            xsdtBody.append(table)
        }
        let rsdt = place(Self.table("RSDT", revision: 1, body: rsdtBody.bytes))
        let xsdt = place(Self.table("XSDT", revision: 1, body: xsdtBody.bytes))
        let rsdp = Self.rsdp(rsdt: rsdt, xsdt: xsdt)
        for (i, byte) in rsdp.enumerated() { image[i] = byte }
        return (image.bytes, rsdp, facs)
    }

    /// §5.2.5.3 Root System Description Pointer, revision 2 (36 bytes, two checksums).
    static func rsdp(rsdt: UInt64, xsdt: UInt64) -> [UInt8] {
        var rsdp = ByteBuffer()
        rsdp.append(ascii: "RSD PTR ", width: 8)
        rsdp.append(UInt8(0))                    // checksum of the first 20 bytes
        rsdp.append(ascii: oemID, width: 6)
        rsdp.append(UInt8(2))                    // revision: ACPI 2.0+
        rsdp.append(UInt32(rsdt))
        rsdp.append(UInt32(36))                  // length
        rsdp.append(xsdt)
        rsdp.append(UInt8(0))                    // extended checksum of all 36 bytes
        rsdp.append([UInt8](repeating: 0, count: 3))
        rsdp[8] = checksum(rsdp.bytes[0..<20])
        rsdp[32] = checksum(rsdp.bytes)
        return rsdp.bytes
    }

    /// §5.2.6 System Description Table Header, then `body`, with the checksum set.
    static func table(_ signature: String, revision: UInt8, body: [UInt8]) -> [UInt8] {
        var table = ByteBuffer()
        table.append(ascii: signature, width: 4)
        table.append(UInt32(36 + body.count))
        table.append(revision)
        table.append(UInt8(0))                   // checksum
        table.append(ascii: oemID, width: 6)
        table.append(ascii: oemTableID, width: 8)
        table.append(UInt32(1))                  // OEM revision
        table.append(ascii: creatorID, width: 4)
        table.append(UInt32(1))                  // creator revision
        table.append(body)
        table[9] = checksum(table.bytes)
        return table.bytes
    }

    /// The byte that makes `bytes` sum to zero mod 256 (§5.2.6 "Checksum").
    static func checksum(_ bytes: some Sequence<UInt8>) -> UInt8 {
        0 &- bytes.reduce(0, &+)
    }

    /// §5.2.12 Multiple APIC Description Table: local APIC address, PCAT_COMPAT (dual
    /// 8259s present), one Processor Local APIC per vCPU, one I/O APIC, the ISA overrides
    /// (IRQ0 → GSI 2 with SwiftVMM's chipset; the SCI, level and active high) and LINT1 as
    /// every processor's NMI input.
    func madtBody() -> [UInt8] {
        var body = ByteBuffer()
        body.append(UInt32(Layout.localAPICBase))
        body.append(UInt32(1))                   // flags: PCAT_COMPAT
        for id in 0..<cpuCount {
            body.append(UInt8(0))                // §5.2.12.2 Processor Local APIC
            body.append(UInt8(8))
            body.append(UInt8(id))               // ACPI processor UID
            body.append(UInt8(id))               // APIC ID
            body.append(UInt32(1))               // flags: enabled
        }
        body.append(UInt8(1))                    // §5.2.12.3 I/O APIC
        body.append(UInt8(12))
        body.append(UInt8(ioAPICID))
        body.append(UInt8(0))
        body.append(UInt32(Layout.ioAPICBase))
        body.append(UInt32(0))                   // global system interrupt base
        if hpetBlockID != nil {
            body.append(UInt8(2))                // §5.2.12.5 Interrupt Source Override
            body.append(UInt8(10))
            body.append(UInt8(0))                // bus: ISA
            body.append(UInt8(0))                // source: IRQ0 (PIT, HPET legacy timer 0)
            body.append(UInt32(2))               // global system interrupt 2
            body.append(UInt16(0))               // flags: conforms to the bus (edge, high)
        }
        body.append(UInt8(2))                    // §5.2.12.5 Interrupt Source Override
        body.append(UInt8(10))
        body.append(UInt8(0))                    // bus: ISA
        body.append(UInt8(Layout.sciIRQ))        // source: the SCI's IRQ
        body.append(UInt32(Layout.sciIRQ))       // global system interrupt: the same pin
        body.append(UInt16(0b11 << 2 | 0b01))    // flags: level-triggered, active high (Table 5.50)
        body.append(UInt8(4))                    // §5.2.12.7 Local APIC NMI
        body.append(UInt8(6))
        body.append(UInt8(0xFF))                 // ACPI processor UID: all processors
        body.append(UInt16(0))                   // flags: conforms to the bus
        body.append(UInt8(1))                    // LINT1
        return body.bytes
    }

    /// IA-PC HPET Specification 1.0a §3.2.4, the HPET description table.
    static func hpetBody(blockID: UInt32) -> [UInt8] {
        var body = ByteBuffer()
        body.append(blockID)                     // Event Timer Block ID
        body.append(genericAddress(space: 0, bitWidth: 64, address: Layout.hpetBase))
        body.append(UInt8(0))                    // HPET number
        body.append(UInt16(0x80))                // main counter minimum clock tick in periodic mode
        body.append(UInt8(0))                    // page protection: none
        return body.bytes
    }

    /// ACPI 6.5 §5.2.3.2 Generic Address Structure: space 0 memory, 1 system I/O.
    static func genericAddress(space: UInt8, bitWidth: UInt8, address: UInt64) -> [UInt8] {
        var gas = ByteBuffer()
        gas.append(space)
        gas.append(bitWidth)
        gas.append(UInt8(0))                     // bit offset
        gas.append(UInt8(bitWidth.trailingZeroBitCount - 2)) // access size: 1 byte, 2 word, 3 dword, 4 qword
        gas.append(address)
        return gas.bytes
    }

    /// The DSDT's AML (ACPI 6.5 §20, "ACPI Machine Language Specification") declares only
    /// the sleep states' SLP_TYP values, as QEMU's DSDT gives them:
    /// `Name (\_S3_, Package (4) { One, One, Zero, Zero })` (suspend to RAM) and
    /// `Name (\_S5_, Package (4) { Zero, Zero, Zero, Zero })` (soft off). Kernels without
    /// an AML interpreter find them by scanning the DSDT for "_S5_" followed by PackageOp.
    static func dsdtBody() -> [UInt8] {
        let nameOp: UInt8 = 0x08, rootPrefix: UInt8 = 0x5C, packageOp: UInt8 = 0x12
        let zeroOp: UInt8 = 0x00, oneOp: UInt8 = 0x01
        func sleepState(_ name: String, _ sleepType: UInt8) -> [UInt8] {
            let elements = [sleepType, sleepType, zeroOp, zeroOp]
            // PkgLength (one byte, §20.2.4) counts itself, NumElements and the elements.
            return [nameOp, rootPrefix] + Array(name.utf8) + [packageOp, UInt8(2 + elements.count), UInt8(elements.count)] + elements
        }
        return sleepState("_S3_", oneOp) + sleepState("_S5_", zeroOp)
    }

    /// §5.2.10 Firmware ACPI Control Structure, version 2 (64 bytes, no checksum): no
    /// hardware signature, no waking vector, no global lock (FADT flags do not claim S4BIOS).
    static func facs() -> [UInt8] {
        var facs = ByteBuffer()
        facs.append(ascii: "FACS", width: 4)
        facs.append(UInt32(64))                  // length
        facs.append([UInt8](repeating: 0, count: 24)) // hardware signature, waking vectors, global lock, flags
        facs.append(UInt8(2))                    // version
        facs.append([UInt8](repeating: 0, count: 64 - 33))
        return facs.bytes
    }

    /// The I/O APIC's ID follows the local APIC IDs.
    package var ioAPICID: Int { cpuCount }

    /// §5.2.9 Fixed ACPI Description Table (revision 6, 276 bytes): points at the DSDT.
    /// FIRMWARE_CTRL holds the FACS address; X_FIRMWARE_CTRL stays 0, as §5.2.9 (Table 5.9)
    /// requires when FIRMWARE_CTRL is set (the FACS is below 4 GiB).
    func fadtBody(dsdt: UInt64, facs: UInt64) -> [UInt8] {
        var body = ByteBuffer()
        body.append([UInt8](repeating: 0, count: 276 - 36))
        body.set(UInt32(facs), at: 36 - 36)      // FIRMWARE_CTRL
        body.set(UInt32(dsdt), at: 40 - 36)      // DSDT
        body.set(UInt16(Layout.sciIRQ), at: 46 - 36)          // SCI_INT
        body.set(UInt32(0), at: 48 - 36)                      // SMI_CMD 0: ACPI already enabled
        body.set(UInt32(Layout.pm1aEvent), at: 56 - 36)       // PM1a_EVT_BLK
        body.set(UInt32(Layout.pm1aControl), at: 64 - 36)     // PM1a_CNT_BLK
        body.set(UInt8(4), at: 88 - 36)                       // PM1_EVT_LEN
        body.set(UInt8(2), at: 89 - 36)                       // PM1_CNT_LEN
        body.set(UInt8(0x32), at: 108 - 36)                   // CENTURY: the RTC's century byte (MC146818RTC)
        body.set(UInt16(1 << 0 | 1 << 1), at: 109 - 36)      // IAPC_BOOT_ARCH: legacy devices, 8042
        body.set(UInt32(1 << 0 | 1 << 10), at: 112 - 36)     // flags: WBINVD, RESET_REG_SUP
        for (i, byte) in Self.genericAddress(space: 1, bitWidth: 8, address: UInt64(Layout.resetControl)).enumerated() {
            body.set(byte, at: 116 - 36 + i)                  // RESET_REG
        }
        body.set(UInt8(6), at: 128 - 36)                      // RESET_VALUE: reset CPU, hard
        for (offset, port, width) in [(148, Layout.pm1aEvent, UInt8(32)), (172, Layout.pm1aControl, 16)] {
            for (i, byte) in Self.genericAddress(space: 1, bitWidth: width, address: UInt64(port)).enumerated() {
                body.set(byte, at: offset - 36 + i)           // X_PM1a_EVT_BLK, X_PM1a_CNT_BLK
            }
        }
        if hpetBlockID != nil {
            body.set(UInt32(Layout.pmTimer), at: 76 - 36)  // PM_TMR_BLK
            body.set(UInt8(4), at: 91 - 36)                // PM_TMR_LEN (24-bit: TMR_VAL_EXT clear)
            for (i, byte) in Self.genericAddress(space: 1, bitWidth: 32, address: UInt64(Layout.pmTimer)).enumerated() {
                body.set(byte, at: 208 - 36 + i)           // X_PM_TMR_BLK
            }
        }
        body.set(UInt8(5), at: 131 - 36)         // FADT minor version (ACPI 6.5)
        body.set(dsdt, at: 140 - 36)             // X_DSDT
        return body.bytes
    }
}
