import Testing
@testable import SwiftVMM
@testable import SwiftVMMSupport
@testable import SwiftVMMPlatform
@testable import SwiftVMMDevices

/// fw_cfg: selector and data semantics, QEMU's byte order, the file directory, DMA.
struct FirmwareConfigTests {
    static let memoryMap = RAMLayout(size: 256 << 20).memoryMap

    static func items(files: [FirmwareConfigItems.File] = [], commandLine: String = "k.elf quiet") throws -> FirmwareConfigItems {
        try FirmwareConfigItems(cpuCount: 4, ramSize: 256 << 20, commandLine: commandLine,
                                memoryMap: memoryMap, files: files)
    }

    /// Selects `key` and reads `count` bytes through the data port.
    static func read(_ device: FirmwareConfig, _ key: UInt16, _ count: Int) -> [UInt8] {
        device.selectorAndData.write(offset: 0, size: 2, value: UInt32(key))
        return (0..<count).map { _ in UInt8(device.selectorAndData.read(offset: 1, size: 1)) }
    }

    @Test func scalarItemsAreLittleEndian() throws {
        let device = FirmwareConfig(items: try Self.items(), memory: nil)
        #expect(Self.read(device, 0x00, 4) == Array("QEMU".utf8))
        #expect(Self.read(device, 0x01, 4) == [3, 0, 0, 0], "traditional interface and DMA")
        #expect(Self.read(device, 0x03, 8) == [0, 0, 0, 0x10, 0, 0, 0, 0], "256 MiB")
        #expect(Self.read(device, 0x05, 2) == [4, 0])
        #expect(Self.read(device, 0x0F, 2) == [4, 0])
        #expect(Self.read(device, 0x14, 4) == [12, 0, 0, 0], "the command line and its NUL")
        #expect(Self.read(device, 0x15, 12) == Array("k.elf quiet\0".utf8))
    }

    @Test func dataAutoIncrementsAndReadsZeroPastTheEndAndForUnknownKeys() throws {
        let device = FirmwareConfig(items: try Self.items(), memory: nil)
        #expect(Self.read(device, 0x00, 6) == Array("QEMU".utf8) + [0, 0])
        #expect(Self.read(device, 0x00, 2) == Array("QE".utf8), "selecting again rewinds")
        #expect(Self.read(device, 0x02, 16) == [UInt8](repeating: 0, count: 16), "UUID: not served")
        #expect(Self.read(device, 0x1234, 4) == [0, 0, 0, 0])
        // The write-channel and architecture bits are not part of the key.
        #expect(Self.read(device, 0x8000 | 0x4000, 4) == Array("QEMU".utf8))
        // Byte writes to the data port and selector reads change nothing.
        device.selectorAndData.write(offset: 0, size: 2, value: 0)
        device.selectorAndData.write(offset: 1, size: 1, value: 0x55)
        #expect(device.selectorAndData.read(offset: 0, size: 2) == 0)
        #expect(device.selectorAndData.read(offset: 1, size: 1) == UInt32(UInt8(ascii: "Q")))
    }

    /// Directory: be32 count, then per file be32 size, be16 key, u16 reserved, name[56];
    /// sorted by name, keys from 0x20 in that order.
    @Test func fileDirectoryIsBigEndianAndSorted() throws {
        let files = [FirmwareConfigItems.File(name: "opt/z", data: [1, 2, 3]),
                     FirmwareConfigItems.File(name: "opt/a", data: Array("hello".utf8))]
        let device = FirmwareConfig(items: try Self.items(files: files), memory: nil)
        let directory = Self.read(device, 0x19, 4 + 3 * 64)
        #expect(directory[0..<4] == [0, 0, 0, 3])
        func entry(_ i: Int) -> (size: UInt32, key: UInt16, name: String) {
            let e = Array(directory[4 + i * 64..<4 + (i + 1) * 64])
            let size = e[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let key = UInt16(e[4]) << 8 | UInt16(e[5])
            #expect(e[6..<8] == [0, 0])
            #expect(e[63] == 0, "NUL-terminated")
            return (size, key, String(decoding: e[8...].prefix { $0 != 0 }, as: UTF8.self))
        }
        #expect(entry(0).name == "etc/e820" && entry(0).key == 0x20 && entry(0).size == UInt32(Self.memoryMap.count * 20))
        #expect(entry(1).name == "opt/a" && entry(1).key == 0x21 && entry(1).size == 5)
        #expect(entry(2).name == "opt/z" && entry(2).key == 0x22 && entry(2).size == 3)
        #expect(Self.read(device, 0x21, 5) == Array("hello".utf8))
        #expect(Self.read(device, 0x22, 3) == [1, 2, 3])
    }

    /// etc/e820: packed little-endian {u64 address, u64 length, u32 type}, the kernel's map.
    @Test func e820IsTheMemoryMap() throws {
        let device = FirmwareConfig(items: try Self.items(), memory: nil)
        let bytes = Self.read(device, 0x20, Self.memoryMap.count * 20)
        func le<T: FixedWidthInteger>(_ slice: ArraySlice<UInt8>) -> T { slice.reversed().reduce(T(0)) { $0 << 8 | T($1) } }
        for (i, entry) in Self.memoryMap.enumerated() {
            let e = bytes[i * 20..<(i + 1) * 20]
            #expect(le(e.prefix(8)) as UInt64 == entry.base)
            #expect(le(e.dropFirst(8).prefix(8)) as UInt64 == entry.length)
            #expect(le(e.suffix(4)) as UInt32 == entry.kind.rawValue)
        }
        #expect(Self.memoryMap[2] == MemoryMapEntry(base: 0x10_0000, length: (256 << 20) - 0x10_0000, kind: .usable))
    }

    @Test func badFileNamesAreRefused() {
        #expect(throws: FirmwareConfigError.duplicateFile("opt/a")) {
            try Self.items(files: [.init(name: "opt/a", data: []), .init(name: "opt/a", data: [1])])
        }
        #expect(throws: FirmwareConfigError.duplicateFile("etc/e820")) { try Self.items(files: [.init(name: "etc/e820", data: [])]) }
        #expect(throws: FirmwareConfigError.badFileName("")) { try Self.items(files: [.init(name: "", data: [])]) }
        let long = "opt/" + String(repeating: "x", count: 52)
        #expect(throws: FirmwareConfigError.badFileName(long)) { try Self.items(files: [.init(name: long, data: [])]) }
        #expect(throws: Never.self) { try Self.items(files: [.init(name: String(long.dropLast()), data: [])]) }
    }

    // MARK: DMA

    /// A flat little RAM; addresses at and above `size` fail.
    final class FakeMemory: DMAMemory {
        let bytes: AnnotatedMutex<[UInt8]>
        struct OutOfRange: Error {}
        init(size: Int) { bytes = AnnotatedMutex([UInt8](repeating: 0xAA, count: size)) }
        func read(at address: UInt64, count: Int) throws -> [UInt8] {
            try bytes.withLock { b in
                guard address + UInt64(count) <= UInt64(b.count) else { throw OutOfRange() }
                return Array(b[Int(address)..<Int(address) + count])
            }
        }
        func write(_ data: [UInt8], at address: UInt64) throws {
            try bytes.withLock { b in
                guard address + UInt64(data.count) <= UInt64(b.count) else { throw OutOfRange() }
                b.replaceSubrange(Int(address)..<Int(address) + data.count, with: data)
            }
        }
        func put(descriptor control: UInt32, length: UInt32, address: UInt64, at where_: UInt64) throws {
            try write(control.bigEndianBytes + length.bigEndianBytes + address.bigEndianBytes, at: where_)
        }
        func control(at where_: UInt64) throws -> UInt32 { UInt32(bigEndianBytes: try read(at: where_, count: 4)[...]) }
    }

    /// Writes the descriptor address as a guest does: `outl` of each big-endian half.
    static func startDMA(_ device: FirmwareConfig, at address: UInt64) {
        device.dma.write(offset: 0, size: 4, value: UInt32(address >> 32).byteSwapped)
        device.dma.write(offset: 4, size: 4, value: UInt32(truncatingIfNeeded: address).byteSwapped)
    }

    @Test func dmaSelectReadAndSkip() throws {
        let memory = FakeMemory(size: 0x1000)
        let device = FirmwareConfig(items: try Self.items(), memory: memory)
        // select 0x15 + read 5 bytes to 0x100
        try memory.put(descriptor: 0x15 << 16 | 0x08 | 0x02, length: 5, address: 0x100, at: 0x40)
        Self.startDMA(device, at: 0x40)
        #expect(try memory.control(at: 0x40) == 0, "done, no error")
        #expect(try memory.read(at: 0x100, count: 6) == Array("k.elf".utf8) + [0xAA])
        // skip 1, then read 8: the rest of the item, then zeros past its end
        try memory.put(descriptor: 0x04, length: 1, address: 0, at: 0x40)
        Self.startDMA(device, at: 0x40)
        try memory.put(descriptor: 0x02, length: 8, address: 0x200, at: 0x40)
        Self.startDMA(device, at: 0x40)
        #expect(try memory.control(at: 0x40) == 0)
        #expect(try memory.read(at: 0x200, count: 9) == Array("quiet\0".utf8) + [0, 0, 0xAA])
        // the traditional data port continues where DMA left off (shared offset)
        try memory.put(descriptor: 0x00 << 16 | 0x08 | 0x02, length: 2, address: 0x300, at: 0x40)
        Self.startDMA(device, at: 0x40)
        #expect(device.selectorAndData.read(offset: 1, size: 1) == UInt32(UInt8(ascii: "M")))
    }

    @Test func dmaErrors() throws {
        let memory = FakeMemory(size: 0x1000)
        let device = FirmwareConfig(items: try Self.items(), memory: memory)
        // write: no item is writable
        try memory.put(descriptor: 0x05 << 16 | 0x08 | 0x10, length: 2, address: 0x100, at: 0x40)
        Self.startDMA(device, at: 0x40)
        #expect(try memory.control(at: 0x40) == 0x01)
        // read to an address outside memory
        try memory.put(descriptor: 0x00 << 16 | 0x08 | 0x02, length: 4, address: 0x10_0000, at: 0x40)
        Self.startDMA(device, at: 0x40)
        #expect(try memory.control(at: 0x40) == 0x01)
        // a descriptor outside memory is ignored (nothing to write the status to)
        Self.startDMA(device, at: 0xFFFF_0000)
        // the DMA register reads "QEMU CFG", big-endian
        let high = device.dma.read(offset: 0, size: 4), low = device.dma.read(offset: 4, size: 4)
        #expect(high.littleEndianBytes == Array("QEMU".utf8))
        #expect(low.littleEndianBytes == Array(" CFG".utf8))
        #expect(device.dma.read(offset: 7, size: 1) == UInt32(UInt8(ascii: "G")))
    }

    @Test func withoutMemoryTheDMARegisterDoesNothing() throws {
        let items = try FirmwareConfigItems(cpuCount: 1, ramSize: 1 << 21, commandLine: "", memoryMap: [], dma: false)
        let device = FirmwareConfig(items: items, memory: nil)
        #expect(Self.read(device, 0x01, 4) == [1, 0, 0, 0], "traditional interface only")
        Self.startDMA(device, at: 0x40)
        #expect(Self.read(device, 0x14, 4) == [1, 0, 0, 0], "an empty command line is its NUL")
    }
}
