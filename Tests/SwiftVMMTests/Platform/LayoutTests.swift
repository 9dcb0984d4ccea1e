import Testing
@testable import SwiftVMM
@testable import SwiftVMMPlatform

@Suite("Layout")
struct LayoutTests {
    typealias Entry = MemoryMapEntry

    static let low = Entry(base: 0, length: 0x9_FC00, kind: .usable)
    static let firmware = Entry(base: 0x9_FC00, length: 0x6_0400, kind: .reserved)
    static let deviceWindow = Entry(base: 0xC000_0000, length: 0x4000_0000, kind: .reserved)

    @Test("64 MiB: conventional memory, firmware hole, 1 MiB-64 MiB, device window")
    func map64MiB() {
        let layout = RAMLayout(size: 64 << 20)
        #expect(layout.lowSize == 64 << 20)
        #expect(layout.highSize == 0)
        #expect(layout.ranges == [0..<0x400_0000])
        #expect(layout.memoryMap == [Self.low, Self.firmware, Entry(base: 0x10_0000, length: 0x3F0_0000, kind: .usable), Self.deviceWindow])
    }

    @Test("3 GiB: all of it below the device window, nothing above 4 GiB")
    func map3GiB() {
        let layout = RAMLayout(size: 3 << 30)
        #expect(layout.lowSize == 0xC000_0000)
        #expect(layout.highSize == 0)
        #expect(layout.ranges == [0..<0xC000_0000])
        #expect(layout.memoryMap == [Self.low, Self.firmware, Entry(base: 0x10_0000, length: 0xBFF0_0000, kind: .usable), Self.deviceWindow])
    }

    @Test("4 GiB: 3 GiB low, 1 GiB from 4 GiB")
    func map4GiB() {
        let layout = RAMLayout(size: 4 << 30)
        #expect(layout.lowSize == 0xC000_0000)
        #expect(layout.highSize == 0x4000_0000)
        #expect(layout.ranges == [0..<0xC000_0000, 0x1_0000_0000..<0x1_4000_0000])
        #expect(layout.memoryMap == [
            Self.low, Self.firmware, Entry(base: 0x10_0000, length: 0xBFF0_0000, kind: .usable), Self.deviceWindow,
            Entry(base: 0x1_0000_0000, length: 0x4000_0000, kind: .usable),
        ])
    }

    @Test("8 GiB: 3 GiB low, 5 GiB from 4 GiB")
    func map8GiB() {
        let layout = RAMLayout(size: 8 << 30)
        #expect(layout.lowSize == 3 << 30)
        #expect(layout.highSize == 5 << 30)
        #expect(layout.ranges == [0..<0xC000_0000, 0x1_0000_0000..<0x2_4000_0000])
        #expect(layout.memoryMap == [
            Self.low, Self.firmware, Entry(base: 0x10_0000, length: 0xBFF0_0000, kind: .usable), Self.deviceWindow,
            Entry(base: 0x1_0000_0000, length: 0x1_4000_0000, kind: .usable),
        ])
    }

    @Test("just over 3 GiB puts one page above 4 GiB")
    func justOver3GiB() {
        let layout = RAMLayout(size: (3 << 30) + 4096)
        #expect(layout.lowSize == 3 << 30)
        #expect(layout.highSize == 4096)
        #expect(layout.memoryMap.last == Entry(base: 0x1_0000_0000, length: 4096, kind: .usable))
    }

    static let sizes: [UInt64] = [2 << 20, 64 << 20, 1 << 30, 0xBFFF_F000, 3 << 30, 4 << 30, 8 << 30, 64 << 30]

    @Test("RAM never covers the device window and totals the size", arguments: sizes)
    func deviceWindowNeverRAM(size: UInt64) {
        let layout = RAMLayout(size: size)
        #expect(layout.lowSize + layout.highSize == size)
        #expect(layout.ranges.reduce(0) { $0 + UInt64($1.count) } == size)
        for range in layout.ranges { #expect(!range.overlaps(Layout.deviceWindow)) }
        for entry in layout.memoryMap where entry.kind == .usable {
            #expect(!(entry.base..<entry.end).overlaps(Layout.deviceWindow))
            #expect(!(entry.base..<entry.end).overlaps(Layout.acpiArea))
        }
        // The map is in address order and its entries do not overlap.
        for (a, b) in zip(layout.memoryMap, layout.memoryMap.dropFirst()) { #expect(a.end <= b.base) }
        // The usable entries are exactly the RAM (the conventional/firmware split aside).
        let usable = layout.memoryMap.filter { $0.kind == .usable }.reduce(0) { $0 + $1.length }
        #expect(usable == size - 0x6_0400)
    }

    @Test("the fixed addresses are where the PC has them")
    func fixedAddresses() {
        #expect(Layout.acpiArea == 0xE_0000..<0x10_0000)
        #expect(Layout.deviceWindow == 0xC000_0000..<0x1_0000_0000)
        #expect(Layout.deviceWindow.contains(Layout.ioAPICBase))
        #expect(Layout.deviceWindow.contains(Layout.localAPICBase))
        #expect(Layout.deviceWindow.contains(Layout.hpetBase))
        #expect(Layout.deviceWindow.contains(Layout.kvmTSSAddress + 3 * 4096 - 1))
        #expect(Layout.com1 == 0x3F8 && Layout.com1IRQ == 4)
        #expect(Layout.debugExit == 0xF4)
        #expect(Layout.kernelOwnedLowMemory == 0x500..<0x9_FC00)
    }

    @Test("memory map entries describe themselves")
    func entryDescription() {
        #expect(Entry(base: 0x10_0000, length: 0x10_0000, kind: .usable).description == "0x100000-0x200000 usable")
    }
}
