import SwiftVMMSupport
import SwiftVMMMemory
import SwiftVMMPlatform

/// The result of loading a kernel: where it is and where it starts.
struct LoadedKernel: Equatable {
    let bootProtocol: BootProtocol
    /// Physical entry point.
    let entry: UInt64
    /// Guest-physical ranges the kernel occupies.
    let ranges: [Range<UInt64>]

    var end: UInt64 { ranges.map(\.upperBound).max() ?? 0 }
}

/// Reads a kernel image's headers and copies its segments into guest memory, checking
/// every segment against the guest's RAM before writing a byte.
enum KernelLoader {
    static func load(_ image: KernelImage, as requested: BootProtocol?, into memory: GuestMemory) throws(BootError) -> LoadedKernel {
        do {
            let bootProtocol = try requested ?? image.detectProtocol() ?? {
                throw ImageError(ELFFile.isELF(image.bytes)
                    ? "ELF32 image without a multiboot header (use multiboot 1 or 2, or a 64-bit ELF)"
                    : "not a bootable image: no multiboot 1 or 2 header and not an ELF64 file")
            }()
            let (segments, entry) = try plan(image.bytes, bootProtocol)
            try check(segments, entry: entry, bootProtocol, memory)
            for segment in segments {
                let start = Int(segment.fileOffset)
                try memory.write(image.bytes[start..<start + Int(segment.fileSize)], at: segment.physicalAddress)
                try memory.zero(count: Int(segment.memorySize - segment.fileSize),
                                at: segment.physicalAddress + segment.fileSize)
            }
            return LoadedKernel(bootProtocol: bootProtocol, entry: entry, ranges: segments.map(\.physicalRange))
        } catch let error as ImageError {
            throw BootError(file: image.path, problem: error.problem)
        } catch {
            throw BootError(file: image.path, problem: "\(error)")
        }
    }

    /// The segments to load and the physical entry point, per protocol.
    static func plan(_ bytes: [UInt8], _ bootProtocol: BootProtocol) throws(ImageError) -> ([LoadSegment], UInt64) {
        switch bootProtocol {
        case .multiboot1:
            guard let header = try Multiboot1Header.find(in: bytes) else {
                throw ImageError("no multiboot 1 header in the first \(Multiboot1Header.searchLimit) bytes")
            }
            if let fields = header.addresses {
                // §3.1.3: the address fields take precedence over any ELF headers.
                let segment = try kludgeSegment(fields, headerOffset: header.offset, fileSize: bytes.count)
                return ([segment], UInt64(fields.entryAddress))
            }
            let elf = try ELFFile(bytes)
            return (elf.segments, elf.physicalEntry)
        case .multiboot2:
            guard let header = try Multiboot2Header.find(in: bytes) else {
                throw ImageError("no multiboot 2 header in the first \(Multiboot2Header.searchLimit) bytes")
            }
            let elf = ELFFile.isELF(bytes) ? try ELFFile(bytes) : nil
            let segments = try header.addresses.map { fields throws(ImageError) in
                [try kludgeSegment(fields, headerOffset: header.offset, fileSize: bytes.count)]
            } ?? elf?.segments
            guard let segments else { throw ImageError("multiboot 2 image is not ELF and has no address tag") }
            guard let entry = header.entryAddress.map(UInt64.init) ?? elf?.physicalEntry else {
                throw ImageError("multiboot 2 image is not ELF and has no entry address tag")
            }
            return (segments, entry)
        case .elf64:
            let elf = try ELFFile(bytes)
            guard elf.elfClass == .elf64 else { throw ImageError("not a 64-bit ELF file") }
            return (elf.segments, elf.physicalEntry)
        }
    }

    /// Multiboot 1 §3.1.3 (and the multiboot 2 address tag, §3.1.5): load from the file
    /// offset `header offset - (header_addr - load_addr)` up to load_end_addr (0: end of
    /// file), then zeros up to bss_end_addr (0: none).
    static func kludgeSegment(_ fields: Multiboot1Header.AddressFields, headerOffset: UInt64, fileSize: Int) throws(ImageError) -> LoadSegment {
        var loadAddress = UInt64(fields.loadAddress)
        let headerAddress = UInt64(fields.headerAddress)
        let fileOffset: UInt64
        if fields.loadAddress == 0xFFFF_FFFF {
            // Multiboot 2 §3.1.5: -1 means "load from the start of the file".
            guard headerAddress >= headerOffset else { throw ImageError("header_addr \(hex(headerAddress)) is below the header's file offset") }
            loadAddress = headerAddress - headerOffset
            fileOffset = 0
        } else {
            guard loadAddress <= headerAddress else {
                throw ImageError("load_addr \(hex(loadAddress)) is above header_addr \(hex(headerAddress))")
            }
            guard headerAddress - loadAddress <= headerOffset else {
                throw ImageError("header_addr - load_addr (\(hex(headerAddress - loadAddress))) is larger than the header's file offset \(hex(headerOffset))")
            }
            fileOffset = headerOffset - (headerAddress - loadAddress)
        }
        let available = UInt64(fileSize) - fileOffset
        var loadSize = available
        if fields.loadEndAddress != 0 {
            guard UInt64(fields.loadEndAddress) >= loadAddress else {
                throw ImageError("load_end_addr \(hex(fields.loadEndAddress)) is below load_addr \(hex(loadAddress))")
            }
            loadSize = UInt64(fields.loadEndAddress) - loadAddress
            guard loadSize <= available else {
                throw ImageError("truncated: load_end_addr asks for \(hex(loadSize)) bytes from offset \(hex(fileOffset)) but the file has \(hex(available))")
            }
        }
        var memorySize = loadSize
        if fields.bssEndAddress != 0 {
            guard UInt64(fields.bssEndAddress) >= loadAddress + loadSize else {
                throw ImageError("bss_end_addr \(hex(fields.bssEndAddress)) is below load_end_addr")
            }
            memorySize = UInt64(fields.bssEndAddress) - loadAddress
        }
        guard memorySize > 0 else { throw ImageError("the address fields describe an empty image") }
        return LoadSegment(fileOffset: fileOffset, virtualAddress: loadAddress, physicalAddress: loadAddress,
                           fileSize: loadSize, memorySize: memorySize)
    }

    /// Every segment must be RAM, outside the firmware area and the other segments; the
    /// entry point must be inside the image (and below 4 GiB for a 32-bit entry).
    static func check(_ segments: [LoadSegment], entry: UInt64, _ bootProtocol: BootProtocol, _ memory: GuestMemory) throws(ImageError) {
        let ramMiB = memory.layout.size >> 20
        for (i, segment) in segments.enumerated() {
            let range = segment.physicalRange
            let place = "segment \(i) (\(hex(range.lowerBound))-\(hex(range.upperBound)))"
            if range.overlaps(Layout.deviceWindow) {
                throw ImageError("\(place) overlaps the device window \(hex(Layout.deviceWindow.lowerBound))-\(hex(Layout.deviceWindow.upperBound))")
            }
            if range.overlaps(Layout.acpiArea) {
                throw ImageError("\(place) overlaps the firmware area \(hex(Layout.acpiArea.lowerBound))-\(hex(Layout.acpiArea.upperBound)) where the ACPI tables live")
            }
            if !memory.contains(range) {
                throw ImageError("\(place) does not fit in the guest's \(ramMiB) MiB of RAM")
            }
            for (j, other) in segments.enumerated().prefix(i) where other.physicalRange.overlaps(range) {
                throw ImageError("\(place) overlaps segment \(j) (\(hex(other.physicalRange.lowerBound))-\(hex(other.physicalRange.upperBound)))")
            }
        }
        guard segments.contains(where: { $0.physicalRange.contains(entry) }) else {
            throw ImageError("entry point \(hex(entry)) is outside the loaded image")
        }
        if bootProtocol != .elf64, entry >= 1 << 32 {
            throw ImageError("entry point \(hex(entry)) is above 4 GiB, unreachable from 32-bit protected mode")
        }
    }
}
