import SwiftVMMSupport

/// A Multiboot 1 header (Multiboot Specification 0.6.96 §3.1, "OS image format").
struct Multiboot1Header: Equatable {
    static let magic: UInt32 = 0x1BAD_B002
    /// §3.1.1: the header lies, 4-byte aligned, within the first 8192 bytes.
    static let searchLimit = 8192

    /// §3.1.2 flags: bit 0 page-align modules, bit 1 memory information, bit 2 video mode,
    /// bit 16 the address fields are valid (the "a.out kludge").
    struct Flags: OptionSet, Equatable {
        let rawValue: UInt32
        static let pageAlignModules = Flags(rawValue: 1 << 0)
        static let memoryInformation = Flags(rawValue: 1 << 1)
        static let addressFields = Flags(rawValue: 1 << 16)
    }

    /// §3.1.3 address fields, valid when `Flags.addressFields` is set.
    struct AddressFields: Equatable {
        var headerAddress: UInt32
        var loadAddress: UInt32
        var loadEndAddress: UInt32
        var bssEndAddress: UInt32
        var entryAddress: UInt32
    }

    let offset: UInt64
    let flags: Flags
    let addresses: AddressFields?

    /// Finds and checks the header; nil when there is none.
    static func find(in bytes: [UInt8]) throws(ImageError) -> Multiboot1Header? {
        let file = ByteReader(bytes: bytes)
        let limit = min(bytes.count, searchLimit)
        // §3.1.1: the whole 12-byte header must lie within the first 8192 bytes.
        guard limit >= 12 else { return nil }
        for offset in stride(from: UInt64(0), through: UInt64(limit - 12), by: 4) where file.has(offset, 12) {
            guard try file.u32(offset, "magic") == magic else { continue }
            let rawFlags = try file.u32(offset + 4, "multiboot 1 flags")
            let checksum = try file.u32(offset + 8, "multiboot 1 checksum")
            guard magic &+ rawFlags &+ checksum == 0 else {
                throw ImageError("bad multiboot 1 header checksum at offset \(hex(offset)) (magic + flags + checksum must be 0)")
            }
            let flags = Flags(rawValue: rawFlags)
            // §3.1.2: bits 0-15 are requirements; a loader that does not know one must fail.
            // Bit 2 (video mode) is one of them: SwiftVMM has no framebuffer to describe.
            let unknown = rawFlags & 0xFFFF & ~(Flags.pageAlignModules.rawValue | Flags.memoryInformation.rawValue)
            if unknown != 0 {
                throw ImageError("multiboot 1 header requires unsupported features (flags bits \(hex(unknown)))")
            }
            var addresses: AddressFields?
            if flags.contains(.addressFields) {
                addresses = AddressFields(
                    headerAddress: try file.u32(offset + 12, "header_addr"),
                    loadAddress: try file.u32(offset + 16, "load_addr"),
                    loadEndAddress: try file.u32(offset + 20, "load_end_addr"),
                    bssEndAddress: try file.u32(offset + 24, "bss_end_addr"),
                    entryAddress: try file.u32(offset + 28, "entry_addr"))
            }
            return Multiboot1Header(offset: offset, flags: flags, addresses: addresses)
        }
        return nil
    }
}

/// A Multiboot 2 header (Multiboot2 Specification 2.0 §3.1, "OS image format").
struct Multiboot2Header: Equatable {
    static let magic: UInt32 = 0xE852_50D6
    /// §3.1.1: the header lies, 8-byte aligned, within the first 32768 bytes.
    static let searchLimit = 32768

    /// §3.1.3–3.1.12 header tag types.
    enum TagType: UInt16 {
        case end = 0, informationRequest = 1, address = 2, entryAddress = 3, consoleFlags = 4
        case framebuffer = 5, moduleAlignment = 6, efiBootServices = 7
        case efiI386Entry = 8, efiAMD64Entry = 9, relocatable = 10
    }

    /// Information tag types (§3.6) SwiftVMM provides.
    static let providedInformation: Set<UInt32> = [1, 2, 3, 4, 6, 14, 15]
    static let informationNames: [UInt32: String] = [
        1: "command line", 2: "boot loader name", 3: "modules", 4: "basic memory information",
        5: "BIOS boot device", 6: "memory map", 7: "VBE info", 8: "framebuffer info",
        9: "ELF symbols", 10: "APM table", 11: "EFI 32-bit system table", 12: "EFI 64-bit system table",
        13: "SMBIOS tables", 14: "ACPI old RSDP", 15: "ACPI new RSDP", 16: "networking information",
        17: "EFI memory map", 18: "EFI boot services not terminated", 19: "EFI 32-bit image handle",
        20: "EFI 64-bit image handle", 21: "image load base address",
    ]

    let offset: UInt64
    let headerLength: UInt32
    var addresses: Multiboot1Header.AddressFields?
    var entryAddress: UInt32?

    static func find(in bytes: [UInt8]) throws(ImageError) -> Multiboot2Header? {
        let file = ByteReader(bytes: bytes)
        let limit = min(bytes.count, searchLimit)
        // §3.1.1: the whole header (header_length bytes) must lie within the first 32768 bytes.
        guard limit >= 16 else { return nil }
        for offset in stride(from: UInt64(0), through: UInt64(limit - 16), by: 8) where file.has(offset, 16) {
            guard try file.u32(offset, "magic") == magic else { continue }
            let architecture = try file.u32(offset + 4, "multiboot 2 architecture")
            let length = try file.u32(offset + 8, "multiboot 2 header_length")
            let checksum = try file.u32(offset + 12, "multiboot 2 checksum")
            guard magic &+ architecture &+ length &+ checksum == 0 else {
                throw ImageError("bad multiboot 2 header checksum at offset \(hex(offset)) (magic + architecture + header_length + checksum must be 0)")
            }
            guard architecture == 0 else {
                throw ImageError("multiboot 2 header is for architecture \(architecture), not i386 (0)")
            }
            // A header that does not end within the search window is not a header (§3.1.1).
            guard offset + UInt64(length) <= UInt64(searchLimit) else { continue }
            guard length >= 24, file.has(offset, UInt64(length)) else {
                throw ImageError("multiboot 2 header_length \(length) at offset \(hex(offset)) is too small or runs past the end of the file")
            }
            var header = Multiboot2Header(offset: offset, headerLength: length)
            try header.readTags(file)
            return header
        }
        return nil
    }

    /// §3.1.3: tags follow the 16-byte header, each 8-byte aligned, ending with type 0.
    private mutating func readTags(_ file: ByteReader) throws(ImageError) {
        let end = offset + UInt64(headerLength)
        var tag = offset + 16
        while true {
            guard tag + 8 <= end else { throw ImageError("multiboot 2 header has no end tag") }
            let type = try file.u16(tag, "tag type")
            let optional = try file.u16(tag + 2, "tag flags") & 1 != 0
            let size = UInt64(try file.u32(tag + 4, "tag size"))
            guard size >= 8, tag + size <= end else {
                throw ImageError("multiboot 2 header tag type \(type) at offset \(hex(tag)) has a bad size \(size)")
            }
            switch TagType(rawValue: type) {
            case .end:
                return
            case .informationRequest:
                for request in stride(from: tag + 8, to: tag + size - 3, by: 4) {
                    let wanted = try file.u32(request, "information request")
                    if !optional, !Self.providedInformation.contains(wanted) {
                        let name = Self.informationNames[wanted] ?? "unknown"
                        throw ImageError("multiboot 2 header requires information tag \(wanted) (\(name)), which SwiftVMM does not provide")
                    }
                }
            case .address:
                guard size >= 24 else { throw ImageError("multiboot 2 address tag is too short (\(size) bytes)") }
                addresses = Multiboot1Header.AddressFields(
                    headerAddress: try file.u32(tag + 8, "header_addr"),
                    loadAddress: try file.u32(tag + 12, "load_addr"),
                    loadEndAddress: try file.u32(tag + 16, "load_end_addr"),
                    bssEndAddress: try file.u32(tag + 20, "bss_end_addr"),
                    entryAddress: 0)
            case .entryAddress:
                guard size >= 12 else { throw ImageError("multiboot 2 entry address tag is too short (\(size) bytes)") }
                entryAddress = try file.u32(tag + 8, "entry_addr")
            case .consoleFlags, .moduleAlignment, .relocatable:
                // Serial console is always there; modules are always page-aligned; the
                // kernel is loaded at its preferred address.
                break
            case .efiI386Entry, .efiAMD64Entry:
                // Only used when booted from EFI boot services; this is a BIOS-style boot.
                break
            case .framebuffer, .efiBootServices, nil:
                if !optional {
                    let name = TagType(rawValue: type).map { "\($0)" } ?? "unknown"
                    throw ImageError("multiboot 2 header requires tag type \(type) (\(name)), which SwiftVMM does not support")
                }
            }
            tag += (size + 7) & ~7
        }
    }
}
