import SwiftVMMSupport

/// The parts of an ELF executable a boot loader needs: class, machine, entry point and
/// PT_LOAD segments (System V ABI, "ELF Header" and "Program Header"). 32- and 64-bit.
struct ELFFile: Equatable {
    enum Class: Equatable { case elf32, elf64 }

    let elfClass: Class
    let entry: UInt64
    let segments: [LoadSegment]

    static let magic: [UInt8] = [0x7F, 0x45, 0x4C, 0x46]  // "\x7FELF"
    static let machine386: UInt16 = 3
    static let machineX86_64: UInt16 = 62
    static let typeExecutable: UInt16 = 2
    static let programLoad: UInt32 = 1  // PT_LOAD

    static func isELF(_ bytes: [UInt8]) -> Bool { bytes.starts(with: magic) }

    init(_ bytes: [UInt8]) throws(ImageError) {
        let file = ByteReader(bytes: bytes)
        guard Self.isELF(bytes) else { throw ImageError("not an ELF file (bad magic)") }
        let identClass = try file.u8(4, "ELF class")
        let encoding = try file.u8(5, "ELF data encoding")
        guard encoding == 1 else { throw ImageError("ELF file is not little-endian") }
        let type = try file.u16(16, "e_type")
        let machine = try file.u16(18, "e_machine")
        guard type == Self.typeExecutable else { throw ImageError("ELF type \(type) is not an executable (ET_EXEC)") }

        let phoff: UInt64, phentsize: UInt16, phnum: UInt16
        switch identClass {
        case 1:
            elfClass = .elf32
            guard machine == Self.machine386 || machine == Self.machineX86_64 else {
                throw ImageError("ELF machine \(machine) is not x86")
            }
            entry = UInt64(try file.u32(24, "e_entry"))
            phoff = UInt64(try file.u32(28, "e_phoff"))
            phentsize = try file.u16(42, "e_phentsize")
            phnum = try file.u16(44, "e_phnum")
            guard phentsize >= 32 else { throw ImageError("ELF program header size \(phentsize) is too small") }
        case 2:
            elfClass = .elf64
            guard machine == Self.machineX86_64 else { throw ImageError("ELF64 machine \(machine) is not x86-64") }
            entry = try file.u64(24, "e_entry")
            phoff = try file.u64(32, "e_phoff")
            phentsize = try file.u16(54, "e_phentsize")
            phnum = try file.u16(56, "e_phnum")
            guard phentsize >= 56 else { throw ImageError("ELF program header size \(phentsize) is too small") }
        default:
            throw ImageError("unknown ELF class \(identClass)")
        }
        guard file.has(phoff, UInt64(phentsize) * UInt64(phnum)) else {
            throw ImageError("truncated: the \(phnum) program headers at offset \(hex(phoff)) run past the end of the file")
        }

        var segments: [LoadSegment] = []
        for i in 0..<UInt64(phnum) {
            let header = phoff + i * UInt64(phentsize)
            let segment: LoadSegment
            switch elfClass {
            case .elf32:
                guard try file.u32(header, "p_type") == Self.programLoad else { continue }
                segment = LoadSegment(
                    fileOffset: UInt64(try file.u32(header + 4, "p_offset")),
                    virtualAddress: UInt64(try file.u32(header + 8, "p_vaddr")),
                    physicalAddress: UInt64(try file.u32(header + 12, "p_paddr")),
                    fileSize: UInt64(try file.u32(header + 16, "p_filesz")),
                    memorySize: UInt64(try file.u32(header + 20, "p_memsz")))
            case .elf64:
                guard try file.u32(header, "p_type") == Self.programLoad else { continue }
                segment = LoadSegment(
                    fileOffset: try file.u64(header + 8, "p_offset"),
                    virtualAddress: try file.u64(header + 16, "p_vaddr"),
                    physicalAddress: try file.u64(header + 24, "p_paddr"),
                    fileSize: try file.u64(header + 32, "p_filesz"),
                    memorySize: try file.u64(header + 40, "p_memsz"))
            }
            guard segment.fileSize <= segment.memorySize else {
                throw ImageError("segment \(i) has p_filesz \(hex(segment.fileSize)) larger than p_memsz \(hex(segment.memorySize))")
            }
            guard file.has(segment.fileOffset, segment.fileSize) else {
                throw ImageError("truncated: segment \(i) (\(hex(segment.fileSize)) bytes at offset \(hex(segment.fileOffset))) runs past the end of the file (\(bytes.count) bytes)")
            }
            if segment.memorySize > 0 { segments.append(segment) }
        }
        guard !segments.isEmpty else { throw ImageError("ELF file has no loadable (PT_LOAD) segments") }
        self.segments = segments
    }

    /// The entry point as a physical address. A high-half kernel's `e_entry` is virtual:
    /// when it lies in a segment's virtual range but in no segment's physical range, it is
    /// moved by that segment's (physical - virtual) offset.
    var physicalEntry: UInt64 {
        if segments.contains(where: { $0.physicalRange.contains(entry) }) { return entry }
        if let segment = segments.first(where: { $0.virtualRange.contains(entry) }) {
            return entry &- segment.virtualAddress &+ segment.physicalAddress
        }
        return entry
    }
}

/// Bytes of the image to place in guest memory: `fileSize` bytes from `fileOffset` at
/// `physicalAddress`, then zeros up to `memorySize`.
struct LoadSegment: Equatable {
    var fileOffset: UInt64
    var virtualAddress: UInt64
    var physicalAddress: UInt64
    var fileSize: UInt64
    var memorySize: UInt64

    var physicalRange: Range<UInt64> {
        physicalAddress..<(physicalAddress.addingReportingOverflow(memorySize).overflow ? .max : physicalAddress + memorySize)
    }
    var virtualRange: Range<UInt64> {
        virtualAddress..<(virtualAddress.addingReportingOverflow(memorySize).overflow ? .max : virtualAddress + memorySize)
    }
}
