import Testing
@testable import SwiftVMM
@testable import SwiftVMMSupport
@testable import SwiftVMMBoot

@Suite("EntryState")
struct EntryStateTests {
    @Test("GDT: null, flat 32-bit code, flat data, 64-bit code at the documented selectors")
    func gdt() {
        #expect(EntryState.gdt.count == 4)
        #expect(EntryState.gdtLimit == 31)
        #expect(EntryState.gdt[0] == 0)
        #expect(EntryState.gdt[Int(EntryState.Selector.code32) / 8] == 0x00CF_9A00_0000_FFFF)
        #expect(EntryState.gdt[Int(EntryState.Selector.data) / 8] == 0x00CF_9200_0000_FFFF)
        // 64-bit code: L (bit 53) set, D (bit 54) clear.
        let code64 = EntryState.gdt[Int(EntryState.Selector.code64) / 8]
        #expect(code64 & (1 << 53) != 0)
        #expect(code64 & (1 << 54) == 0)
    }

    @Test("identity page tables: six pages, PML4 → PDPT → four page directories")
    func pageTableStructure() {
        let base: UInt64 = 0x40_0000
        let tables = IdentityPageTables.build(at: base)
        #expect(tables.count == 6 * 4096)
        #expect(tables.le(UInt64.self, at: 0) == base + 0x1000 | 3)
        #expect(tables[8..<4096].allSatisfy { $0 == 0 })
        for i in 0..<4 {
            #expect(tables.le(UInt64.self, at: 0x1000 + i * 8) == base + 0x2000 + UInt64(i) * 0x1000 | 3)
        }
        #expect(tables[0x1020..<0x2000].allSatisfy { $0 == 0 })
    }

    @Test("identity page tables: every 2 MiB page maps itself; the device window is uncached")
    func pageDirectoryEntries() {
        let tables = IdentityPageTables.build(at: 0x10_0000)
        for i in 0..<2048 {
            let address = UInt64(i) << 21
            let expected = address | 0x83 | (address >= 0xC000_0000 ? 0x18 : 0)
            let entry = tables.le(UInt64.self, at: 0x2000 + i * 8)
            if entry != expected {
                Issue.record("PDE \(i) is \(hex(entry)), expected \(hex(expected))")
                break
            }
        }
    }
}
