#if canImport(Glibc)
import Glibc
#endif
import Foundation
@testable import SwiftVMM
@testable import SwiftVMMSupport
@testable import SwiftVMMMemory
@testable import SwiftVMMDevices
@testable import SwiftVMMBoot

/// Kernel images built in memory for the boot tests: ELF32/ELF64 executables, multiboot 1
/// and multiboot 2 headers. Little-endian throughout, as on x86.
enum TestImages {
    /// One PT_LOAD program header and the file bytes it loads.
    struct Segment {
        var physicalAddress: UInt64
        var virtualAddress: UInt64
        var bytes: [UInt8]
        var memorySize: UInt64
        var type: UInt32 = ELFFile.programLoad

        init(paddr: UInt64, vaddr: UInt64? = nil, bytes: [UInt8], memsz: UInt64? = nil, type: UInt32 = ELFFile.programLoad) {
            physicalAddress = paddr
            virtualAddress = vaddr ?? paddr
            self.bytes = bytes
            memorySize = memsz ?? UInt64(bytes.count)
            self.type = type
        }
    }

    /// Where the first segment's bytes start in the file; the space below it (after the
    /// ELF and program headers) is free for a multiboot header.
    static let firstSegmentOffset = 0x1000

    /// An ELF executable (ET_EXEC, little-endian) with `segments` as program headers right
    /// after the ELF header and each segment's bytes from `firstSegmentOffset` on,
    /// 16-byte aligned. `machine` defaults to EM_386 for ELF32 and EM_X86_64 for ELF64.
    static func elf(_ elfClass: ELFFile.Class, entry: UInt64, segments: [Segment], machine: UInt16? = nil) -> [UInt8] {
        let is64 = elfClass == .elf64
        let headerSize = is64 ? 64 : 52
        let programHeaderSize = is64 ? 56 : 32

        var offsets: [Int] = []
        var dataOffset = firstSegmentOffset
        for segment in segments {
            offsets.append(dataOffset)
            dataOffset = (dataOffset + segment.bytes.count + 15) & ~15
        }

        var file = ByteBuffer()
        file.append(ELFFile.magic)
        file.append([is64 ? 2 : 1, 1, 1] as [UInt8])                    // EI_CLASS, EI_DATA (LSB), EI_VERSION
        file.append([UInt8](repeating: 0, count: 9))                      // EI_OSABI ... EI_PAD
        file.append(ELFFile.typeExecutable)                               // e_type
        file.append(machine ?? (is64 ? ELFFile.machineX86_64 : ELFFile.machine386))
        file.append(UInt32(1))                                            // e_version
        func address(_ value: UInt64) { is64 ? file.append(value) : file.append(UInt32(value)) }
        address(entry)                                                    // e_entry
        address(UInt64(headerSize))                                       // e_phoff
        address(0)                                                        // e_shoff
        file.append(UInt32(0))                                            // e_flags
        file.append(UInt16(headerSize))                                   // e_ehsize
        file.append(UInt16(programHeaderSize))                            // e_phentsize
        file.append(UInt16(segments.count))                               // e_phnum
        file.append([UInt8](repeating: 0, count: 6))                      // e_shentsize, e_shnum, e_shstrndx

        for (segment, offset) in zip(segments, offsets) {
            file.append(segment.type)
            if is64 { file.append(UInt32(7)) }                            // p_flags (ELF64 position)
            address(UInt64(offset))
            address(segment.virtualAddress)
            address(segment.physicalAddress)
            address(UInt64(segment.bytes.count))
            address(segment.memorySize)
            if !is64 { file.append(UInt32(7)) }                           // p_flags (ELF32 position)
            address(0x1000)                                               // p_align
        }
        var bytes = file.bytes
        for (segment, offset) in zip(segments, offsets) {
            place(segment.bytes, at: offset, in: &bytes)
        }
        return bytes
    }

    static func elf32(entry: UInt64, segments: [Segment]) -> [UInt8] { elf(.elf32, entry: entry, segments: segments) }
    static func elf64(entry: UInt64, segments: [Segment]) -> [UInt8] { elf(.elf64, entry: entry, segments: segments) }

    /// Writes `data` at `offset`, zero-extending `image` when it is shorter.
    static func place(_ data: [UInt8], at offset: Int, in image: inout [UInt8]) {
        if image.count < offset + data.count { image += [UInt8](repeating: 0, count: offset + data.count - image.count) }
        image.replaceSubrange(offset..<offset + data.count, with: data)
    }

    static func placing(_ data: [UInt8], at offset: Int, in image: [UInt8]) -> [UInt8] {
        var image = image
        place(data, at: offset, in: &image)
        return image
    }

    // MARK: Multiboot 1

    /// A multiboot 1 header: magic, flags, checksum (correct unless given), then the five
    /// address fields when `addresses` is given (set flag bit 16 yourself).
    static func multiboot1Header(flags: UInt32, addresses: Multiboot1Header.AddressFields? = nil, checksum: UInt32? = nil) -> [UInt8] {
        var header = ByteBuffer()
        header.append(Multiboot1Header.magic)
        header.append(flags)
        header.append(checksum ?? 0 &- Multiboot1Header.magic &- flags)
        if let addresses {
            header.append(addresses.headerAddress)
            header.append(addresses.loadAddress)
            header.append(addresses.loadEndAddress)
            header.append(addresses.bssEndAddress)
            header.append(addresses.entryAddress)
        }
        return header.bytes
    }

    // MARK: Multiboot 2

    /// One multiboot 2 header tag; `size` defaults to 8 + payload.count.
    struct Tag {
        var type: UInt16
        var flags: UInt16 = 0
        var payload: [UInt8] = []
        var size: UInt32? = nil

        static let optional: UInt16 = 1

        /// Information request tag (type 1) asking for `types`.
        static func informationRequest(_ types: [UInt32], flags: UInt16 = 0) -> Tag {
            var payload = ByteBuffer()
            for type in types { payload.append(type) }
            return Tag(type: 1, flags: flags, payload: payload.bytes)
        }

        /// Address tag (type 2): header_addr, load_addr, load_end_addr, bss_end_addr.
        static func address(header: UInt32, load: UInt32, loadEnd: UInt32, bssEnd: UInt32) -> Tag {
            var payload = ByteBuffer()
            for value in [header, load, loadEnd, bssEnd] { payload.append(value) }
            return Tag(type: 2, payload: payload.bytes)
        }

        /// Entry address tag (type 3).
        static func entry(_ address: UInt32) -> Tag {
            var payload = ByteBuffer()
            payload.append(address)
            return Tag(type: 3, payload: payload.bytes)
        }

        /// Framebuffer tag (type 5): width, height, depth.
        static func framebuffer(flags: UInt16) -> Tag {
            var payload = ByteBuffer()
            for value in [UInt32(1024), 768, 32] { payload.append(value) }
            return Tag(type: 5, flags: flags, payload: payload.bytes)
        }
    }

    /// A multiboot 2 header with `tags` (each padded to 8 bytes) and, unless `endTag` is
    /// false, an end tag. The checksum is correct unless given.
    static func multiboot2Header(tags: [Tag], architecture: UInt32 = 0, endTag: Bool = true, checksum: UInt32? = nil) -> [UInt8] {
        var body = ByteBuffer()
        for tag in tags + (endTag ? [Tag(type: 0)] : []) {
            body.append(tag.type)
            body.append(tag.flags)
            body.append(tag.size ?? UInt32(8 + tag.payload.count))
            body.append(tag.payload)
            body.align(to: 8)
        }
        let length = UInt32(16 + body.count)
        var header = ByteBuffer()
        header.append(Multiboot2Header.magic)
        header.append(architecture)
        header.append(length)
        header.append(checksum ?? 0 &- Multiboot2Header.magic &- architecture &- length)
        header.append(body.bytes)
        return header.bytes
    }
}

// MARK: - Reading structures back

extension [UInt8] {
    /// Little-endian integer at `offset`.
    func le<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value: T = 0
        for i in (0..<MemoryLayout<T>.size).reversed() { value = value << 8 | T(self[offset + i]) }
        return value
    }

    /// Sum of the bytes mod 256 (ACPI checksums make it 0).
    var byteSum: UInt8 { reduce(0, &+) }
}

extension GuestMemory {
    /// The NUL-terminated string at `address` (at most 4 KiB).
    func cString(at address: UInt64) throws -> String {
        var bytes: [UInt8] = []
        for offset in 0..<UInt64(4096) {
            let byte = try read(UInt8.self, at: address + offset)
            if byte == 0 { break }
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

// MARK: - Files

/// A fresh temporary directory, removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() {
        let parent = FileManager.default.temporaryDirectory.path
        var template = Array((parent + (parent.hasSuffix("/") ? "" : "/") + "swiftvmm-unit-XXXXXX").utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `bytes` to `name` in the directory and returns its path.
    @discardableResult
    func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }
}

// MARK: - Device fakes

/// Values appended from any thread, read back in order.
final class Recorder<Value: Sendable>: Sendable {
    private let storage = AnnotatedMutex<[Value]>([])
    var values: [Value] { storage.withLock { $0 } }
    func append(_ value: Value) { storage.withLock { $0.append(value) } }
}

/// A SerialSink that keeps every byte.
final class RecordingSink: SerialSink {
    private let recorder = Recorder<UInt8>()
    var bytes: [UInt8] { recorder.values }
    func write(_ byte: UInt8) { recorder.append(byte) }
}

/// An InterruptLine that keeps every level it was set to.
final class RecordingLine: InterruptLine {
    private let recorder = Recorder<Bool>()
    private let accepting = AnnotatedMutex(EdgeAcceptance.ready)
    var levels: [Bool] { recorder.values }
    /// The current level (low before the first set).
    var level: Bool { levels.last ?? false }
    /// Rising edges so far (pulses, for an edge line).
    var pulses: Int { zip([false] + levels, levels).filter { !$0 && $1 }.count }
    func set(_ level: Bool) { recorder.append(level) }
    /// What the test says the controllers at the other end would make of an edge now.
    var acceptance: EdgeAcceptance {
        get { accepting.withLock { $0 } }
        set { accepting.withLock { $0 = newValue } }
    }
}
