import SwiftVMMSupport

/// The function and object symbols of an ELF file's `.symtab` (System V ABI, "Sections"
/// and "Symbol Table"), for turning a guest RIP into `name+0xoffset` in fault reports.
/// 32- and 64-bit. A stripped kernel (no SHT_SYMTAB) has an empty table.
public struct ELFSymbolTable: Sendable {
    struct Symbol: Sendable {
        var name: String
        var address: UInt64
        var size: UInt64
    }
    /// Sorted by address.
    let symbols: [Symbol]

    static let sectionSymbolTable: UInt32 = 2   // SHT_SYMTAB
    static let typeSection: UInt8 = 3, typeFile: UInt8 = 4   // STT_SECTION, STT_FILE

    /// Symbols with no size (assembly labels) still name addresses up to this far past them.
    static let unsizedReach: UInt64 = 0x1000

    public init(_ bytes: [UInt8]) {
        symbols = (try? Self.read(bytes)) ?? []
    }

    public var isEmpty: Bool { symbols.isEmpty }

    /// `name+0xoffset` (or `name` at its start) for the symbol containing `address`.
    public func describe(_ address: UInt64) -> String? {
        // The last symbol at or below the address.
        var low = 0, high = symbols.count
        while low < high {
            let middle = (low + high) / 2
            if symbols[middle].address <= address { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else { return nil }
        let symbol = symbols[low - 1]
        let offset = address - symbol.address
        guard symbol.size > 0 ? offset < symbol.size : offset < Self.unsizedReach else { return nil }
        return offset == 0 ? symbol.name : "\(symbol.name)+\(hex(offset))"
    }

    private static func read(_ bytes: [UInt8]) throws(ImageError) -> [Symbol] {
        guard ELFFile.isELF(bytes) else { return [] }
        let file = ByteReader(bytes: bytes)
        let is64 = try file.u8(4, "ELF class") == 2
        let sectionTable = is64 ? try file.u64(40, "e_shoff") : UInt64(try file.u32(32, "e_shoff"))
        let entrySize = UInt64(try file.u16(is64 ? 58 : 46, "e_shentsize"))
        let count = UInt64(try file.u16(is64 ? 60 : 48, "e_shnum"))
        // Section header fields (Elf64_Shdr / Elf32_Shdr): sh_type, sh_offset, sh_size, sh_link.
        func section(_ index: UInt64) throws(ImageError) -> (type: UInt32, offset: UInt64, size: UInt64, link: UInt32) {
            let header = sectionTable + index * entrySize
            return is64
                ? (try file.u32(header + 4, "sh_type"), try file.u64(header + 24, "sh_offset"),
                   try file.u64(header + 32, "sh_size"), try file.u32(header + 40, "sh_link"))
                : (try file.u32(header + 4, "sh_type"), UInt64(try file.u32(header + 16, "sh_offset")),
                   UInt64(try file.u32(header + 20, "sh_size")), try file.u32(header + 24, "sh_link"))
        }
        var symbols: [Symbol] = []
        for index in 0..<count {
            let table = try section(index)
            guard table.type == sectionSymbolTable, UInt64(table.link) < count else { continue }
            let strings = try section(UInt64(table.link))
            let symbolSize: UInt64 = is64 ? 24 : 16
            for entry in stride(from: table.offset, to: table.offset + table.size, by: Int(symbolSize)) {
                // Elf64_Sym: name@0 info@4 shndx@6 value@8 size@16; Elf32_Sym: name@0 value@4 size@8 info@12 shndx@14.
                let nameOffset = try file.u32(entry, "st_name")
                let info = try file.u8(entry + (is64 ? 4 : 12), "st_info")
                let sectionIndex = try file.u16(entry + (is64 ? 6 : 14), "st_shndx")
                let value = is64 ? try file.u64(entry + 8, "st_value") : UInt64(try file.u32(entry + 4, "st_value"))
                let size = is64 ? try file.u64(entry + 16, "st_size") : UInt64(try file.u32(entry + 8, "st_size"))
                let type = info & 0xF
                guard sectionIndex != 0, nameOffset != 0, type != typeSection, type != typeFile else { continue }
                let start = strings.offset + UInt64(nameOffset)
                guard start < UInt64(bytes.count) else { continue }
                let name = bytes[Int(start)...].prefix { $0 != 0 }
                symbols.append(Symbol(name: String(decoding: name, as: UTF8.self), address: value, size: size))
            }
        }
        return symbols.sorted { $0.address < $1.address }
    }
}
