import Testing
@testable import SwiftVMM
@testable import SwiftVMMBoot

/// The ISO 9660 reader on images built in memory: names, contents, and corrupt or hostile
/// images, which must end in an error, never a crash, a hang or a read outside the image.
struct ISO9660VolumeTests {
    static let config = Array("menuentry x {\n multiboot2 /boot/kernel.elf\n}\n".utf8)
    static let kernel = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    static let tree: [ISOBuilder.Node] = [
        .directory("boot", [.directory("grub", [.file("grub.cfg", config)]), .file("kernel.elf", kernel)]),
        .file("README.txt", Array("hello".utf8)),
    ]

    func volume(_ image: [UInt8]) throws -> ISO9660Volume { try ISO9660Volume(MemoryImageSource(bytes: image)) }

    func read(_ path: String, in image: [UInt8]) throws -> [UInt8]? {
        let volume = try volume(image)
        return try volume.lookup(path).map { try volume.contents(of: $0, path: path, limit: 1 << 20) }
    }

    @Test(arguments: [true, false])
    func findsFilesByName(rockRidge: Bool) throws {
        let image = ISOBuilder(rockRidge: rockRidge).build(Self.tree).image
        #expect(try volume(image).naming == (rockRidge ? .rockRidge(skip: 0) : .plain))
        #expect(try read("/boot/grub/grub.cfg", in: image) == Self.config)
        #expect(try read("//boot/kernel.elf", in: image) == Self.kernel)
        #expect(try read("/README.txt", in: image) == Array("hello".utf8))
        #expect(try read("/boot/missing", in: image) == nil)
        #expect(try read("/README.txt/x", in: image) == nil)
        // Rock Ridge names are exact; plain ISO 9660 names match whatever the case.
        #expect(try read("/BOOT/GRUB/GRUB.CFG", in: image) == (rockRidge ? nil : Self.config))
        #expect(throws: ImageError("/boot is a directory")) { try read("/boot", in: image) }
    }

    @Test func recognisesAnImage() {
        #expect(ISO9660Volume.holdsVolume(MemoryImageSource(bytes: ISOBuilder().build(Self.tree).image)))
        #expect(!ISO9660Volume.holdsVolume(MemoryImageSource(bytes: [UInt8](repeating: 0, count: 40000))))
        #expect(!ISO9660Volume.holdsVolume(MemoryImageSource(bytes: [])))
    }

    /// Every prefix of an image (in 509-byte steps) gives an error or the right bytes.
    @Test func truncatedImagesEndInAnError() throws {
        let image = ISOBuilder().build(Self.tree).image
        for length in stride(from: 0, to: image.count, by: 509) {
            let prefix = Array(image.prefix(length))
            do {
                let bytes = try read("/boot/kernel.elf", in: prefix)
                #expect(bytes == Self.kernel || bytes == nil, "\(length) bytes")
            } catch is ImageError {
            } catch {
                Issue.record("\(length) bytes: \(error)")
            }
        }
    }

    @Test func extentsAndSizesPastTheEnd() throws {
        let (image, sectors) = ISOBuilder().build(Self.tree)
        let bootRecord = try #require(recordOffset(named: "boot", inDirectoryAt: sectors["/"]!, of: image))
        var corrupt = image
        corrupt.replaceSubrange((bootRecord + 2)..<(bootRecord + 10), with: ISOBuilder.bothEndian32(0x00FF_FFFF))
        #expect(throws: ImageError.self) { try read("/boot/kernel.elf", in: corrupt) }

        corrupt = image
        let kernelRecord = try #require(recordOffset(named: "kernel.elf", inDirectoryAt: sectors["/boot/"]!, of: image))
        corrupt.replaceSubrange((kernelRecord + 10)..<(kernelRecord + 18), with: ISOBuilder.bothEndian32(0xFFFF_FFF0))
        #expect(throws: ImageError.self) { try read("/boot/kernel.elf", in: corrupt) }

        corrupt = image
        corrupt.replaceSubrange((bootRecord + 10)..<(bootRecord + 18), with: ISOBuilder.bothEndian32(0x7FFF_FFFF))
        #expect(throws: ImageError("corrupt ISO 9660 image: a directory of 2147483647 bytes")) { try read("/boot/kernel.elf", in: corrupt) }

        // Filler records up to the end of the root's sector, then one that would cross it.
        corrupt = image
        var position = sectors["/"]! * 2048
        while corrupt[position] != 0 { position += Int(corrupt[position]) }
        let filler = ISOBuilder.record(extent: 0, length: 0, directory: false, identifier: [0x41])
        while position + filler.count < (sectors["/"]! + 1) * 2048 - 10 {
            corrupt.replaceSubrange(position..<(position + filler.count), with: filler)
            position += filler.count
        }
        corrupt[position] = 100
        #expect(throws: ImageError("corrupt ISO 9660 image: a directory record crosses a sector boundary (byte \(position - sectors["/"]! * 2048) of the directory at block \(sectors["/"]!))")) {
            try read("/boot/kernel.elf", in: corrupt)
        }
    }

    /// A Rock Ridge continuation area that points at itself: bounded, then an error.
    @Test func continuationLoopsAreBounded() throws {
        let (image, sectors) = ISOBuilder().build(Self.tree)
        var corrupt = image
        let loopSector = sectors["/README.txt"]!
        // The README's sector becomes a continuation area holding a CE back to itself.
        let ce: [UInt8] = [0x43, 0x45, 28, 1] + ISOBuilder.bothEndian32(UInt32(loopSector)) + ISOBuilder.bothEndian32(0)
            + ISOBuilder.bothEndian32(28)
        corrupt.replaceSubrange((loopSector * 2048)..<(loopSector * 2048 + 28), with: ce)
        // Give "boot" a CE into it, in place of its NM.
        let bootRecord = try #require(recordOffset(named: "boot", inDirectoryAt: sectors["/"]!, of: image))
        let nameStart = bootRecord + 33 + 4 + 1   // "BOOT" and its padding byte
        corrupt.replaceSubrange(nameStart..<(nameStart + 28), with: ce)
        corrupt[bootRecord] = UInt8(33 + 5 + 28 + 1)
        #expect(throws: ImageError("corrupt Rock Ridge entries: more than 16 continuation areas for one name")) {
            try read("/boot/kernel.elf", in: corrupt)
        }
    }

    /// Deterministic random corruption of bytes in the descriptors and directories: every
    /// read either succeeds or throws an `ImageError` that names a problem, and some of the
    /// corruption is noticed.
    @Test func corruptedBytesNeverCrash() throws {
        let image = ISOBuilder().build(Self.tree).image
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func random(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        var refused = 0
        for _ in 0..<3000 {
            var corrupt = image
            for _ in 0..<(1 + random(8)) { corrupt[16 * 2048 + random(5 * 2048)] = UInt8(random(256)) }
            do {
                _ = try read("/boot/grub/grub.cfg", in: corrupt)
            } catch let error as ImageError {
                refused += 1
                #expect(!error.problem.isEmpty)
            } catch {
                Issue.record("not an ImageError: \(error)")
            }
        }
        #expect(refused > 0, "no corruption was noticed")
    }

    /// The byte offset of the record named `name` (by its plain identifier) in a directory.
    func recordOffset(named name: String, inDirectoryAt sector: Int, of image: [UInt8]) -> Int? {
        var position = sector * 2048
        while image[position] != 0 {
            let length = Int(image[position])
            let identifier = image[(position + 33)..<(position + 33 + Int(image[position + 32]))]
            if ISO9660Volume.plainName(identifier).lowercased() == name.lowercased() { return position }
            position += length
        }
        return nil
    }
}
