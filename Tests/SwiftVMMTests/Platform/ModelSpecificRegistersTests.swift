import Testing
@testable import SwiftVMM

@Suite("ModelSpecificRegisters")
struct ModelSpecificRegistersTests {
    @Test("MSR_PLATFORM_INFO bits 15:8 are the TSC ratio rounded to nearest", arguments: [
        (UInt32(2_596_000), UInt64(26)), (2_549_999, 25), (2_550_000, 26), (3_000_000, 30),
        (1_000_000, 10), (49_999, 0), (50_000, 1), (2_400_123, 24),
    ])
    func platformInfoRatio(tscKHz: UInt32, ratio: UInt64) {
        let msrs = ModelSpecificRegisters(tscKHz: tscKHz)
        #expect(msrs.read(0xCE) == ratio << 8)
        #expect(msrs.platformInfoValue == ratio << 8)
    }

    @Test("MSR_PLATFORM_INFO is read-only")
    func writeRefused() {
        let msrs = ModelSpecificRegisters(tscKHz: 2_000_000)
        #expect(msrs.write(0xCE, 0) == false)
        #expect(msrs.write(0xCE, 0x1400) == false)
        #expect(msrs.read(0xCE) == 20 << 8)
    }

    @Test("unknown MSRs read as nil (#GP)")
    func unknown() {
        let msrs = ModelSpecificRegisters(tscKHz: 2_000_000)
        #expect(msrs.read(0x10) == nil)
        #expect(msrs.read(0x1B) == nil)
        #expect(msrs.read(0xCF) == nil)
        #expect(msrs.write(0x10, 1) == false)
    }

    @Test("only MSR_PLATFORM_INFO goes to userspace")
    func answeredInUserspace() {
        #expect(ModelSpecificRegisters.answeredInUserspace == [0xCE])
    }
}

@Suite("CPUIDTable")
struct CPUIDTableTests {
    static let supported = [
        CPUIDEntry(function: 0, eax: 0x1F, ebx: 0x756E_6547),
        CPUIDEntry(function: 1, eax: 0x906EA, ebx: 0xAABB_0800, ecx: 0x7FFA_3203, edx: 0x0F8B_FBFF),
        CPUIDEntry(function: 0xB, index: 0, eax: 1, ebx: 1, ecx: 0x100, edx: 99),
        CPUIDEntry(function: 0xB, index: 1, eax: 4, ebx: 4, ecx: 0x201, edx: 99),
        CPUIDEntry(function: 0x1F, index: 0, edx: 99),
        CPUIDEntry(function: 0x8000_0001, ecx: 0x121, edx: 0x2C10_0800),
    ]

    @Test("leaf 1: EBX[31:24] APIC ID, EBX[23:16] CPU count, HTT and hypervisor bits", arguments: [0, 1, 5, 253])
    func leaf1(apicID: Int) throws {
        let entries = CPUIDTable.entries(for: apicID, cpuCount: 254, supported: Self.supported)
        let leaf = try #require(entries.first { $0.function == 1 })
        #expect(leaf.ebx >> 24 == UInt32(apicID))
        #expect(leaf.ebx >> 16 & 0xFF == 254)
        #expect(leaf.ebx & 0xFFFF == 0x0800)
        #expect(leaf.edx == 0x0F8B_FBFF | 1 << 28)
        #expect(leaf.ecx == 0x7FFA_3203 | 1 << 31)
        #expect(leaf.eax == 0x906EA)
    }

    @Test("leaves 0xB and 0x1F: EDX is the x2APIC ID on every subleaf")
    func extendedTopology() {
        let entries = CPUIDTable.entries(for: 7, cpuCount: 8, supported: Self.supported)
        for entry in entries where entry.function == 0xB || entry.function == 0x1F {
            #expect(entry.edx == 7, "leaf \(hex(entry.function)) subleaf \(entry.index)")
        }
        let subleaf1 = entries.first { $0.function == 0xB && $0.index == 1 }
        #expect(subleaf1?.eax == 4 && subleaf1?.ebx == 4 && subleaf1?.ecx == 0x201)
    }

    @Test("other leaves are passed through unchanged, in order")
    func passThrough() {
        let entries = CPUIDTable.entries(for: 3, cpuCount: 4, supported: Self.supported)
        #expect(entries.count == Self.supported.count)
        #expect(entries.map(\.function) == Self.supported.map(\.function))
        #expect(entries[0] == Self.supported[0])
        #expect(entries[5] == Self.supported[5])
    }
}
