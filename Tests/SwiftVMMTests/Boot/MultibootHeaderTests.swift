import Testing
@testable import SwiftVMM
@testable import SwiftVMMSupport
@testable import SwiftVMMBoot

@Suite("Multiboot1Header")
struct Multiboot1HeaderTests {
    func image(_ header: [UInt8], at offset: Int, size: Int = 16 * 1024) -> [UInt8] {
        TestImages.placing(header, at: offset, in: [UInt8](repeating: 0, count: size))
    }

    func problem(_ bytes: [UInt8]) -> String? {
        let error = #expect(throws: ImageError.self) { try Multiboot1Header.find(in: bytes) }
        return error?.problem
    }

    @Test("found at offset 0 with its flags")
    func atStart() throws {
        let header = try #require(try Multiboot1Header.find(in: image(TestImages.multiboot1Header(flags: 3), at: 0)))
        #expect(header == Multiboot1Header(offset: 0, flags: [.pageAlignModules, .memoryInformation], addresses: nil))
    }

    @Test("found at any 4-byte-aligned offset inside the first 8 KiB", arguments: [4, 0x40, 0x1000, 8192 - 12])
    func alignedInside(offset: Int) throws {
        let header = try Multiboot1Header.find(in: image(TestImages.multiboot1Header(flags: 0), at: offset))
        #expect(header?.offset == UInt64(offset))
    }

    @Test("not found past the first 8 KiB", arguments: [8192, 8196, 12288])
    func beyondLimit(offset: Int) throws {
        #expect(try Multiboot1Header.find(in: image(TestImages.multiboot1Header(flags: 0), at: offset)) == nil)
    }

    @Test("not found when it starts inside the first 8 KiB but does not end there", arguments: [8184, 8188])
    func straddlesLimit(offset: Int) throws {
        // §3.1.1: "must be contained completely within the first 8192 bytes".
        #expect(try Multiboot1Header.find(in: image(TestImages.multiboot1Header(flags: 0), at: offset)) == nil)
    }

    @Test("not found at an offset that is not 4-byte aligned", arguments: [1, 2, 6, 0x101])
    func unaligned(offset: Int) throws {
        #expect(try Multiboot1Header.find(in: image(TestImages.multiboot1Header(flags: 0), at: offset)) == nil)
    }

    @Test("no header in a file shorter than the search window")
    func shortFile() throws {
        #expect(try Multiboot1Header.find(in: [1, 2, 3]) == nil)
        #expect(try Multiboot1Header.find(in: []) == nil)
    }

    @Test("bad checksum names the checksum and the offset")
    func badChecksum() {
        let bytes = image(TestImages.multiboot1Header(flags: 3, checksum: 0x1234_5678), at: 0x20)
        #expect(problem(bytes) == "bad multiboot 1 header checksum at offset 0x20 (magic + flags + checksum must be 0)")
    }

    @Test("required flag bits SwiftVMM does not know are refused", arguments: [
        (UInt32(1 << 3), "0x8"), (UInt32(1 << 15), "0x8000"), (UInt32(0x0003_0010), "0x10"),
    ])
    func unsupportedRequiredFlags(flags: UInt32, bits: String) {
        let bytes = image(TestImages.multiboot1Header(flags: flags), at: 0)
        #expect(problem(bytes) == "multiboot 1 header requires unsupported features (flags bits \(bits))")
    }

    @Test("required video mode (bit 2) is refused: SwiftVMM gives no video mode information")
    func videoModeRequired() {
        // §3.1.2: bits 0-15 are requirements; a boot loader that cannot fulfil one must
        // fail. SwiftVMM's information structure has no vbe_* or framebuffer_* fields
        // (flags bits 11 and 12 are never set), so it cannot honour bit 2.
        let bytes = image(TestImages.multiboot1Header(flags: 1 << 2 | 3), at: 0)
        #expect(problem(bytes) == "multiboot 1 header requires unsupported features (flags bits 0x4)")
    }

    @Test("optional flag bits 16-31 other than the address fields are ignored")
    func optionalFlagsIgnored() throws {
        let bytes = image(TestImages.multiboot1Header(flags: 0x8000_0003), at: 0)
        let header = try #require(try Multiboot1Header.find(in: bytes))
        #expect(header.addresses == nil)
        #expect(header.flags.contains(.memoryInformation))
    }

    @Test("address fields are read when flag 16 is set")
    func addressFields() throws {
        let fields = Multiboot1Header.AddressFields(headerAddress: 0x10_0040, loadAddress: 0x10_0000,
                                                    loadEndAddress: 0x10_2000, bssEndAddress: 0x10_5000, entryAddress: 0x10_0080)
        let bytes = image(TestImages.multiboot1Header(flags: 1 << 16 | 2, addresses: fields), at: 0x40)
        let header = try #require(try Multiboot1Header.find(in: bytes))
        #expect(header.offset == 0x40)
        #expect(header.flags == [.addressFields, .memoryInformation])
        #expect(header.addresses == fields)
    }

    @Test("address fields are ignored when flag 16 is clear")
    func addressFieldsWithoutFlag() throws {
        let fields = Multiboot1Header.AddressFields(headerAddress: 1, loadAddress: 2, loadEndAddress: 3, bssEndAddress: 4, entryAddress: 5)
        let bytes = image(TestImages.multiboot1Header(flags: 0, addresses: fields), at: 0)
        #expect(try Multiboot1Header.find(in: bytes)?.addresses == nil)
    }
}

@Suite("Multiboot2Header")
struct Multiboot2HeaderTests {
    typealias Tag = TestImages.Tag

    func image(_ header: [UInt8], at offset: Int = 0, size: Int = 40 * 1024) -> [UInt8] {
        TestImages.placing(header, at: offset, in: [UInt8](repeating: 0, count: size))
    }

    func problem(_ bytes: [UInt8]) -> String? {
        let error = #expect(throws: ImageError.self) { try Multiboot2Header.find(in: bytes) }
        return error?.problem
    }

    @Test("found at offset 0 with only an end tag")
    func minimal() throws {
        let header = try #require(try Multiboot2Header.find(in: image(TestImages.multiboot2Header(tags: []))))
        #expect(header == Multiboot2Header(offset: 0, headerLength: 24, addresses: nil, entryAddress: nil))
    }

    @Test("found at any 8-byte-aligned offset inside the first 32 KiB", arguments: [8, 0x100, 0x4000, 32768 - 24])
    func alignedInside(offset: Int) throws {
        let header = try Multiboot2Header.find(in: image(TestImages.multiboot2Header(tags: []), at: offset))
        #expect(header?.offset == UInt64(offset))
    }

    @Test("not found past the first 32 KiB", arguments: [32768, 32776, 36864])
    func beyondLimit(offset: Int) throws {
        #expect(try Multiboot2Header.find(in: image(TestImages.multiboot2Header(tags: []), at: offset)) == nil)
    }

    @Test("not found when it starts inside the first 32 KiB but does not end there", arguments: [32752, 32760])
    func straddlesLimit(offset: Int) throws {
        // §3.1.1: "must be contained completely within the first 32768 bytes".
        #expect(try Multiboot2Header.find(in: image(TestImages.multiboot2Header(tags: []), at: offset)) == nil)
    }

    @Test("not found at a 4- but not 8-byte-aligned offset", arguments: [4, 12, 0x104])
    func unaligned(offset: Int) throws {
        #expect(try Multiboot2Header.find(in: image(TestImages.multiboot2Header(tags: []), at: offset)) == nil)
    }

    @Test("a multiboot 1 header is not a multiboot 2 header")
    func ignoresMultiboot1() throws {
        #expect(try Multiboot2Header.find(in: image(TestImages.multiboot1Header(flags: 0))) == nil)
    }

    @Test("bad checksum names the checksum")
    func badChecksum() {
        let bytes = image(TestImages.multiboot2Header(tags: [], checksum: 7), at: 0x18)
        #expect(problem(bytes) == "bad multiboot 2 header checksum at offset 0x18 (magic + architecture + header_length + checksum must be 0)")
    }

    @Test("architecture other than i386 (MIPS is 4)")
    func wrongArchitecture() {
        #expect(problem(image(TestImages.multiboot2Header(tags: [], architecture: 4)))
                == "multiboot 2 header is for architecture 4, not i386 (0)")
    }

    @Test("header_length below 24 or past the end of the file")
    func badLength() {
        // A 16-byte header with header_length 16 and a correct checksum.
        var header = ByteBuffer()
        header.append(Multiboot2Header.magic)
        header.append(UInt32(0))
        header.append(UInt32(16))
        header.append(0 &- Multiboot2Header.magic &- 16)
        #expect(problem(image(header.bytes))?.contains("header_length 16 at offset 0x0 is too small") == true)

        let full = TestImages.multiboot2Header(tags: [Tag(type: 4, payload: [0, 0, 0, 0])])
        #expect(problem(Array(full.dropLast(8)))?.contains("runs past the end of the file") == true)
    }

    @Test("missing end tag")
    func missingEndTag() {
        let bytes = image(TestImages.multiboot2Header(tags: [Tag(type: 4, payload: [0, 0, 0, 0])], endTag: false))
        #expect(problem(bytes) == "multiboot 2 header has no end tag")
    }

    @Test("a tag whose size is below 8 or runs past header_length", arguments: [UInt32(4), 0, 200])
    func badTagSize(size: UInt32) {
        let bytes = image(TestImages.multiboot2Header(tags: [Tag(type: 4, payload: [0, 0, 0, 0], size: size)]))
        #expect(problem(bytes) == "multiboot 2 header tag type 4 at offset 0x10 has a bad size \(size)")
    }

    @Test("a required framebuffer tag is refused, naming the tag")
    func requiredFramebuffer() {
        let bytes = image(TestImages.multiboot2Header(tags: [Tag.framebuffer(flags: 0)]))
        #expect(problem(bytes) == "multiboot 2 header requires tag type 5 (framebuffer), which SwiftVMM does not support")
    }

    @Test("an optional framebuffer tag is accepted")
    func optionalFramebuffer() throws {
        let bytes = image(TestImages.multiboot2Header(tags: [Tag.framebuffer(flags: Tag.optional), Tag.entry(0x10_0000)]))
        let header = try #require(try Multiboot2Header.find(in: bytes))
        #expect(header.entryAddress == 0x10_0000)
    }

    @Test("a required EFI boot services tag and an unknown tag are refused")
    func otherUnsupportedTags() {
        #expect(problem(image(TestImages.multiboot2Header(tags: [Tag(type: 7)])))
                == "multiboot 2 header requires tag type 7 (efiBootServices), which SwiftVMM does not support")
        #expect(problem(image(TestImages.multiboot2Header(tags: [Tag(type: 42)])))
                == "multiboot 2 header requires tag type 42 (unknown), which SwiftVMM does not support")
    }

    @Test("an optional unknown tag is skipped")
    func optionalUnknownTag() throws {
        let bytes = image(TestImages.multiboot2Header(tags: [Tag(type: 42, flags: Tag.optional, payload: [1, 2, 3]), Tag.entry(0x20_0000)]))
        #expect(try Multiboot2Header.find(in: bytes)?.entryAddress == 0x20_0000)
    }

    @Test("tags SwiftVMM satisfies anyway are accepted when required")
    func satisfiedTags() throws {
        // console flags (4), module alignment (6), EFI i386/amd64 entry (8, 9), relocatable (10).
        let tags = [Tag(type: 4, payload: [3, 0, 0, 0]), Tag(type: 6), Tag(type: 8, payload: [0, 0, 0x10, 0]),
                    Tag(type: 9, payload: [0, 0, 0x10, 0]), Tag(type: 10, payload: [UInt8](repeating: 0, count: 16))]
        #expect(try Multiboot2Header.find(in: image(TestImages.multiboot2Header(tags: tags))) != nil)
    }

    @Test("a required information request SwiftVMM provides is accepted")
    func providedInformation() throws {
        let bytes = image(TestImages.multiboot2Header(tags: [Tag.informationRequest([1, 2, 3, 4, 6, 14, 15])]))
        #expect(try Multiboot2Header.find(in: bytes) != nil)
    }

    @Test("a required information request for framebuffer info is refused, naming it")
    func requiredFramebufferInformation() {
        let bytes = image(TestImages.multiboot2Header(tags: [Tag.informationRequest([1, 6, 8])]))
        #expect(problem(bytes) == "multiboot 2 header requires information tag 8 (framebuffer info), which SwiftVMM does not provide")
    }

    @Test("a required information request for an unknown tag is refused")
    func requiredUnknownInformation() {
        let bytes = image(TestImages.multiboot2Header(tags: [Tag.informationRequest([99])]))
        #expect(problem(bytes) == "multiboot 2 header requires information tag 99 (unknown), which SwiftVMM does not provide")
    }

    @Test("an optional information request for unsupported tags is accepted")
    func optionalInformation() throws {
        let bytes = image(TestImages.multiboot2Header(tags: [Tag.informationRequest([5, 7, 8, 9, 17], flags: Tag.optional)]))
        #expect(try Multiboot2Header.find(in: bytes) != nil)
    }

    @Test("address and entry address tags are parsed")
    func addressAndEntry() throws {
        let bytes = image(TestImages.multiboot2Header(tags: [
            Tag.address(header: 0x10_0010, load: 0x10_0000, loadEnd: 0x10_3000, bssEnd: 0x10_8000),
            Tag.entry(0x10_0040),
        ]), at: 0x10)
        let header = try #require(try Multiboot2Header.find(in: bytes))
        #expect(header.offset == 0x10)
        #expect(header.headerLength == 16 + 24 + 16 + 8)
        #expect(header.addresses == Multiboot1Header.AddressFields(headerAddress: 0x10_0010, loadAddress: 0x10_0000,
                                                                  loadEndAddress: 0x10_3000, bssEndAddress: 0x10_8000, entryAddress: 0))
        #expect(header.entryAddress == 0x10_0040)
    }

    @Test("too-short address and entry tags are refused")
    func shortAddressTags() {
        #expect(problem(image(TestImages.multiboot2Header(tags: [Tag(type: 2, payload: [0, 0, 0, 0, 0, 0, 0, 0])])))
                == "multiboot 2 address tag is too short (16 bytes)")
        #expect(problem(image(TestImages.multiboot2Header(tags: [Tag(type: 3)])))
                == "multiboot 2 entry address tag is too short (8 bytes)")
    }

    @Test("tags after a tag with unpadded size start at the next 8-byte boundary")
    func tagPadding() throws {
        // Console flags tag of size 12, padded to 16: the entry tag follows at +16.
        let bytes = image(TestImages.multiboot2Header(tags: [Tag(type: 4, payload: [1, 0, 0, 0]), Tag.entry(0x30_0000)]))
        #expect(try Multiboot2Header.find(in: bytes)?.entryAddress == 0x30_0000)
    }
}
