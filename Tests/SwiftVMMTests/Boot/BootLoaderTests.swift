import Testing
@testable import SwiftVMM

@Suite("BootLoader")
struct BootLoaderTests {
    typealias Segment = TestImages.Segment

    let fixture: BootFixture
    init() throws { fixture = try BootFixture() }

    /// A plain ELF64 kernel at 2 MiB, highest byte 0x204FFF, entered through a high-half address.
    static let kernelRange: Range<UInt64> = 0x20_0000..<0x20_5000
    static let elf64Kernel = TestImages.elf64(entry: 0xFFFF_FFFF_8020_0040, segments: [
        Segment(paddr: 0x20_0000, vaddr: 0xFFFF_FFFF_8020_0000, bytes: [UInt8](repeating: 0xF4, count: 0x1000), memsz: 0x5000),
    ])

    @Test("ELF64: long mode, RSI magic, RDI information, RIP physical")
    func elf64Registers() throws {
        let state = try fixture.boot(Self.elf64Kernel)
        guard case .long64(let pageTables) = state.mode else {
            Issue.record("mode is \(state.mode), not long64")
            return
        }
        #expect(state.rip == 0x20_0040)
        #expect(state.rsi == 0x36D7_6289)
        #expect(state.rax == 0 && state.rbx == 0)
        #expect(pageTables % 4096 == 0)
        #expect(pageTables >= Self.kernelRange.upperBound)
        // RDI is a multiboot 2 information structure, same tags as for a multiboot 2 kernel.
        #expect(state.rdi % 8 == 0)
        #expect(state.rdi >= Self.kernelRange.upperBound)
        let info = try Multiboot2Tags(at: state.rdi, in: fixture.memory)
        #expect(info.tags.map(\.type) == [1, 2, 3, 3, 4, 6, 14, 15, 0])
    }

    @Test("ELF64: RSP is the 16-byte-aligned top of a 64 KiB stack of its own")
    func elf64Stack() throws {
        let state = try fixture.boot(Self.elf64Kernel)
        guard case .long64(let pageTables) = state.mode else { Issue.record("not long64"); return }
        #expect(state.rsp % 16 == 0)
        let stack = state.rsp - 64 * 1024
        #expect(stack >= Self.kernelRange.upperBound)
        #expect(state.rsp <= fixture.memory.layout.lowSize)
        let info = try Multiboot2Tags(at: state.rdi, in: fixture.memory)
        let stackRange = stack..<state.rsp
        #expect(!stackRange.overlaps(pageTables..<pageTables + 6 * 4096))
        #expect(!stackRange.overlaps(state.rdi..<state.rdi + UInt64(info.totalSize)))
        #expect(!stackRange.overlaps(state.gdtBase..<state.gdtBase + 32))
        for module in info.all(3) {
            let start = UInt64(try fixture.u32(module.address + 8)), end = UInt64(try fixture.u32(module.address + 12))
            #expect(!stackRange.overlaps(start..<end))
        }
        #expect(!Layout.kernelOwnedLowMemory.overlaps(stackRange))
    }

    @Test("ELF64: page tables in memory identity-map 0-4 GiB with 2 MiB pages")
    func elf64PageTables() throws {
        let state = try fixture.boot(Self.elf64Kernel)
        guard case .long64(let pml4) = state.mode else { Issue.record("not long64"); return }
        #expect(try fixture.u64(pml4) == pml4 + 0x1000 | 0x3)
        #expect(try fixture.u64(pml4 + 8) == 0)
        for i in 0..<UInt64(4) {
            #expect(try fixture.u64(pml4 + 0x1000 + i * 8) == pml4 + 0x2000 + i * 0x1000 | 0x3)
        }
        #expect(try fixture.u64(pml4 + 0x1000 + 4 * 8) == 0)
        func pde(_ address: UInt64) throws -> UInt64 { try fixture.u64(pml4 + 0x2000 + (address >> 21) * 8) }
        // present | writable | page size; the device window also PCD | PWT.
        #expect(try pde(0) == 0x83)
        #expect(try pde(0x20_0000) == 0x20_0083)
        #expect(try pde(0x3FE0_0000) == 0x3FE0_0083)
        #expect(try pde(0x4000_0000) == 0x4000_0083)
        #expect(try pde(0xBFE0_0000) == 0xBFE0_0083)
        #expect(try pde(0xC000_0000) == 0xC000_009B)
        #expect(try pde(0xFEE0_0000) == 0xFEE0_009B)
        #expect(try pde(0xFFE0_0000) == 0xFFE0_009B)
    }

    @Test("ELF64: boot data that does not fit in RAM is refused, naming memory")
    func elf64DoesNotFit() throws {
        // 2 MiB of RAM, kernel up to 0x1F8000: the GDT, information and page tables fit,
        // the 64 KiB stack does not.
        let small = try BootFixture(memorySize: 2 << 20)
        let kernel = TestImages.elf64(entry: 0x10_0000, segments: [Segment(paddr: 0x10_0000, bytes: [0xF4], memsz: 0xF_8000)])
        let error = #expect(throws: BootError.self) { try small.boot(kernel, modules: []) }
        #expect(error?.file == "/test/kernel")
        #expect(error?.problem.hasPrefix("does not fit: stack (65536 bytes)") == true)
        #expect(error?.problem.contains("--memory") == true)
    }

    @Test("a kernel that is itself too big for RAM is refused before any boot data")
    func kernelTooBig() throws {
        let small = try BootFixture(memorySize: 2 << 20)
        let kernel = TestImages.elf64(entry: 0x10_0000, segments: [Segment(paddr: 0x10_0000, bytes: [0xF4], memsz: 0x20_0000)])
        let error = #expect(throws: BootError.self) { try small.boot(kernel, modules: []) }
        #expect(error == BootError(file: "/test/kernel", problem: "segment 0 (0x100000-0x300000) does not fit in the guest's 2 MiB of RAM"))
    }

    /// Found by FuzzLoaders: a segment longer than Int.max made the RAM check trap.
    @Test("a segment longer than Int.max is refused, not counted")
    func segmentLongerThanIntMax() throws {
        let small = try BootFixture(memorySize: 2 << 20)
        let kernel = TestImages.elf64(entry: 0x1_0000_0000, segments: [
            Segment(paddr: 0x1_0000_0000, bytes: [0xF4], memsz: 0x8000_0000_0000_0000),
        ])
        let error = #expect(throws: BootError.self) { try small.boot(kernel, modules: []) }
        #expect(error?.problem == "segment 0 (0x100000000-0x8000000100000000) does not fit in the guest's 2 MiB of RAM")
    }

    @Test("BootModule parses PATH[=STRING]")
    func bootModuleArgument() {
        #expect(BootModule(argument: "/boot/initrd") == BootModule(path: "/boot/initrd", string: "/boot/initrd"))
        #expect(BootModule(argument: "/boot/initrd=root=/dev/sda quiet") == BootModule(path: "/boot/initrd", string: "root=/dev/sda quiet"))
        #expect(BootModule(argument: "mod=") == BootModule(path: "mod", string: ""))
    }
}
