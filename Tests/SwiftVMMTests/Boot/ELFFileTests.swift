import Testing
@testable import SwiftVMM
@testable import SwiftVMMBoot

@Suite("ELFFile")
struct ELFFileTests {
    typealias Segment = TestImages.Segment

    let text: [UInt8] = Array(0x10...0x4F)   // 64 bytes
    let data: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]

    @Test("ELF32: class, entry and PT_LOAD segments")
    func elf32() throws {
        let bytes = TestImages.elf32(entry: 0x10_0010, segments: [
            Segment(paddr: 0x10_0000, bytes: text),
            Segment(paddr: 0x20_0000, vaddr: 0xC020_0000, bytes: data, memsz: 0x3000),
        ])
        let elf = try ELFFile(bytes)
        #expect(elf.elfClass == .elf32)
        #expect(elf.entry == 0x10_0010)
        #expect(elf.physicalEntry == 0x10_0010)
        #expect(elf.segments == [
            LoadSegment(fileOffset: 0x1000, virtualAddress: 0x10_0000, physicalAddress: 0x10_0000, fileSize: 64, memorySize: 64),
            LoadSegment(fileOffset: 0x1040, virtualAddress: 0xC020_0000, physicalAddress: 0x20_0000, fileSize: 8, memorySize: 0x3000),
        ])
    }

    @Test("ELF64: class, entry and PT_LOAD segments with 64-bit addresses")
    func elf64() throws {
        let bytes = TestImages.elf64(entry: 0x20_0000, segments: [
            Segment(paddr: 0x20_0000, vaddr: 0xFFFF_FFFF_8020_0000, bytes: text, memsz: 0x1_0000),
        ])
        let elf = try ELFFile(bytes)
        #expect(elf.elfClass == .elf64)
        #expect(elf.entry == 0x20_0000)
        #expect(elf.segments == [
            LoadSegment(fileOffset: 0x1000, virtualAddress: 0xFFFF_FFFF_8020_0000, physicalAddress: 0x20_0000,
                        fileSize: 64, memorySize: 0x1_0000),
        ])
    }

    @Test("non-PT_LOAD headers and empty PT_LOAD segments are skipped")
    func skipsOtherSegments() throws {
        let bytes = TestImages.elf32(entry: 0x10_0000, segments: [
            Segment(paddr: 0x30_0000, bytes: data, type: 4),         // PT_NOTE
            Segment(paddr: 0x40_0000, bytes: [], memsz: 0),          // nothing to load
            Segment(paddr: 0x10_0000, bytes: text),
        ])
        let elf = try ELFFile(bytes)
        #expect(elf.segments.map(\.physicalAddress) == [0x10_0000])
    }

    @Test("isELF looks at the magic only")
    func isELF() {
        #expect(ELFFile.isELF([0x7F, 0x45, 0x4C, 0x46, 0]))
        #expect(!ELFFile.isELF([0x7F, 0x45, 0x4C]))
        #expect(!ELFFile.isELF([0x7F, 0x45, 0x4C, 0x47]))
    }

    // MARK: Refusals

    func problem(_ bytes: [UInt8]) -> String? {
        let error = #expect(throws: ImageError.self) { try ELFFile(bytes) }
        return error?.problem
    }

    var valid32: [UInt8] { TestImages.elf32(entry: 0x10_0000, segments: [Segment(paddr: 0x10_0000, bytes: text)]) }
    var valid64: [UInt8] { TestImages.elf64(entry: 0x10_0000, segments: [Segment(paddr: 0x10_0000, bytes: text)]) }

    @Test("bad magic")
    func badMagic() {
        var bytes = valid32
        bytes[1] = 0x46
        #expect(problem(bytes) == "not an ELF file (bad magic)")
        #expect(problem(Array("#!/bin/sh\n".utf8)) == "not an ELF file (bad magic)")
    }

    @Test("big-endian ELF is refused")
    func bigEndian() {
        var bytes = valid64
        bytes[5] = 2   // ELFDATA2MSB
        #expect(problem(bytes) == "ELF file is not little-endian")
    }

    @Test("ET_DYN and ET_REL are not executables")
    func notExecutable() {
        var bytes = valid64
        bytes[16] = 3  // ET_DYN
        #expect(problem(bytes) == "ELF type 3 is not an executable (ET_EXEC)")
        bytes[16] = 1  // ET_REL
        #expect(problem(bytes) == "ELF type 1 is not an executable (ET_EXEC)")
    }

    @Test("unknown ELF class")
    func unknownClass() {
        var bytes = valid32
        bytes[4] = 3
        #expect(problem(bytes) == "unknown ELF class 3")
        bytes[4] = 0
        #expect(problem(bytes) == "unknown ELF class 0")
    }

    @Test("wrong machine")
    func wrongMachine() {
        #expect(problem(TestImages.elf(.elf64, entry: 0x10_0000, segments: [Segment(paddr: 0x10_0000, bytes: text)], machine: 183))
                == "ELF64 machine 183 is not x86-64")
        #expect(problem(TestImages.elf(.elf32, entry: 0x10_0000, segments: [Segment(paddr: 0x10_0000, bytes: text)], machine: 40))
                == "ELF machine 40 is not x86")
    }

    @Test("a file cut inside the ELF header")
    func truncatedHeader() {
        #expect(problem(Array(valid64.prefix(36))) == "truncated: e_phoff at offset 0x20 is past the end of the file (36 bytes)")
        #expect(problem(Array(valid64.prefix(5))) == "truncated: ELF data encoding at offset 0x5 is past the end of the file (5 bytes)")
    }

    @Test("program headers past the end of the file")
    func truncatedProgramHeaders() {
        // ELF32 header is 52 bytes; one program header of 32 bytes follows.
        let problem32 = problem(Array(valid32.prefix(52 + 31)))
        #expect(problem32 == "truncated: the 1 program headers at offset 0x34 run past the end of the file")
        let problem64 = problem(Array(valid64.prefix(64 + 55)))
        #expect(problem64 == "truncated: the 1 program headers at offset 0x40 run past the end of the file")
    }

    @Test("a segment whose bytes run past the end of the file")
    func truncatedSegment() {
        let bytes = Array(valid32.dropLast())   // 64 bytes at 0x1000, file cut to 0x103f
        #expect(problem(bytes) == "truncated: segment 0 (0x40 bytes at offset 0x1000) runs past the end of the file (4159 bytes)")
    }

    @Test("p_filesz larger than p_memsz")
    func fileSizeAboveMemorySize() {
        let bytes = TestImages.elf64(entry: 0x10_0000, segments: [Segment(paddr: 0x10_0000, bytes: text, memsz: 0x20)])
        #expect(problem(bytes) == "segment 0 has p_filesz 0x40 larger than p_memsz 0x20")
    }

    @Test("no PT_LOAD segments")
    func noLoadSegments() {
        let none = TestImages.elf64(entry: 0x10_0000, segments: [])
        #expect(problem(none) == "ELF file has no loadable (PT_LOAD) segments")
        let onlyNote = TestImages.elf32(entry: 0x10_0000, segments: [Segment(paddr: 0x10_0000, bytes: text, type: 4)])
        #expect(problem(onlyNote) == "ELF file has no loadable (PT_LOAD) segments")
    }

    @Test("program header entries smaller than the ELF class's")
    func smallProgramHeaderSize() {
        var bytes = valid32
        bytes[42] = 16  // e_phentsize
        #expect(problem(bytes) == "ELF program header size 16 is too small")
    }

    // MARK: Entry point

    @Test("a high-half ELF64 entry is moved to its physical address")
    func highHalfEntry64() throws {
        let bytes = TestImages.elf64(entry: 0xFFFF_FFFF_8010_0020, segments: [
            Segment(paddr: 0x10_0000, vaddr: 0xFFFF_FFFF_8010_0000, bytes: text, memsz: 0x2000),
        ])
        let elf = try ELFFile(bytes)
        #expect(elf.entry == 0xFFFF_FFFF_8010_0020)
        #expect(elf.physicalEntry == 0x10_0020)
    }

    @Test("a high-half ELF32 entry in the second segment uses that segment's offset")
    func highHalfEntry32() throws {
        let bytes = TestImages.elf32(entry: 0xC040_0008, segments: [
            Segment(paddr: 0x10_0000, vaddr: 0x10_0000, bytes: text),
            Segment(paddr: 0x20_0000, vaddr: 0xC040_0000, bytes: data, memsz: 0x1000),
        ])
        #expect(try ELFFile(bytes).physicalEntry == 0x20_0008)
    }

    @Test("an entry already in a physical range is not moved")
    func physicalEntryKept() throws {
        // Entry 0x100010 is both the physical address in segment 0 and a virtual address
        // in segment 1; the physical range wins.
        let bytes = TestImages.elf32(entry: 0x10_0010, segments: [
            Segment(paddr: 0x10_0000, vaddr: 0x8000_0000, bytes: text),
            Segment(paddr: 0x30_0000, vaddr: 0x10_0000, bytes: data, memsz: 0x1000),
        ])
        #expect(try ELFFile(bytes).physicalEntry == 0x10_0010)
    }

    @Test("an entry in no segment is returned unchanged")
    func entryOutsideSegments() throws {
        let bytes = TestImages.elf32(entry: 0x50_0000, segments: [Segment(paddr: 0x10_0000, bytes: text)])
        #expect(try ELFFile(bytes).physicalEntry == 0x50_0000)
    }
}
