import Testing
@testable import SwiftVMM

@Suite("GuestMemory")
struct GuestMemoryTests {
    let memory: GuestMemory
    init() throws { memory = try GuestMemory(layout: RAMLayout(size: 4 << 20)) }

    @Test("forgetting a page's host mapping keeps its contents and leaves it writable")
    func forgetHostMappingKeepsContents() throws {
        try memory.write(UInt64(0x1122_3344_5566_7788), at: 0x20_0FF8)
        memory.forgetHostMapping(ofPageAt: 0x20_0FFF)
        #expect(try memory.read(UInt64.self, at: 0x20_0FF8) == 0x1122_3344_5566_7788)
        try memory.write(UInt32(0xCAFE), at: 0x20_0000)
        #expect(try memory.read(UInt32.self, at: 0x20_0000) == 0xCAFE)
        memory.forgetHostMapping(ofPageAt: 0xFF00_0000)   // not RAM: nothing happens
    }

    @Test("zeroing whole pages and partial ones reads back zeros")
    func zeroReadsBackZeros() throws {
        try memory.write([UInt8](repeating: 0xAA, count: 3 * 4096), at: 0x10_0800)
        try memory.zero(count: 2 * 4096, at: 0x10_0900)
        #expect(try memory.read(at: 0x10_0900, count: 2 * 4096).allSatisfy { $0 == 0 })
        #expect(try memory.read(UInt8.self, at: 0x10_08FF) == 0xAA)
        #expect(try memory.read(UInt8.self, at: 0x10_2900) == 0xAA)
    }

    @Test("writing contiguous and non-contiguous bytes lands the same bytes, and out of range is refused")
    func writeCopiesEveryKindOfCollection() throws {
        let bytes = (0..<300).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try memory.write(bytes, at: 0x10_0000)
        try memory.write(bytes[100..<300], at: 0x11_0000)
        try memory.write(bytes.reversed(), at: 0x12_0000)
        #expect(try memory.read(at: 0x10_0000, count: 300) == bytes)
        #expect(try memory.read(at: 0x11_0000, count: 200) == Array(bytes[100..<300]))
        #expect(try memory.read(at: 0x12_0000, count: 300) == Array(bytes.reversed()))
        #expect(throws: GuestMemoryError.self) { try memory.write(bytes, at: (4 << 20) - 100) }
    }
}
