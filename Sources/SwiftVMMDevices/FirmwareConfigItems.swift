import SwiftVMMSupport
import SwiftVMMPlatform

/// The items QEMU's firmware configuration device (fw_cfg) serves, by selector key, in
/// QEMU's byte order (QEMU docs/specs/fw_cfg.rst; keys from include/standard-headers/linux/
/// qemu_fw_cfg.h). SwiftVMM serves this subset:
///
/// | key  | item | bytes |
/// |------|------|-------|
/// | 0x00 | signature | "QEMU" |
/// | 0x01 | ID (interface revision/features) | u32 LE: bit 0 traditional I/O, bit 1 DMA |
/// | 0x03 | RAM size | u64 LE, bytes |
/// | 0x05 | NB_CPUS: CPUs at boot | u16 LE |
/// | 0x0F | MAX_CPUS | u16 LE (no hotplug: = NB_CPUS) |
/// | 0x14 | command line size, with its NUL | u32 LE |
/// | 0x15 | command line | bytes + NUL |
/// | 0x19 | file directory | u32 BE count, then per file u32 BE size, u16 BE select, u16 reserved, char name[56] |
/// | 0x20… | files, sorted by name (as QEMU sorts them) | `etc/e820`, and `-fw_cfg` items |
///
/// `etc/e820` holds the memory map the kernel is given, as QEMU's struct e820_entry
/// (u64 address, u64 length, u32 type; little-endian, packed). Every other key reads 0.
public struct FirmwareConfigItems: Sendable, Equatable {
    /// Selector keys (qemu_fw_cfg.h FW_CFG_*).
    public enum Key {
        public static let signature: UInt16 = 0x00
        public static let id: UInt16 = 0x01
        public static let ramSize: UInt16 = 0x03
        public static let cpuCount: UInt16 = 0x05
        public static let maxCPUs: UInt16 = 0x0F
        public static let commandLineSize: UInt16 = 0x14
        public static let commandLineData: UInt16 = 0x15
        public static let fileDirectory: UInt16 = 0x19
        public static let firstFile: UInt16 = 0x20
    }
    /// Bits of the ID item (FW_CFG_VERSION, FW_CFG_VERSION_DMA).
    public enum Feature {
        public static let traditionalInterface: UInt32 = 1 << 0
        public static let dmaInterface: UInt32 = 1 << 1
    }
    /// A directory entry's name field is 56 bytes, NUL-terminated (FW_CFG_MAX_FILE_PATH).
    public static let maxFileNameLength = 55

    /// A named blob in the file directory.
    public struct File: Sendable, Equatable {
        public var name: String
        public var data: [UInt8]
        public init(name: String, data: [UInt8]) {
            self.name = name
            self.data = data
        }
    }

    /// Item contents indexed by key (without the write/arch bits); empty for a key not served.
    /// An array, not a dictionary: the keys are small and dense, and a `[UInt16: …]` would
    /// make the Swift runtime scan every conformance record for `UInt16: Hashable` at its
    /// first use (about 0.26 M instructions of every boot).
    public let contents: [[UInt8]]

    /// The item under `key`; empty for a key not served.
    public subscript(key: UInt16) -> [UInt8] { Int(key) < contents.count ? contents[Int(key)] : [] }

    /// `files` are the user's `-fw_cfg` items; `etc/e820` is added from `memoryMap`.
    public init(cpuCount: Int, ramSize: UInt64, commandLine: String, memoryMap: [MemoryMapEntry],
                files: [File] = [], dma: Bool = true) throws(FirmwareConfigError) {
        var e820 = ByteBuffer()
        for entry in memoryMap {
            e820.append(entry.base)
            e820.append(entry.length)
            e820.append(entry.kind.rawValue)
        }
        var allFiles = files + [File(name: "etc/e820", data: e820.bytes)]
        for file in allFiles {
            guard !file.name.isEmpty, file.name.utf8.count <= Self.maxFileNameLength else {
                throw .badFileName(file.name)
            }
        }
        allFiles.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        for (a, b) in zip(allFiles, allFiles.dropFirst()) where a.name == b.name { throw .duplicateFile(a.name) }

        let commandLineBytes = Array(commandLine.utf8) + [0]
        var items = [[UInt8]](repeating: [], count: Int(Key.firstFile) + allFiles.count)
        items[Int(Key.signature)] = Array("QEMU".utf8)
        items[Int(Key.id)] = (Feature.traditionalInterface | (dma ? Feature.dmaInterface : 0)).littleEndianBytes
        items[Int(Key.ramSize)] = ramSize.littleEndianBytes
        items[Int(Key.cpuCount)] = UInt16(cpuCount).littleEndianBytes
        items[Int(Key.maxCPUs)] = UInt16(cpuCount).littleEndianBytes
        items[Int(Key.commandLineSize)] = UInt32(commandLineBytes.count).littleEndianBytes
        items[Int(Key.commandLineData)] = commandLineBytes
        var directory = UInt32(allFiles.count).bigEndianBytes
        for (index, file) in allFiles.enumerated() {
            let key = Key.firstFile + UInt16(index)
            items[Int(key)] = file.data
            var name = Array(file.name.utf8)
            name += [UInt8](repeating: 0, count: 56 - name.count)
            directory += UInt32(file.data.count).bigEndianBytes + key.bigEndianBytes + [0, 0] + name
        }
        items[Int(Key.fileDirectory)] = directory
        contents = items
    }
}

/// Why a set of fw_cfg items is refused.
public enum FirmwareConfigError: Error, Equatable, CustomStringConvertible {
    case badFileName(String)
    case duplicateFile(String)

    public var description: String {
        switch self {
        case .badFileName(let name):
            "fw_cfg name \"\(name)\" must be 1 to \(FirmwareConfigItems.maxFileNameLength) bytes"
        case .duplicateFile(let name): "fw_cfg name \"\(name)\" is given twice"
        }
    }
}

extension FixedWidthInteger {
    var littleEndianBytes: [UInt8] { (0..<Self.bitWidth / 8).map { UInt8(truncatingIfNeeded: self >> ($0 * 8)) } }
    var bigEndianBytes: [UInt8] { littleEndianBytes.reversed() }
}
