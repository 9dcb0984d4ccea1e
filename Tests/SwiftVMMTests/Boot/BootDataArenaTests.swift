import Testing
@testable import SwiftVMM
@testable import SwiftVMMPlatform
@testable import SwiftVMMMemory
@testable import SwiftVMMBoot

@Suite("BootDataArena")
struct BootDataArenaTests {
    let memory: GuestMemory
    init() throws { memory = try GuestMemory(layout: RAMLayout(size: 4 << 20)) }

    @Test("starts at the page after the kernel's end, or at 1 MiB for a low kernel", arguments: [
        (UInt64(0), UInt64(0x10_0000)), (0x9_0000, 0x10_0000), (0x10_0000, 0x10_0000), (0x10_0001, 0x10_1000), (0x12_3FFF, 0x12_4000),
    ])
    func start(kernelEnd: UInt64, first: UInt64) throws {
        var arena = BootDataArena(kernelEnd: kernelEnd, memory: memory)
        #expect(try arena.allocate(1, for: "x") == first)
        #expect(arena.limit == 4 << 20)
    }

    @Test("allocations are page-aligned and do not overlap")
    func pageAligned() throws {
        var arena = BootDataArena(kernelEnd: 0x10_0000, memory: memory)
        #expect(try arena.allocate(1, for: "a") == 0x10_0000)
        #expect(try arena.allocate(4096, for: "b") == 0x10_1000)
        #expect(try arena.allocate(4097, for: "c") == 0x10_2000)
        #expect(try arena.allocate(0, for: "d") == 0x10_4000)
        #expect(try arena.allocate(10, for: "e") == 0x10_4000)
        #expect(arena.next == 0x10_5000)
    }

    @Test("place writes the bytes where it allocated")
    func place() throws {
        var arena = BootDataArena(kernelEnd: 0x20_0000, memory: memory)
        let address = try arena.place([1, 2, 3], for: "bytes", in: memory)
        #expect(address == 0x20_0000)
        #expect(try memory.read(at: address, count: 3) == [1, 2, 3])
    }

    @Test("running past low RAM is refused, naming what and suggesting --memory")
    func full() throws {
        var arena = BootDataArena(kernelEnd: 0x3F_F000, memory: memory)
        #expect(try arena.allocate(0x1000, for: "fits") == 0x3F_F000)
        let error = #expect(throws: ImageError.self) { try arena.allocate(1, for: "module /m") }
        #expect(error?.problem == "does not fit: module /m (1 bytes) would end at 0x400001, past the end of low RAM at 0x400000; give the guest more --memory")
    }
}
