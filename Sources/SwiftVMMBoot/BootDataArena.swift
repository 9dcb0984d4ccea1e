import SwiftVMMSupport
import SwiftVMMMemory
import SwiftVMMPlatform

/// Hands out guest-physical space for boot data (multiboot information, strings,
/// modules, page tables, stack): page-aligned, above the kernel and at least at 1 MiB,
/// so the VMM never writes where kernels keep their own low-memory structures.
struct BootDataArena {
    private(set) var next: UInt64
    let limit: UInt64

    init(kernelEnd: UInt64, memory: GuestMemory) {
        next = Self.pageAlign(max(kernelEnd, Layout.highMemoryStart))
        limit = memory.layout.lowSize
    }

    static func pageAlign(_ address: UInt64) -> UInt64 { (address + 0xFFF) & ~0xFFF }

    /// Reserves `size` bytes, page-aligned; fails when low RAM runs out.
    mutating func allocate(_ size: Int, for what: String) throws(ImageError) -> UInt64 {
        let address = next
        let end = address + UInt64(size)
        guard end <= limit else {
            throw ImageError("does not fit: \(what) (\(size) bytes) would end at \(hex(end)), past the end of low RAM at \(hex(limit)); give the guest more --memory")
        }
        next = Self.pageAlign(end)
        return address
    }

    /// Reserves room for `bytes` and writes them.
    mutating func place(_ bytes: [UInt8], for what: String, in memory: GuestMemory) throws(ImageError) -> UInt64 {
        let address = try allocate(bytes.count, for: what)
        do { try memory.write(bytes, at: address) } catch { throw ImageError("\(error)") }
        return address
    }
}
