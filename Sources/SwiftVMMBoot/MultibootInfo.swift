import SwiftVMMSupport
import SwiftVMMMemory
import SwiftVMMPlatform

/// A boot module as the kernel sees it: where its bytes are and its string.
struct PlacedModule: Equatable {
    let start: UInt64
    let end: UInt64
    let string: String
}

/// What both multiboot information formats report.
struct BootInformation {
    let commandLine: String
    let modules: [PlacedModule]
    let memoryMap: [MemoryMapEntry]
    /// The 36-byte ACPI 2.0 RSDP.
    let rsdp: [UInt8]
    let loaderName: String

    /// Multiboot mem_lower: KiB of conventional memory from 0.
    var memoryLowerKiB: UInt32 { UInt32(Layout.conventionalMemoryEnd / 1024) }
    /// Multiboot mem_upper: KiB from 1 MiB to the first hole.
    var memoryUpperKiB: UInt32 {
        let upper = memoryMap.first { $0.kind == .usable && $0.base == Layout.highMemoryStart }
        return UInt32((upper?.length ?? 0) / 1024)
    }
}

/// Multiboot 1 information structure (Multiboot Specification 0.6.96 §3.3), with its
/// strings and memory map placed through `arena`. Returns the structure's address.
enum Multiboot1Info {
    static let bootMagic: UInt32 = 0x2BAD_B002

    /// §3.3 flags: which fields are valid.
    static let memoryFlag: UInt32 = 1 << 0, commandLineFlag: UInt32 = 1 << 2, modulesFlag: UInt32 = 1 << 3
    static let memoryMapFlag: UInt32 = 1 << 6, loaderNameFlag: UInt32 = 1 << 9

    static func place(_ info: BootInformation, arena: inout BootDataArena, memory: GuestMemory) throws(ImageError) -> UInt64 {
        let commandLine = try arena.place(Array(info.commandLine.utf8) + [0], for: "command line", in: memory)
        let loaderName = try arena.place(Array(info.loaderName.utf8) + [0], for: "boot loader name", in: memory)

        var modules = ByteBuffer()
        for module in info.modules {
            let string = try arena.place(Array(module.string.utf8) + [0], for: "module string", in: memory)
            modules.append(UInt32(module.start))   // mod_start
            modules.append(UInt32(module.end))     // mod_end
            modules.append(UInt32(string))         // string
            modules.append(UInt32(0))              // reserved
        }
        let modulesAddress = try arena.place(modules.bytes, for: "module list", in: memory)

        // §3.3 memory map: each entry is size (excluding itself) then base, length, type.
        var map = ByteBuffer()
        for entry in info.memoryMap {
            map.append(UInt32(20))
            map.append(entry.base)
            map.append(entry.length)
            map.append(entry.kind.rawValue)
        }
        let mapAddress = try arena.place(map.bytes, for: "memory map", in: memory)

        var mbi = ByteBuffer()
        mbi.append(memoryFlag | commandLineFlag | modulesFlag | memoryMapFlag | loaderNameFlag)
        mbi.append(info.memoryLowerKiB)            // 4 mem_lower
        mbi.append(info.memoryUpperKiB)            // 8 mem_upper
        mbi.append(UInt32(0xFFFF_FFFF))            // 12 boot_device: none
        mbi.append(UInt32(commandLine))            // 16 cmdline
        mbi.append(UInt32(info.modules.count))     // 20 mods_count
        mbi.append(UInt32(modulesAddress))         // 24 mods_addr
        mbi.append([UInt8](repeating: 0, count: 16)) // 28 syms
        mbi.append(UInt32(map.count))              // 44 mmap_length
        mbi.append(UInt32(mapAddress))             // 48 mmap_addr
        mbi.append(UInt32(0))                      // 52 drives_length
        mbi.append(UInt32(0))                      // 56 drives_addr
        mbi.append(UInt32(0))                      // 60 config_table
        mbi.append(UInt32(loaderName))             // 64 boot_loader_name
        mbi.append([UInt8](repeating: 0, count: 116 - 68)) // apm_table, vbe_*, framebuffer_*
        return try arena.place(mbi.bytes, for: "multiboot information", in: memory)
    }
}

/// Multiboot 2 boot information (Multiboot2 Specification 2.0 §3.6): fixed part, then
/// 8-byte-aligned tags. Module contents are placed by the caller; this writes the tags.
enum Multiboot2Info {
    static let bootMagic: UInt32 = 0x36D7_6289

    static func place(_ info: BootInformation, arena: inout BootDataArena, memory: GuestMemory) throws(ImageError) -> UInt64 {
        var tags = ByteBuffer()
        tags.append(UInt32(0))                     // total_size, set below
        tags.append(UInt32(0))                     // reserved
        func tag(_ type: UInt32, _ body: (inout ByteBuffer) -> Void) {
            let start = tags.count
            tags.append(type)
            tags.append(UInt32(0))                 // size, set below
            body(&tags)
            tags.set(UInt32(tags.count - start), at: start + 4)
            tags.align(to: 8)
        }
        tag(1) { $0.append(cString: info.commandLine) }                  // §3.6.3 command line
        tag(2) { $0.append(cString: info.loaderName) }        // §3.6.4 boot loader name
        for module in info.modules {                                     // §3.6.6 modules
            tag(3) {
                $0.append(UInt32(module.start))
                $0.append(UInt32(module.end))
                $0.append(cString: module.string)
            }
        }
        tag(4) {                                                         // §3.6.2 basic memory information
            $0.append(info.memoryLowerKiB)
            $0.append(info.memoryUpperKiB)
        }
        tag(6) {                                                         // §3.6.8 memory map
            $0.append(UInt32(24))                  // entry_size
            $0.append(UInt32(0))                   // entry_version
            for entry in info.memoryMap {
                $0.append(entry.base)
                $0.append(entry.length)
                $0.append(entry.kind.rawValue)
                $0.append(UInt32(0))
            }
        }
        tag(14) { $0.append(info.rsdp.prefix(20)) }                      // §3.6.15 ACPI old RSDP
        tag(15) { $0.append(info.rsdp) }                                 // §3.6.16 ACPI new RSDP
        tag(0) { _ in }                                                  // end
        tags.set(UInt32(tags.count), at: 0)
        return try arena.place(tags.bytes, for: "multiboot 2 information", in: memory)
    }
}
