import Testing
@testable import SwiftVMM
@testable import SwiftVMMSupport
@testable import SwiftVMMPlatform
@testable import SwiftVMMMemory
@testable import SwiftVMMBoot

@Suite("KernelLoader")
struct KernelLoaderTests {
    typealias Segment = TestImages.Segment
    typealias Tag = TestImages.Tag

    let memory: GuestMemory

    init() throws {
        memory = try GuestMemory(layout: RAMLayout(size: 64 << 20))
    }

    /// `count` bytes that differ from their neighbours and from zero.
    static func pattern(_ count: Int, seed: UInt8 = 1) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed)) | 1 }
    }

    /// A multiboot 1 ELF32 kernel: header (flags 3) at file offset 0x80, then `segments`.
    static func multiboot1ELF(entry: UInt64, segments: [Segment]) -> [UInt8] {
        TestImages.placing(TestImages.multiboot1Header(flags: 3), at: 0x80, in: TestImages.elf32(entry: entry, segments: segments))
    }

    func load(_ bytes: [UInt8], as requested: BootProtocol? = nil, path: String = "kernel.elf") throws(BootError) -> LoadedKernel {
        try KernelLoader.load(KernelImage(path: path, bytes: bytes), as: requested, into: memory)
    }

    /// The BootError for loading `bytes`, checking that it names the file.
    func refusal(_ bytes: [UInt8], as requested: BootProtocol? = nil, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        let error = #expect(throws: BootError.self, sourceLocation: sourceLocation) { try load(bytes, as: requested, path: "/boot/kernel") }
        #expect(error?.file == "/boot/kernel", sourceLocation: sourceLocation)
        return error?.problem
    }

    // MARK: ELF loading

    @Test("ELF segments are copied to p_paddr and their BSS zeroed")
    func elfSegments() throws {
        let text = Self.pattern(0x1234), data = Self.pattern(0x100, seed: 9)
        // Dirty the BSS areas first (an unaligned start and end, several pages).
        try memory.write([UInt8](repeating: 0xAA, count: 0x8000), at: 0x10_0000)
        try memory.write([UInt8](repeating: 0xAA, count: 0x8000), at: 0x40_0000)
        let bytes = Self.multiboot1ELF(entry: 0x10_0010, segments: [
            Segment(paddr: 0x10_0000, vaddr: 0xC010_0000, bytes: text, memsz: 0x5123),
            Segment(paddr: 0x40_0100, bytes: data, memsz: 0x10_0),
        ])
        let loaded = try load(bytes)
        #expect(loaded == LoadedKernel(bootProtocol: .multiboot1, entry: 0x10_0010,
                                       ranges: [0x10_0000..<0x10_5123, 0x40_0100..<0x40_0200]))
        #expect(loaded.end == 0x40_0200)
        #expect(try memory.read(at: 0x10_0000, count: text.count) == text)
        #expect(try memory.read(at: 0x10_1234, count: 0x5123 - 0x1234) == [UInt8](repeating: 0, count: 0x5123 - 0x1234))
        #expect(try memory.read(at: 0x10_5123, count: 0x2EDD) == [UInt8](repeating: 0xAA, count: 0x2EDD))
        #expect(try memory.read(at: 0x40_0000, count: 0x100) == [UInt8](repeating: 0xAA, count: 0x100))
        #expect(try memory.read(at: 0x40_0100, count: 0x100) == data)
        #expect(try memory.read(UInt8.self, at: 0x40_0200) == 0xAA)
    }

    @Test("a plain ELF64 kernel with a high-half entry is entered at its physical address")
    func elf64() throws {
        let text = Self.pattern(0x800)
        let bytes = TestImages.elf64(entry: 0xFFFF_FFFF_8020_0100, segments: [
            Segment(paddr: 0x20_0000, vaddr: 0xFFFF_FFFF_8020_0000, bytes: text, memsz: 0x3000),
        ])
        let loaded = try load(bytes)
        #expect(loaded == LoadedKernel(bootProtocol: .elf64, entry: 0x20_0100, ranges: [0x20_0000..<0x20_3000]))
        #expect(try memory.read(at: 0x20_0000, count: text.count) == text)
    }

    // MARK: a.out kludge

    /// A non-ELF image of `size` pattern bytes with a multiboot 1 header (flags 16) at `headerOffset`.
    func kludgeImage(headerOffset: Int, fields: Multiboot1Header.AddressFields, size: Int = 0x3000) -> [UInt8] {
        TestImages.placing(TestImages.multiboot1Header(flags: 1 << 16, addresses: fields), at: headerOffset, in: Self.pattern(size))
    }

    @Test("a.out kludge: load_addr..load_end_addr from the file, zeros to bss_end_addr")
    func aoutKludge() throws {
        try memory.write([UInt8](repeating: 0xAA, count: 0x8000), at: 0x20_0000)
        let fields = Multiboot1Header.AddressFields(headerAddress: 0x20_0040, loadAddress: 0x20_0000,
                                                    loadEndAddress: 0x20_2000, bssEndAddress: 0x20_5000, entryAddress: 0x20_0100)
        let bytes = kludgeImage(headerOffset: 0x40, fields: fields)
        let loaded = try load(bytes)
        #expect(loaded == LoadedKernel(bootProtocol: .multiboot1, entry: 0x20_0100, ranges: [0x20_0000..<0x20_5000]))
        #expect(try memory.read(at: 0x20_0000, count: 0x2000) == Array(bytes[0..<0x2000]))
        #expect(try memory.read(at: 0x20_2000, count: 0x3000) == [UInt8](repeating: 0, count: 0x3000))
        #expect(try memory.read(UInt8.self, at: 0x20_5000) == 0xAA)
    }

    @Test("a.out kludge: the file offset is header offset - (header_addr - load_addr)")
    func aoutKludgeOffset() throws {
        // Header at file offset 0x140, 0x40 bytes into the loaded image: loading starts at 0x100.
        let fields = Multiboot1Header.AddressFields(headerAddress: 0x30_0040, loadAddress: 0x30_0000,
                                                    loadEndAddress: 0x30_1000, bssEndAddress: 0, entryAddress: 0x30_0000)
        let bytes = kludgeImage(headerOffset: 0x140, fields: fields)
        let loaded = try load(bytes)
        #expect(loaded.ranges == [0x30_0000..<0x30_1000])
        #expect(try memory.read(at: 0x30_0000, count: 0x1000) == Array(bytes[0x100..<0x1100]))
    }

    @Test("a.out kludge: load_end_addr 0 loads the rest of the file, bss_end_addr 0 adds no BSS")
    func aoutKludgeWholeFile() throws {
        let fields = Multiboot1Header.AddressFields(headerAddress: 0x20_0020, loadAddress: 0x20_0000,
                                                    loadEndAddress: 0, bssEndAddress: 0, entryAddress: 0x20_0000)
        let bytes = kludgeImage(headerOffset: 0x20, fields: fields, size: 0x2345)
        let loaded = try load(bytes)
        #expect(loaded.ranges == [0x20_0000..<0x20_2345])
        #expect(try memory.read(at: 0x20_0000, count: 0x2345) == bytes)
    }

    @Test("a.out kludge takes precedence over the ELF program headers")
    func aoutKludgeOverELF() throws {
        let elf = TestImages.elf32(entry: 0x10_0000, segments: [Segment(paddr: 0x10_0000, bytes: Self.pattern(0x100))])
        let fields = Multiboot1Header.AddressFields(headerAddress: 0x50_0080, loadAddress: 0x50_0000,
                                                    loadEndAddress: 0x50_1000, bssEndAddress: 0x50_2000, entryAddress: 0x50_0000)
        let bytes = TestImages.placing(TestImages.multiboot1Header(flags: 1 << 16, addresses: fields), at: 0x80, in: elf)
        let loaded = try load(bytes)
        #expect(loaded == LoadedKernel(bootProtocol: .multiboot1, entry: 0x50_0000, ranges: [0x50_0000..<0x50_2000]))
        #expect(try memory.read(UInt32.self, at: 0x10_0000) == 0)
    }

    @Test("a.out kludge refusals name the inconsistent field")
    func aoutKludgeRefusals() {
        func fields(header: UInt32 = 0x20_0040, load: UInt32 = 0x20_0000, loadEnd: UInt32 = 0, bssEnd: UInt32 = 0) -> Multiboot1Header.AddressFields {
            .init(headerAddress: header, loadAddress: load, loadEndAddress: loadEnd, bssEndAddress: bssEnd, entryAddress: 0x20_0000)
        }
        #expect(refusal(kludgeImage(headerOffset: 0x40, fields: fields(load: 0x20_0080)))
                == "load_addr 0x200080 is above header_addr 0x200040")
        #expect(refusal(kludgeImage(headerOffset: 0x40, fields: fields(header: 0x20_0100)))
                == "header_addr - load_addr (0x100) is larger than the header's file offset 0x40")
        #expect(refusal(kludgeImage(headerOffset: 0x40, fields: fields(loadEnd: 0x20_4000)))
                == "truncated: load_end_addr asks for 0x4000 bytes from offset 0x0 but the file has 0x3000")
        #expect(refusal(kludgeImage(headerOffset: 0x40, fields: fields(loadEnd: 0x1F_0000)))
                == "load_end_addr 0x1f0000 is below load_addr 0x200000")
        #expect(refusal(kludgeImage(headerOffset: 0x40, fields: fields(loadEnd: 0x20_2000, bssEnd: 0x20_1000)))
                == "bss_end_addr 0x201000 is below load_end_addr")
    }

    @Test("multiboot 2 address tag with load_addr -1 loads from the start of the file")
    func multiboot2AddressTag() throws {
        let header = TestImages.multiboot2Header(tags: [
            Tag.address(header: 0x20_0010, load: 0xFFFF_FFFF, loadEnd: 0, bssEnd: 0x20_4000),
            Tag.entry(0x20_0100),
        ])
        let bytes = TestImages.placing(header, at: 0x10, in: Self.pattern(0x2000))
        let loaded = try load(bytes)
        #expect(loaded == LoadedKernel(bootProtocol: .multiboot2, entry: 0x20_0100, ranges: [0x20_0000..<0x20_4000]))
        #expect(try memory.read(at: 0x20_0000, count: 0x2000) == bytes)
    }

    @Test("a multiboot 2 address tag takes precedence over the ELF program headers")
    func multiboot2AddressTagOverELF() throws {
        let elf = TestImages.elf32(entry: 0x10_0000, segments: [Segment(paddr: 0x10_0000, bytes: Self.pattern(0x100))])
        let header = TestImages.multiboot2Header(tags: [
            Tag.address(header: 0x60_0100, load: 0x60_0000, loadEnd: 0x60_1000, bssEnd: 0),
            Tag.entry(0x60_0010),
        ])
        let bytes = TestImages.placing(header, at: 0x100, in: elf)
        let loaded = try load(bytes)
        #expect(loaded == LoadedKernel(bootProtocol: .multiboot2, entry: 0x60_0010, ranges: [0x60_0000..<0x60_1000]))
        #expect(try memory.read(at: 0x60_0000, count: 0x1000) == Array(bytes[0..<0x1000]))
    }

    @Test("multiboot 2 ELF kernel without address tags uses the ELF segments and entry")
    func multiboot2ELF() throws {
        let elf = TestImages.elf32(entry: 0xC010_0004, segments: [Segment(paddr: 0x10_0000, vaddr: 0xC010_0000, bytes: Self.pattern(0x100))])
        let bytes = TestImages.placing(TestImages.multiboot2Header(tags: []), at: 0x100, in: elf)
        #expect(try load(bytes) == LoadedKernel(bootProtocol: .multiboot2, entry: 0x10_0004, ranges: [0x10_0000..<0x10_0100]))
    }

    /// The shape of guests/hihalf-smp: only the END tag; a low identity-linked segment
    /// holding the 32-bit entry, and the kernel linked at 0xFFFFFFFF80000000 + physical.
    @Test("multiboot 2 higher-half ELF64 kernel with only the END tag loads at p_paddr")
    func multiboot2HigherHalfELF64() throws {
        let low = Segment(paddr: 0x10_0000, vaddr: 0x10_0000, bytes: Self.pattern(0x200))
        let high = Segment(paddr: 0x10_1000, vaddr: 0xFFFF_FFFF_8010_1000, bytes: Self.pattern(0x300, seed: 9), memsz: 0x2000)
        let elf = TestImages.elf64(entry: 0x10_0018, segments: [low, high])
        let bytes = TestImages.placing(TestImages.multiboot2Header(tags: []), at: 0x100, in: elf)
        let loaded = try load(bytes)
        #expect(loaded == LoadedKernel(bootProtocol: .multiboot2, entry: 0x10_0018,
                                       ranges: [0x10_0000..<0x10_0200, 0x10_1000..<0x10_3000]))
        #expect(try memory.read(at: 0x10_1000, count: 0x300) == high.bytes)
        #expect(try memory.read(at: 0x10_1300, count: 0x1D00) == [UInt8](repeating: 0, count: 0x1D00))
    }

    @Test("multiboot 2 non-ELF image without address or entry tags")
    func multiboot2NotELF() {
        let noAddress = TestImages.placing(TestImages.multiboot2Header(tags: [Tag.entry(0x20_0000)]), at: 0, in: Self.pattern(0x1000))
        #expect(refusal(noAddress) == "multiboot 2 image is not ELF and has no address tag")
        let noEntry = TestImages.placing(TestImages.multiboot2Header(tags: [
            Tag.address(header: 0x20_0000, load: 0x20_0000, loadEnd: 0, bssEnd: 0),
        ]), at: 0, in: Self.pattern(0x1000))
        #expect(refusal(noEntry) == "multiboot 2 image is not ELF and has no entry address tag")
    }

    // MARK: Protocol detection

    var plainELF32: [UInt8] { TestImages.elf32(entry: 0x10_0000, segments: [Segment(paddr: 0x10_0000, bytes: Self.pattern(0x100))]) }
    var plainELF64: [UInt8] { TestImages.elf64(entry: 0x10_0000, segments: [Segment(paddr: 0x10_0000, bytes: Self.pattern(0x100))]) }
    let mb1 = TestImages.multiboot1Header(flags: 0)
    let mb2 = TestImages.multiboot2Header(tags: [])

    @Test("multiboot 2 is chosen before multiboot 1, multiboot 1 before ELF64")
    func detectionOrder() throws {
        let both = TestImages.placing(mb2, at: 0x100, in: TestImages.placing(mb1, at: 0x80, in: plainELF64))
        #expect(try KernelImage(path: "k", bytes: both).detectProtocol() == .multiboot2)
        #expect(try load(both).bootProtocol == .multiboot2)

        let bothELF32 = TestImages.placing(mb2, at: 0x100, in: TestImages.placing(mb1, at: 0x60, in: plainELF32))
        #expect(try KernelImage(path: "k", bytes: bothELF32).detectProtocol() == .multiboot2)

        let mb1ELF64 = TestImages.placing(mb1, at: 0x80, in: plainELF64)
        #expect(try KernelImage(path: "k", bytes: mb1ELF64).detectProtocol() == .multiboot1)
        #expect(try load(mb1ELF64).bootProtocol == .multiboot1)

        #expect(try KernelImage(path: "k", bytes: plainELF64).detectProtocol() == .elf64)
        #expect(try KernelImage(path: "k", bytes: plainELF32).detectProtocol() == nil)
    }

    @Test("ELF32 without a multiboot header is refused")
    func elf32WithoutHeader() {
        #expect(refusal(plainELF32) == "ELF32 image without a multiboot header (use multiboot 1 or 2, or a 64-bit ELF)")
    }

    @Test("a file that is neither ELF nor multiboot is refused")
    func notBootable() {
        #expect(refusal(Self.pattern(0x1000)) == "not a bootable image: no multiboot 1 or 2 header and not an ELF64 file")
    }

    @Test("a requested protocol the image lacks is refused")
    func requestedProtocolMissing() {
        #expect(refusal(plainELF64, as: .multiboot1) == "no multiboot 1 header in the first 8192 bytes")
        #expect(refusal(plainELF64, as: .multiboot2) == "no multiboot 2 header in the first 32768 bytes")
        #expect(refusal(TestImages.placing(mb1, at: 0x80, in: plainELF32), as: .elf64) == "not a 64-bit ELF file")
    }

    @Test("a requested protocol overrides detection")
    func requestedProtocol() throws {
        let image = TestImages.placing(mb1, at: 0x80, in: plainELF64)
        #expect(try load(image, as: .elf64).bootProtocol == .elf64)
    }

    @Test("a broken multiboot header found during detection is reported")
    func brokenHeaderDuringDetection() {
        let bad = TestImages.placing(TestImages.multiboot1Header(flags: 0, checksum: 1), at: 0x80, in: plainELF64)
        #expect(refusal(bad)?.contains("bad multiboot 1 header checksum") == true)
    }

    // MARK: Placement refusals

    @Test("a segment outside RAM does not fit")
    func outsideRAM() {
        let bytes = Self.multiboot1ELF(entry: 0x800_0000, segments: [Segment(paddr: 0x800_0000, bytes: Self.pattern(0x100), memsz: 0x1000)])
        #expect(refusal(bytes) == "segment 0 (0x8000000-0x8001000) does not fit in the guest's 64 MiB of RAM")
    }

    @Test("a segment that straddles the end of RAM does not fit")
    func straddlesEndOfRAM() {
        let bytes = Self.multiboot1ELF(entry: 0x3FF_F000, segments: [Segment(paddr: 0x3FF_F000, bytes: Self.pattern(0x100), memsz: 0x2000)])
        #expect(refusal(bytes) == "segment 0 (0x3fff000-0x4001000) does not fit in the guest's 64 MiB of RAM")
    }

    @Test("a segment above 4 GiB with no high RAM does not fit")
    func aboveFourGiB() {
        let bytes = TestImages.elf64(entry: 0x1_0000_0000, segments: [Segment(paddr: 0x1_0000_0000, bytes: Self.pattern(0x100))])
        #expect(refusal(bytes) == "segment 0 (0x100000000-0x100000100) does not fit in the guest's 64 MiB of RAM")
    }

    @Test("a segment in the device window is refused")
    func deviceWindow() {
        let bytes = Self.multiboot1ELF(entry: 0xFEC0_0000, segments: [Segment(paddr: 0xFEC0_0000, bytes: Self.pattern(0x100))])
        #expect(refusal(bytes) == "segment 0 (0xfec00000-0xfec00100) overlaps the device window 0xc0000000-0x100000000")
    }

    @Test("a segment over the ACPI area 0xE0000-0xFFFFF is refused", arguments: [
        (UInt64(0xE_0000), UInt64(0x100)), (0xF_FFFF, 1), (0xD_F000, 0x2000), (0xF_F000, 0x2000),
    ])
    func acpiArea(paddr: UInt64, size: UInt64) {
        let bytes = Self.multiboot1ELF(entry: paddr, segments: [Segment(paddr: paddr, bytes: [0x90], memsz: size)])
        #expect(refusal(bytes) == "segment 0 (\(hex(paddr))-\(hex(paddr + size))) overlaps the firmware area 0xe0000-0x100000 where the ACPI tables live")
    }

    @Test("segments just outside the ACPI area are accepted")
    func nextToACPIArea() throws {
        let bytes = Self.multiboot1ELF(entry: 0xD_F000, segments: [
            Segment(paddr: 0xD_F000, bytes: [0x90], memsz: 0x1000),
            Segment(paddr: 0x10_0000, bytes: [0x90], memsz: 0x1000),
        ])
        #expect(try load(bytes).ranges == [0xD_F000..<0xE_0000, 0x10_0000..<0x10_1000])
    }

    @Test("overlapping segments are refused before anything is written")
    func overlappingSegments() throws {
        let bytes = Self.multiboot1ELF(entry: 0x10_0000, segments: [
            Segment(paddr: 0x10_0000, bytes: Self.pattern(0x100), memsz: 0x2000),
            Segment(paddr: 0x10_1000, bytes: Self.pattern(0x100), memsz: 0x1000),
        ])
        #expect(refusal(bytes) == "segment 1 (0x101000-0x102000) overlaps segment 0 (0x100000-0x102000)")
        #expect(try memory.read(at: 0x10_0000, count: 0x100) == [UInt8](repeating: 0, count: 0x100))
    }

    @Test("an entry point outside every segment is refused")
    func entryOutsideImage() {
        let bytes = Self.multiboot1ELF(entry: 0x30_0000, segments: [Segment(paddr: 0x10_0000, bytes: Self.pattern(0x100), memsz: 0x1000)])
        #expect(refusal(bytes) == "entry point 0x300000 is outside the loaded image")
        // The first byte past the segment is outside too.
        let justPast = Self.multiboot1ELF(entry: 0x10_1000, segments: [Segment(paddr: 0x10_0000, bytes: Self.pattern(0x100), memsz: 0x1000)])
        #expect(refusal(justPast) == "entry point 0x101000 is outside the loaded image")
    }

    @Test("an entry in the BSS is inside the image")
    func entryInBSS() throws {
        let bytes = Self.multiboot1ELF(entry: 0x10_0FFF, segments: [Segment(paddr: 0x10_0000, bytes: Self.pattern(0x100), memsz: 0x1000)])
        #expect(try load(bytes).entry == 0x10_0FFF)
    }

    @Test("a multiboot entry above 4 GiB is refused (with RAM there)")
    func entryAbove4GiB() throws {
        let big = try GuestMemory(layout: RAMLayout(size: 4 << 30))
        let elf = TestImages.elf(.elf64, entry: 0x1_0000_0000, segments: [Segment(paddr: 0x1_0000_0000, bytes: Self.pattern(0x100))])
        let bytes = TestImages.placing(TestImages.multiboot1Header(flags: 0), at: 0x80, in: elf)
        let error = #expect(throws: BootError.self) {
            try KernelLoader.load(KernelImage(path: "hi", bytes: bytes), as: nil, into: big)
        }
        #expect(error?.problem == "entry point 0x100000000 is above 4 GiB, unreachable from 32-bit protected mode")
        // The same image as a plain ELF64 kernel is fine, and lands in the RAM above 4 GiB.
        #expect(try KernelLoader.load(KernelImage(path: "hi", bytes: bytes), as: .elf64, into: big).entry == 0x1_0000_0000)
        #expect(try big.read(at: 0x1_0000_0000, count: 0x100) == Self.pattern(0x100))
        #expect(try big.read(at: 0xBFFF_FF00, count: 0x100) == [UInt8](repeating: 0, count: 0x100))
    }

    // MARK: Kernel files

    @Test("KernelImage reads a whole file")
    func readsFile() throws {
        let directory = TemporaryDirectory()
        let contents = Self.pattern(10_000)
        let path = try directory.file("kernel", contents)
        let image = try KernelImage(path: path)
        #expect(image.path == path)
        #expect(image.bytes == contents)
    }

    @Test("a missing kernel file")
    func missingFile() {
        let directory = TemporaryDirectory()
        let path = directory.path + "/no-such-kernel"
        let error = #expect(throws: BootError.self) { try KernelImage(path: path) }
        #expect(error?.file == path)
        #expect(error?.problem.hasPrefix("cannot open: ") == true)
        #expect(error?.problem.contains("No such file or directory") == true)
        #expect(error?.description == "\(path): \(error?.problem ?? "")")
    }

    @Test("a directory is not a kernel")
    func directory() {
        let directory = TemporaryDirectory()
        let error = #expect(throws: BootError.self) { try KernelImage(path: directory.path) }
        #expect(error == BootError(file: directory.path, problem: "is a directory"))
    }

    @Test("an empty kernel file")
    func emptyFile() throws {
        let directory = TemporaryDirectory()
        let path = try directory.file("empty", [])
        let error = #expect(throws: BootError.self) { try KernelImage(path: path) }
        #expect(error == BootError(file: path, problem: "is empty (0 bytes)"))
    }

    @Test("a character device is not a regular file")
    func notRegular() {
        let error = #expect(throws: BootError.self) { try KernelImage(path: "/dev/null") }
        #expect(error == BootError(file: "/dev/null", problem: "is not a regular file"))
    }
}
