#if canImport(Glibc)
import Glibc
#endif
import SystemPackage
import Testing
@testable import SwiftVMMMemory
import SwiftVMMPlatform

/// Snapshot images of guest RAM and the copy-on-write memories forked from them.
@Suite("RAMImage")
struct RAMImageTests {
    static let page: UInt64 = 4096

    /// 64 MiB with three pages of data, one page written with zeros and one read.
    func memoryWithData() throws -> GuestMemory {
        let memory = try GuestMemory(layout: RAMLayout(size: 64 << 20))
        try memory.write(UInt64(0x1111), at: 0x1000)
        try memory.write([UInt8](repeating: 0xAB, count: 4096), at: 0x20_0000)
        try memory.write(UInt32(0x3333), at: (64 << 20) - 4)
        try memory.write([UInt8](repeating: 0, count: 4096), at: 0x30_0000)
        _ = try memory.read(UInt64.self, at: 0x40_0000)
        return memory
    }

    @Test("an image holds the pages with data and nothing else")
    func imageHoldsOnlyData() throws {
        let image = try memoryWithData().capture()
        #expect(image.dataPageCount == 3)
        let fork = try GuestMemory(forking: image)
        #expect(try fork.read(UInt64.self, at: 0x1000) == 0x1111)
        #expect(try fork.read(at: 0x20_0000, count: 4096).allSatisfy { $0 == 0xAB })
        #expect(try fork.read(UInt32.self, at: (64 << 20) - 4) == 0x3333)
        #expect(try fork.read(UInt64.self, at: 0x30_0000) == 0)
        #expect(try fork.read(UInt64.self, at: 0x2000) == 0)
    }

    @Test("forks share the image but not each other's writes, nor the original's")
    func forksAreIsolated() throws {
        let original = try memoryWithData()
        let image = try original.capture()
        let a = try GuestMemory(forking: image), b = try GuestMemory(forking: image)
        try a.write(UInt64(0xAAAA), at: 0x1000)
        try a.write(UInt64(0xA0A0), at: 0x50_0000)
        try original.write(UInt64(0x0202), at: 0x1000)
        #expect(try a.read(UInt64.self, at: 0x1000) == 0xAAAA)
        #expect(try b.read(UInt64.self, at: 0x1000) == 0x1111)
        #expect(try b.read(UInt64.self, at: 0x50_0000) == 0)
        #expect(try GuestMemory(forking: image).read(UInt64.self, at: 0x1000) == 0x1111)
        #expect(try original.read(UInt64.self, at: 0x50_0000) == 0)
    }

    @Test("zeroing pages in a fork reads zeros, not the image's pages")
    func zeroInAFork() throws {
        let image = try memoryWithData().capture()
        let fork = try GuestMemory(forking: image)
        try fork.zero(count: 3 * 4096, at: 0x1F_F800)   // the 0xAB page, whole, and parts of its neighbours
        #expect(try fork.read(at: 0x1F_F800, count: 3 * 4096).allSatisfy { $0 == 0 })
        #expect(try GuestMemory(forking: image).read(at: 0x20_0000, count: 4096).allSatisfy { $0 == 0xAB })
        // A snapshot of the fork leaves the zeroed page out.
        #expect(try fork.capture().dataPageCount == 2)
    }

    @Test("a snapshot of a fork holds the image's pages it never touched and its own writes")
    func captureOfAFork() throws {
        let image = try memoryWithData().capture()
        let fork = try GuestMemory(forking: image)
        try fork.write(UInt8(7), at: 0x60_0000)
        let second = try fork.capture()
        #expect(second.dataPageCount == 4)
        let grandchild = try GuestMemory(forking: second)
        #expect(try grandchild.read(UInt64.self, at: 0x1000) == 0x1111)
        #expect(try grandchild.read(at: 0x20_0000, count: 4096).allSatisfy { $0 == 0xAB })
        #expect(try grandchild.read(UInt8.self, at: 0x60_0000) == 7)
        #expect(grandchild.image === second)
    }

    @Test("an image is sealed: its file cannot be written, grown or shrunk")
    func imageIsSealed() throws {
        let image = try memoryWithData().capture()
        #expect(throws: Errno.notPermitted) {
            try image.descriptor.writeAll(toAbsoluteOffset: 0x1000, [UInt8(1)])
        }
        #expect(ftruncate(image.descriptor.rawValue, 0) != 0 && errno == EPERM)
        #expect(try GuestMemory(forking: image).read(UInt64.self, at: 0x1000) == 0x1111)
    }

    @Test("a large guest that touched little is captured sparsely")
    func largeSparseGuest() throws {
        let memory = try GuestMemory(layout: RAMLayout(size: 8 << 30))   // across the 3 GiB hole
        try memory.write(UInt64(1), at: 0x1000)
        try memory.write(UInt64(2), at: Layout.highRAMStart + (4 << 30))
        let image = try memory.capture()
        #expect(image.dataPageCount == 2)
        let fork = try GuestMemory(forking: image)
        #expect(try fork.read(UInt64.self, at: Layout.highRAMStart + (4 << 30)) == 2)
    }
}
