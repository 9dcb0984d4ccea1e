import Testing
@testable import SwiftVMM
@testable import SwiftVMMPlatform
@testable import SwiftVMMDevices

@Suite("ACPITables")
struct ACPITablesTests {
    static let base = Layout.acpiArea.lowerBound

    /// The built image and helpers to read tables in it by guest-physical address.
    struct Image {
        let bytes: [UInt8]
        let rsdp: [UInt8]

        init(cpus: Int) {
            (bytes, rsdp, _) = ACPITables(cpuCount: cpus).build(at: ACPITablesTests.base)
        }
        init(bytes: [UInt8]) {
            self.bytes = bytes
            rsdp = Array(bytes.prefix(36))
        }

        /// The MADT's interrupt controller structures (type, length, ...), after the 44-byte header.
        static func madtEntries(_ table: [UInt8]) -> [[UInt8]] {
            var entries: [[UInt8]] = [], offset = 44
            while offset + 2 <= table.count, table[offset + 1] >= 2 {
                entries.append(Array(table[offset..<offset + Int(table[offset + 1])]))
                offset += Int(table[offset + 1])
            }
            return entries
        }

        func offset(_ address: UInt64) -> Int { Int(address - ACPITablesTests.base) }
        func signature(_ address: UInt64) -> String {
            String(decoding: bytes[offset(address)..<offset(address) + 4], as: UTF8.self)
        }
        func length(_ address: UInt64) -> Int { Int(bytes.le(UInt32.self, at: offset(address) + 4)) }
        func table(_ address: UInt64) -> [UInt8] { Array(bytes[offset(address)..<offset(address) + length(address)]) }
        func u32(_ address: UInt64, _ field: Int) -> UInt32 { bytes.le(UInt32.self, at: offset(address) + field) }
        func u64(_ address: UInt64, _ field: Int) -> UInt64 { bytes.le(UInt64.self, at: offset(address) + field) }

        var rsdt: UInt64 { UInt64(rsdp.le(UInt32.self, at: 16)) }
        var xsdt: UInt64 { rsdp.le(UInt64.self, at: 24) }
        var rsdtEntries: [UInt64] { (0..<(length(rsdt) - 36) / 4).map { UInt64(u32(rsdt, 36 + $0 * 4)) } }
        var xsdtEntries: [UInt64] { (0..<(length(xsdt) - 36) / 8).map { u64(xsdt, 36 + $0 * 8) } }

        func find(_ wanted: String) -> UInt64? { xsdtEntries.first { signature($0) == wanted } }
    }

    @Test("RSDP: signature, revision 2, length, both checksums, and it is at the base", arguments: [1, 4, 254])
    func rsdp(cpus: Int) {
        let image = Image(cpus: cpus)
        #expect(image.rsdp.count == 36)
        #expect(Array(image.bytes.prefix(36)) == image.rsdp)
        #expect(String(decoding: image.rsdp.prefix(8), as: UTF8.self) == "RSD PTR ")
        #expect(image.rsdp[15] == 2)
        #expect(image.rsdp.le(UInt32.self, at: 20) == 36)
        #expect(Array(image.rsdp.prefix(20)).byteSum == 0)
        #expect(image.rsdp.byteSum == 0)
        #expect(String(decoding: image.rsdp[9..<15], as: UTF8.self) == "SWVMM ")
    }

    @Test("RSDT and XSDT list the same tables, and everything fits in the firmware area", arguments: [1, 4, 254])
    func rootTables(cpus: Int) {
        let image = Image(cpus: cpus)
        #expect(image.signature(image.rsdt) == "RSDT")
        #expect(image.signature(image.xsdt) == "XSDT")
        #expect(image.rsdtEntries.count == 2)
        #expect(image.rsdtEntries == image.xsdtEntries)
        #expect(Set(image.xsdtEntries.map(image.signature)) == ["FACP", "APIC"])
        #expect(ACPITablesTests.base + UInt64(image.bytes.count) <= Layout.acpiArea.upperBound)
        #expect(image.xsdt % 8 == 0 && image.rsdt % 4 == 0)
    }

    @Test("every table's bytes sum to zero and its header is filled in", arguments: [1, 4, 254])
    func checksums(cpus: Int) throws {
        let image = Image(cpus: cpus)
        let fadt = try #require(image.find("FACP"))
        let dsdt = UInt64(image.u32(fadt, 40))
        for address in [image.rsdt, image.xsdt, fadt, try #require(image.find("APIC")), dsdt] {
            let table = image.table(address)
            #expect(table.byteSum == 0, "\(image.signature(address)) checksum")
            #expect(String(decoding: table[10..<16], as: UTF8.self) == "SWVMM ")
            #expect(String(decoding: table[16..<24], as: UTF8.self) == "SWIFTVMM")
            #expect(String(decoding: table[28..<32], as: UTF8.self) == "SVMM")
        }
    }

    @Test("MADT: PCAT_COMPAT, one enabled local APIC per CPU, the I/O APIC, the SCI override, LINT1 NMI", arguments: [1, 4, 254])
    func madt(cpus: Int) throws {
        let image = Image(cpus: cpus)
        let madt = try #require(image.find("APIC"))
        let table = image.table(madt)
        #expect(table.count == 44 + 8 * cpus + 12 + 10 + 6)
        #expect(table.le(UInt32.self, at: 36) == 0xFEE0_0000)
        #expect(table.le(UInt32.self, at: 40) == 1)
        var offset = 44
        for id in 0..<cpus {
            #expect(table[offset] == 0 && table[offset + 1] == 8, "entry \(id) is a processor local APIC")
            #expect(table[offset + 2] == UInt8(id), "UID")
            #expect(table[offset + 3] == UInt8(id), "APIC ID")
            #expect(table.le(UInt32.self, at: offset + 4) == 1, "enabled")
            offset += 8
        }
        #expect(table[offset] == 1 && table[offset + 1] == 12)
        #expect(table[offset + 2] == UInt8(cpus))
        #expect(table[offset + 3] == 0)
        #expect(table.le(UInt32.self, at: offset + 4) == 0xFEC0_0000)
        #expect(table.le(UInt32.self, at: offset + 8) == 0)
        offset += 12
        #expect(Array(table[offset..<offset + 4]) == [2, 10, 0, 9], "ISA IRQ 9 (SCI) override")
        #expect(table.le(UInt32.self, at: offset + 4) == 9)
        #expect(table.le(UInt16.self, at: offset + 8) == 0x000D, "level, active high")
        offset += 10
        #expect(Array(table[offset..<offset + 6]) == [4, 6, 0xFF, 0, 0, 1], "LINT1 is NMI on every processor")
        #expect(offset + 6 == table.count)
    }

    @Test("MADT with SwiftVMM's chipset adds the IRQ0 → GSI 2 override")
    func madtTimerOverride() throws {
        let (bytes, _, _) = ACPITables(cpuCount: 2, hpetBlockID: 0x8086_A201).build(at: Self.base)
        let image = Image(bytes: bytes)
        let table = image.table(try #require(image.find("APIC")))
        let entries = Image.madtEntries(table)
        #expect(entries.contains([2, 10, 0, 0, 2, 0, 0, 0, 0, 0]))
        #expect(Set(image.xsdtEntries.map(image.signature)) == ["FACP", "APIC", "HPET"])
    }

    @Test("DSDT: AML Name(\\_S3_, Package(4){1,1,0,0}) and Name(\\_S5_, Package(4){0,0,0,0}) found by the byte scan kernels use")
    func dsdtSleepStates() throws {
        let image = Image(cpus: 1)
        let dsdt = UInt64(image.u32(try #require(image.find("FACP")), 40))
        let table = image.table(dsdt)
        #expect(table.byteSum == 0)
        for (name, sleepType) in [("_S3_", UInt8(1)), ("_S5_", 0)] {
            // The OSDev/early-Linux scan: the name, preceded by NameOp (optionally with a root
            // prefix), followed by PackageOp, PkgLength, NumElements, then SLP_TYPa and SLP_TYPb.
            let at = try #require(table.indices.first { Array(table[$0..<min($0 + 4, table.count)]) == Array(name.utf8) })
            #expect(table[at - 2] == 0x08 && table[at - 1] == 0x5C)
            #expect(table[at + 4] == 0x12)
            #expect(table[at + 5] == 6, "one-byte PkgLength: itself, NumElements and four elements")
            #expect(table[at + 6] == 4, "four elements")
            #expect(table[at + 7] == sleepType && table[at + 8] == sleepType, "\(name): SLP_TYPa and SLP_TYPb")
        }
        #expect(table.count == 36 + 2 * 13, "the header, the two 13-byte declarations and nothing else")
    }

    @Test("FACS: 64 bytes, 64-byte aligned, version 2; FIRMWARE_CTRL set, X_FIRMWARE_CTRL 0 (§5.2.9)")
    func facs() throws {
        let image = Image(cpus: 4)
        let fadt = try #require(image.find("FACP"))
        let facs = UInt64(image.u32(fadt, 36))
        #expect(image.u64(fadt, 132) == 0)
        #expect(facs % 64 == 0)
        #expect(image.signature(facs) == "FACS")
        #expect(image.length(facs) == 64)
        #expect(image.bytes[image.offset(facs) + 32] == 2)
        #expect(image.u32(facs, 24) == 0, "no waking vector")
    }

    @Test("FADT: 276 bytes, revision 6, DSDT and X_DSDT point at the DSDT")
    func fadt() throws {
        let image = Image(cpus: 4)
        let fadt = try #require(image.find("FACP"))
        #expect(image.length(fadt) == 276)
        #expect(image.table(fadt)[8] == 6)
        let dsdt = UInt64(image.u32(fadt, 40))
        #expect(image.u64(fadt, 140) == dsdt)
        #expect(image.signature(dsdt) == "DSDT")
        #expect(image.length(dsdt) >= 36)
        #expect(image.table(fadt)[131] == 5)   // FADT minor version
        #expect(image.table(fadt)[108] == 0x32, "CENTURY: the CMOS century byte")
    }

    @Test("the checksum byte makes a sequence sum to zero")
    func checksumFunction() {
        #expect(ACPITables.checksum([]) == 0)
        #expect(ACPITables.checksum([1, 2, 3]) == 250)
        #expect(ACPITables.checksum([0xFF, 0xFF]) == 2)
    }
}
