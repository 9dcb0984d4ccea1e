import SwiftVMMSupport
import SwiftVMMPlatform

/// The CPU state a kernel is entered with, independent of KVM's register structures.
public struct EntryState: Equatable, Sendable {
    public enum Mode: Equatable, Sendable {
        /// Flat 32-bit protected mode, paging off (multiboot 1 and 2).
        case protected32
        /// 64-bit long mode with CR3 = `pageTables` (plain ELF64).
        case long64(pageTables: UInt64)
    }

    public var mode: Mode
    public var rip: UInt64
    public var rsp: UInt64 = 0
    public var rax: UInt64 = 0
    public var rbx: UInt64 = 0
    public var rdi: UInt64 = 0
    public var rsi: UInt64 = 0
    /// A GDT with the flat descriptors below, so segment reloads and `iretq` work.
    public var gdtBase: UInt64

    /// Descriptors in the boot GDT (Intel SDM Vol. 3A §3.4.5, "Segment Descriptors").
    public enum Selector {
        public static let code32: UInt16 = 0x08
        public static let data: UInt16 = 0x10
        public static let code64: UInt16 = 0x18
    }

    /// null; 32-bit code (base 0, limit 4 GiB, execute/read); data (read/write); 64-bit code (L=1).
    static let gdt: [UInt64] = [0, 0x00CF_9A00_0000_FFFF, 0x00CF_9200_0000_FFFF, 0x00AF_9A00_0000_FFFF]
    package static var gdtLimit: UInt16 { UInt16(gdt.count * 8 - 1) }
}

/// Page tables for the plain ELF64 entry: 0–4 GiB identity-mapped with 2 MiB pages
/// (Intel SDM Vol. 3A §4.5, 4-level paging; 2 MiB pages need PS in the PDE). The device
/// window is mapped cache-disabled. Six pages: PML4, PDPT, four page directories.
enum IdentityPageTables {
    static let present: UInt64 = 1 << 0, writable: UInt64 = 1 << 1, writeThrough: UInt64 = 1 << 3
    static let cacheDisable: UInt64 = 1 << 4, pageSize: UInt64 = 1 << 7

    static func build(at base: UInt64) -> [UInt8] {
        var tables = ByteBuffer()
        tables.append(base + 0x1000 | present | writable)                 // PML4[0] → PDPT
        tables.append([UInt8](repeating: 0, count: 4096 - 8))
        for i in 0..<UInt64(4) { tables.append(base + 0x2000 + i * 0x1000 | present | writable) } // PDPT[0..3]
        tables.append([UInt8](repeating: 0, count: 4096 - 32))
        for i in 0..<UInt64(4 * 512) {
            let address = i << 21
            let uncached = Layout.deviceWindow.contains(address) ? cacheDisable | writeThrough : 0
            tables.append(address | present | writable | pageSize | uncached)
        }
        return tables.bytes
    }
}
