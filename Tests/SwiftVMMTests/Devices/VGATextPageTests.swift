import Testing
@testable import SwiftVMM
@testable import SwiftVMMPlatform
@testable import SwiftVMMDevices

/// The VGA text page as plain text, and which rows a change prints.
struct VGATextPageTests {
    /// A page whose rows hold `rows` (attribute 0x07), the rest blank.
    func page(_ rows: [String]) -> VGATextPage {
        var bytes = [UInt8](repeating: 0, count: VGATextPage.byteCount)
        for (row, text) in rows.enumerated() {
            for (column, byte) in text.utf8.enumerated() {
                bytes[(row * 80 + column) * 2] = byte
                bytes[(row * 80 + column) * 2 + 1] = 0x07
            }
        }
        return VGATextPage(bytes: bytes)
    }

    /// VGA memory is guest RAM (text-mode kernels write it without exits) and reserved in
    /// the memory map, as on a PC.
    @Test func vgaMemoryIsRAMAndReserved() {
        let layout = RAMLayout(size: 256 << 20)
        #expect(layout.ranges.contains { $0.contains(Layout.vgaMemory.lowerBound) && $0.contains(Layout.vgaMemory.upperBound - 1) })
        let entry = layout.memoryMap.first { $0.base <= Layout.vgaMemory.lowerBound && Layout.vgaMemory.upperBound <= $0.end }
        #expect(entry?.kind == .reserved)
        #expect(Layout.vgaMemory.contains(Layout.vgaTextPage + UInt64(VGATextPage.byteCount) - 1))
    }

    @Test func rowsAreTrimmedAndOddGlyphsShown() {
        var bytes = [UInt8](repeating: 0, count: VGATextPage.byteCount)
        for (column, byte) in [UInt8(ascii: "o"), UInt8(ascii: "k"), 0xDB, 0x20, 0x20].enumerated() {
            bytes[column * 2] = byte
            bytes[column * 2 + 1] = 0x1F
        }
        bytes[80 * 2 * 24 + 79 * 2] = UInt8(ascii: "z")          // last cell of the last row
        let text = VGATextPage(bytes: bytes)
        #expect(text.lines[0] == "ok?")
        #expect(text.lines[1] == "")
        #expect(text.lines[24] == String(repeating: " ", count: 79) + "z")
    }

    @Test func changedRowsOnly() {
        let first = page(["hello", "", "world"])
        #expect(first.changedLines(since: .blank) == ["hello", "world"])
        #expect(first.changedLines(since: first) == [])
        let second = page(["hello", "", "world!", "more"])
        #expect(second.changedLines(since: first) == ["world!", "more"])
        #expect(page(["hello"]).changedLines(since: first) == [], "rows that became blank print nothing")
    }

    @Test func scrollingPrintsOnlyTheNewBottomRows() {
        let full = page((0..<25).map { "line \($0)" })
        let scrolled = page((2..<25).map { "line \($0)" } + ["line 25", "line 26"])
        #expect(scrolled.changedLines(since: full) == ["line 25", "line 26"])
        let scrolledWithBlankBottom = page((1..<25).map { "line \($0)" })
        #expect(scrolledWithBlankBottom.changedLines(since: full) == [])
    }

    @Test func repeatedLinesPrintEachTime() {
        let first = page(["ok"] + (1..<25).map { "line \($0)" })
        let scrolled = page((1..<25).map { "line \($0)" } + ["ok"])
        #expect(scrolled.changedLines(since: first) == ["ok"], "the old ok scrolled away; this one is new")
        #expect(page(["ok", "ok"]).changedLines(since: page(["ok"])) == ["ok"])
    }

    /// Rows 0–9 already moved up, the rest not yet: row 10's line shows twice.
    @Test func aLookInTheMiddleOfAScrollRepeatsOneRowAtMost() {
        let full = page((0..<25).map { "line \($0)" })
        let torn = page((1..<11).map { "line \($0)" } + (10..<25).map { "line \($0)" })
        #expect(torn.changedLines(since: full) == ["line 10"])
        let done = page((1..<25).map { "line \($0)" } + ["line 25"])
        #expect(done.changedLines(since: torn) == ["line 25"])
    }
}
