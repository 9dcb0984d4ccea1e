import Testing
@testable import SwiftVMM
@testable import SwiftVMMSupport
@testable import SwiftVMMPlatform
@testable import SwiftVMMBoot

@Suite("MultibootInfo")
struct MultibootInfoTests {
    typealias Segment = TestImages.Segment

    let fixture: BootFixture
    init() throws { fixture = try BootFixture() }

    /// Kernel code at 1 MiB with BSS up to 0x103000 (its highest byte is 0x102FFF).
    static let kernelEnd: UInt64 = 0x10_3000
    static let segments = [Segment(paddr: 0x10_0000, bytes: [UInt8](repeating: 0xF4, count: 0x1000), memsz: 0x3000)]
    static let multiboot1Kernel = TestImages.placing(TestImages.multiboot1Header(flags: 3), at: 0x80,
                                                     in: TestImages.elf32(entry: 0x10_0000, segments: segments))
    static let multiboot2Kernel = TestImages.placing(
        TestImages.multiboot2Header(tags: [TestImages.Tag.informationRequest([1, 2, 3, 4, 6, 14, 15])]), at: 0x100,
        in: TestImages.elf32(entry: 0x10_0000, segments: segments))

    /// Checks that [address, address + length) is above the kernel, in low RAM and out of
    /// the low memory kernels own.
    func expectBootData(_ address: UInt64, _ length: UInt64, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(address >= Self.kernelEnd, "\(what) at \(hex(address)) is below the kernel's end", sourceLocation: sourceLocation)
        #expect(address + length <= fixture.memory.layout.lowSize, "\(what) is past low RAM", sourceLocation: sourceLocation)
        #expect(!Layout.kernelOwnedLowMemory.overlaps(address..<address + max(length, 1)), "\(what) in 0x500-0x9FBFF", sourceLocation: sourceLocation)
    }

    /// No two of `ranges` share a byte.
    func expectDisjoint(_ ranges: [(String, Range<UInt64>)], sourceLocation: SourceLocation = #_sourceLocation) {
        for (i, (name, range)) in ranges.enumerated() {
            for (other, otherRange) in ranges.prefix(i) where range.overlaps(otherRange) {
                Issue.record("\(name) \(range) overlaps \(other) \(otherRange)", sourceLocation: sourceLocation)
            }
        }
    }

    // MARK: Multiboot 1

    @Test("multiboot 1: entry state")
    func multiboot1Entry() throws {
        let state = try fixture.boot(Self.multiboot1Kernel)
        #expect(state.mode == .protected32)
        #expect(state.rip == 0x10_0000)
        #expect(state.rax == 0x2BAD_B002)
        #expect(state.rbx % 4 == 0)
        #expect(state.gdtBase % 8 == 0)
        for (i, descriptor) in EntryState.gdt.enumerated() {
            #expect(try fixture.u64(state.gdtBase + UInt64(i * 8)) == descriptor)
        }
    }

    @Test("multiboot 1: information structure fields")
    func multiboot1Info() throws {
        let state = try fixture.boot(Self.multiboot1Kernel)
        let mbi = state.rbx
        expectBootData(mbi, 116, "multiboot information")
        // flags: mem_* (0), cmdline (2), mods (3), mmap (6), boot_loader_name (9).
        #expect(try fixture.u32(mbi) == 1 << 0 | 1 << 2 | 1 << 3 | 1 << 6 | 1 << 9)
        #expect(try fixture.u32(mbi + 4) == 639)
        #expect(try fixture.u32(mbi + 8) == (64 << 10) - 1024)
        #expect(try fixture.u32(mbi + 12) == 0xFFFF_FFFF)
        let commandLine = UInt64(try fixture.u32(mbi + 16))
        #expect(try fixture.memory.cString(at: commandLine) == fixture.commandLine)
        expectBootData(commandLine, UInt64(fixture.commandLine.utf8.count + 1), "command line")
        let loaderName = UInt64(try fixture.u32(mbi + 64))
        #expect(try fixture.memory.cString(at: loaderName) == "SwiftVMM")
        expectBootData(loaderName, 9, "boot loader name")
        // syms, drives, config table, APM, VBE and framebuffer fields are zero.
        #expect(try fixture.memory.read(at: mbi + 28, count: 16) == [UInt8](repeating: 0, count: 16))
        #expect(try fixture.memory.read(at: mbi + 52, count: 12) == [UInt8](repeating: 0, count: 12))
        #expect(try fixture.memory.read(at: mbi + 68, count: 116 - 68) == [UInt8](repeating: 0, count: 116 - 68))
    }

    @Test("multiboot 1: modules are page-aligned copies of the files, with their strings")
    func multiboot1Modules() throws {
        let state = try fixture.boot(Self.multiboot1Kernel)
        let mbi = state.rbx
        #expect(try fixture.u32(mbi + 20) == 2)
        let list = UInt64(try fixture.u32(mbi + 24))
        expectBootData(list, 32, "module list")
        var ranges: [(String, Range<UInt64>)] = [("kernel", 0x10_0000..<Self.kernelEnd), ("mbi", mbi..<mbi + 116)]
        for (i, contents) in fixture.moduleContents.enumerated() {
            let entry = list + UInt64(i * 16)
            let start = UInt64(try fixture.u32(entry)), end = UInt64(try fixture.u32(entry + 4))
            #expect(start % 4096 == 0, "module \(i) start \(hex(start)) is not page-aligned")
            #expect(end - start == UInt64(contents.count))
            #expect(try fixture.memory.read(at: start, count: contents.count) == contents)
            expectBootData(start, end - start, "module \(i)")
            let string = UInt64(try fixture.u32(entry + 8))
            #expect(try fixture.memory.cString(at: string) == fixture.modules[i].string)
            #expect(try fixture.u32(entry + 12) == 0)
            ranges += [("module \(i)", start..<end), ("module \(i) string", string..<string + UInt64(fixture.modules[i].string.utf8.count + 1))]
        }
        #expect(fixture.modules[1].string == fixture.modules[1].path)
        ranges.append(("module list", list..<list + 32))
        expectDisjoint(ranges)
    }

    @Test("multiboot 1: memory map entries")
    func multiboot1MemoryMap() throws {
        let state = try fixture.boot(Self.multiboot1Kernel)
        let length = try fixture.u32(state.rbx + 44)
        let map = UInt64(try fixture.u32(state.rbx + 48))
        #expect(length == 4 * 24)
        expectBootData(map, UInt64(length), "memory map")
        var entries: [(UInt64, UInt64, UInt32)] = []
        var entry = map
        while entry < map + UInt64(length) {
            let size = try fixture.u32(entry)
            #expect(size == 20)
            entries.append((try fixture.u64(entry + 4), try fixture.u64(entry + 12), try fixture.u32(entry + 20)))
            entry += UInt64(size) + 4
        }
        #expect(entries.map { "\($0)" } == BootFixture.map64MiB.map { "\($0)" })
    }

    @Test("multiboot 1: no modules gives mods_count 0")
    func multiboot1NoModules() throws {
        let state = try fixture.boot(Self.multiboot1Kernel, modules: [])
        #expect(try fixture.u32(state.rbx + 20) == 0)
        #expect(try fixture.u32(state.rbx) & (1 << 3) != 0)
    }

    // MARK: Multiboot 2

    @Test("multiboot 2: entry state and tag layout")
    func multiboot2Layout() throws {
        let state = try fixture.boot(Self.multiboot2Kernel)
        #expect(state.mode == .protected32)
        #expect(state.rip == 0x10_0000)
        #expect(state.rax == 0x36D7_6289)
        #expect(state.rbx % 8 == 0)
        let info = try Multiboot2Tags(at: state.rbx, in: fixture.memory)
        #expect(info.reserved == 0)
        #expect(info.tags.map(\.type) == [1, 2, 3, 3, 4, 6, 14, 15, 0])
        for tag in info.tags { #expect(tag.address % 8 == 0, "tag \(tag.type) at \(hex(tag.address)) is not 8-byte aligned") }
        let end = try #require(info.tags.last)
        #expect(end.type == 0 && end.size == 8)
        #expect(UInt64(info.totalSize) == end.address + 8 - state.rbx)
        expectBootData(state.rbx, UInt64(info.totalSize), "multiboot 2 information")
    }

    @Test("multiboot 2: command line, boot loader name, basic memory information")
    func multiboot2Strings() throws {
        let state = try fixture.boot(Self.multiboot2Kernel)
        let info = try Multiboot2Tags(at: state.rbx, in: fixture.memory)
        let commandLine = try #require(info.all(1).first)
        #expect(commandLine.size == UInt32(8 + fixture.commandLine.utf8.count + 1))
        #expect(try fixture.memory.cString(at: commandLine.address + 8) == fixture.commandLine)
        let name = try #require(info.all(2).first)
        #expect(name.size == 8 + 9)
        #expect(try fixture.memory.cString(at: name.address + 8) == "SwiftVMM")
        let basic = try #require(info.all(4).first)
        #expect(basic.size == 16)
        #expect(try fixture.u32(basic.address + 8) == 639)
        #expect(try fixture.u32(basic.address + 12) == 64512)
    }

    @Test("multiboot 2: module tags")
    func multiboot2Modules() throws {
        let state = try fixture.boot(Self.multiboot2Kernel)
        let info = try Multiboot2Tags(at: state.rbx, in: fixture.memory)
        let modules = info.all(3)
        try #require(modules.count == 2)
        var ranges: [(String, Range<UInt64>)] = [("kernel", 0x10_0000..<Self.kernelEnd),
                                                 ("info", state.rbx..<state.rbx + UInt64(info.totalSize))]
        for (i, tag) in modules.enumerated() {
            let start = UInt64(try fixture.u32(tag.address + 8)), end = UInt64(try fixture.u32(tag.address + 12))
            let string = fixture.modules[i].string
            #expect(tag.size == UInt32(16 + string.utf8.count + 1))
            #expect(try fixture.memory.cString(at: tag.address + 16) == string)
            #expect(start % 4096 == 0)
            #expect(end - start == UInt64(fixture.moduleContents[i].count))
            #expect(try fixture.memory.read(at: start, count: fixture.moduleContents[i].count) == fixture.moduleContents[i])
            expectBootData(start, end - start, "module \(i)")
            ranges.append(("module \(i)", start..<end))
        }
        expectDisjoint(ranges)
    }

    @Test("multiboot 2: memory map tag")
    func multiboot2MemoryMap() throws {
        let state = try fixture.boot(Self.multiboot2Kernel)
        let info = try Multiboot2Tags(at: state.rbx, in: fixture.memory)
        let map = try #require(info.all(6).first)
        #expect(try fixture.u32(map.address + 8) == 24)     // entry_size
        #expect(try fixture.u32(map.address + 12) == 0)     // entry_version
        #expect(map.size == 16 + 4 * 24)
        var entries: [(UInt64, UInt64, UInt32)] = []
        for entry in stride(from: map.address + 16, to: map.address + UInt64(map.size), by: 24) {
            entries.append((try fixture.u64(entry), try fixture.u64(entry + 8), try fixture.u32(entry + 16)))
            #expect(try fixture.u32(entry + 20) == 0)
        }
        #expect(entries.map { "\($0)" } == BootFixture.map64MiB.map { "\($0)" })
    }

    @Test("multiboot 2: ACPI old and new RSDP tags")
    func multiboot2RSDP() throws {
        let state = try fixture.boot(Self.multiboot2Kernel)
        let info = try Multiboot2Tags(at: state.rbx, in: fixture.memory)
        let old = try #require(info.all(14).first), new = try #require(info.all(15).first)
        #expect(old.size == 8 + 20)
        #expect(new.size == 8 + 36)
        let oldRSDP = try fixture.memory.read(at: old.address + 8, count: 20)
        #expect(oldRSDP == Array(fixture.rsdp.prefix(20)))
        #expect(oldRSDP.byteSum == 0)
        #expect(try fixture.memory.read(at: new.address + 8, count: 36) == fixture.rsdp)
    }

    // MARK: Where boot data goes

    @Test("boot data goes above the kernel's highest byte, wherever that is")
    func aboveHighestSegment() throws {
        let kernel = TestImages.placing(TestImages.multiboot1Header(flags: 3), at: 0x80, in: TestImages.elf32(entry: 0x10_0000, segments: [
            Segment(paddr: 0x80_0000, bytes: [1, 2, 3], memsz: 0x1_0001),   // highest byte 0x810000
            Segment(paddr: 0x10_0000, bytes: [0xF4]),
        ]))
        let state = try fixture.boot(kernel)
        let list = UInt64(try fixture.u32(state.rbx + 24))
        for address in [state.rbx, state.gdtBase, UInt64(try fixture.u32(state.rbx + 16)), UInt64(try fixture.u32(state.rbx + 48)),
                        UInt64(try fixture.u32(state.rbx + 64)), list, UInt64(try fixture.u32(list)), UInt64(try fixture.u32(list + 16))] {
            #expect(address >= 0x81_1000, "boot data at \(hex(address)) is not above the kernel")
        }
    }

    @Test("a kernel in conventional memory still gets its boot data at 1 MiB or above")
    func lowKernel() throws {
        let kernel = TestImages.placing(TestImages.multiboot1Header(flags: 3), at: 0x80, in: TestImages.elf32(entry: 0x8000, segments: [
            Segment(paddr: 0x8000, bytes: [0xF4], memsz: 0x1000),
        ]))
        let state = try fixture.boot(kernel)
        let list = UInt64(try fixture.u32(state.rbx + 24))
        for address in [state.rbx, state.gdtBase, UInt64(try fixture.u32(state.rbx + 16)), UInt64(try fixture.u32(state.rbx + 48)),
                        UInt64(try fixture.u32(state.rbx + 64)), list, UInt64(try fixture.u32(list)), UInt64(try fixture.u32(list + 16))] {
            #expect(address >= Layout.highMemoryStart, "boot data at \(hex(address)) is below 1 MiB")
        }
        // Nothing written in 0x500-0x9FBFF besides the kernel itself.
        let low = try fixture.memory.read(at: 0x500, count: 0x9_FC00 - 0x500)
        #expect(low.enumerated().allSatisfy { $0.element == 0 || (0x8000 - 0x500..<0x9000 - 0x500).contains($0.offset) })
    }

    @Test("a missing module is reported with the module's path")
    func missingModule() {
        let path = fixture.directory.path + "/missing.img"
        let error = #expect(throws: BootError.self) {
            try fixture.boot(Self.multiboot1Kernel, modules: [BootModule(path: path)])
        }
        #expect(error?.file == path)
        #expect(error?.problem.hasPrefix("cannot open") == true)
    }

    @Test("kernel and modules that do not fit in RAM are refused, naming memory")
    func doesNotFit() throws {
        let small = try BootFixture(memorySize: 2 << 20)
        let big = try small.directory.file("big.img", [UInt8](repeating: 7, count: 0x9_0000))
        let kernel = TestImages.placing(TestImages.multiboot1Header(flags: 3), at: 0x80, in: TestImages.elf32(entry: 0x10_0000, segments: [
            Segment(paddr: 0x10_0000, bytes: [0xF4], memsz: 0x8_0000),
        ]))
        let error = #expect(throws: BootError.self) { try small.boot(kernel, modules: [BootModule(path: big)]) }
        #expect(error?.file == "/test/kernel")
        #expect(error?.problem == "does not fit: module \(big) (589824 bytes) would end at 0x210000, past the end of low RAM at 0x200000; give the guest more --memory")
    }
}
