import Testing
@testable import SwiftVMM

@Suite("ACPITables")
struct ACPITablesTests {
    static let base = Layout.acpiArea.lowerBound

    /// The built image and helpers to read tables in it by guest-physical address.
    struct Image {
        let bytes: [UInt8]
        let rsdp: [UInt8]

        init(cpus: Int) {
            (bytes, rsdp) = ACPITables(cpuCount: cpus).build(at: ACPITablesTests.base)
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

    @Test("MADT: PCAT_COMPAT, one enabled local APIC per CPU, then the I/O APIC", arguments: [1, 4, 254])
    func madt(cpus: Int) throws {
        let image = Image(cpus: cpus)
        let madt = try #require(image.find("APIC"))
        let table = image.table(madt)
        #expect(table.count == 44 + 8 * cpus + 12)
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
        #expect(offset + 12 == table.count)
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
