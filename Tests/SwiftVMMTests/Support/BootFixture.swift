@testable import SwiftVMM
@testable import SwiftVMMPlatform
@testable import SwiftVMMMemory
@testable import SwiftVMMBoot

/// A guest's memory, two module files and an RSDP, for running `BootLoader.boot` and
/// reading back what it wrote.
struct BootFixture {
    let memory: GuestMemory
    let directory = TemporaryDirectory()
    let rsdp = ACPITables(cpuCount: 2).build(at: Layout.acpiArea.lowerBound).rsdp
    let commandLine = "console=ttyS0 loglevel=7 root=/dev/null"
    /// 5000 bytes (not a whole page) and 3 bytes.
    let moduleContents: [[UInt8]] = [(0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) }, Array("abc".utf8)]
    let modules: [BootModule]

    init(memorySize: UInt64 = 64 << 20) throws {
        memory = try GuestMemory(layout: RAMLayout(size: memorySize))
        let first = try directory.file("initrd.img", moduleContents[0])
        let second = try directory.file("second.bin", moduleContents[1])
        modules = [BootModule(path: first, string: "initrd first=1"), BootModule(path: second)]
    }

    func boot(_ kernel: [UInt8], as requested: BootProtocol? = nil, modules: [BootModule]? = nil) throws(BootError) -> EntryState {
        try BootLoader.boot(kernel: KernelImage(path: "/test/kernel", bytes: kernel), as: requested, commandLine: commandLine,
                            modules: modules ?? self.modules, rsdp: rsdp, memory: memory)
    }

    func u32(_ address: UInt64) throws -> UInt32 { try memory.read(UInt32.self, at: address) }
    func u64(_ address: UInt64) throws -> UInt64 { try memory.read(UInt64.self, at: address) }

    /// The memory map `RAMLayout(size: 64 MiB)` gives, as (base, length, type).
    static let map64MiB: [(UInt64, UInt64, UInt32)] = [
        (0, 0x9_FC00, 1), (0x9_FC00, 0x6_0400, 2), (0x10_0000, 0x3F0_0000, 1), (0xC000_0000, 0x4000_0000, 2),
    ]
}

/// A multiboot 2 boot information structure read back from guest memory.
struct Multiboot2Tags {
    struct Tag {
        let address: UInt64
        let type: UInt32
        let size: UInt32
    }

    let totalSize: UInt32
    let reserved: UInt32
    let tags: [Tag]

    /// Walks the tags from `address` up to and including the end tag (at most 64).
    init(at address: UInt64, in memory: GuestMemory) throws {
        totalSize = try memory.read(UInt32.self, at: address)
        reserved = try memory.read(UInt32.self, at: address + 4)
        var tags: [Tag] = []
        var next = address + 8
        while tags.count < 64 {
            let tag = Tag(address: next, type: try memory.read(UInt32.self, at: next), size: try memory.read(UInt32.self, at: next + 4))
            tags.append(tag)
            if tag.type == 0 || tag.size < 8 { break }
            next = (next + UInt64(tag.size) + 7) & ~7
        }
        self.tags = tags
    }

    func all(_ type: UInt32) -> [Tag] { tags.filter { $0.type == type } }
}
