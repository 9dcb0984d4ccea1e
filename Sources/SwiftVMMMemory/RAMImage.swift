#if canImport(Glibc)
import Glibc
#endif
import CHostMemory
import SystemPackage
import SwiftVMMPlatform

/// Guest RAM frozen at a snapshot: a sealed memfd holding every page that was not zero,
/// with holes (which read as zeros) everywhere else. Machines forked from it map it
/// copy-on-write (`GuestMemory(forking:)`), so any number of forks share every page none
/// of them writes, and a fork costs page-table work, not copying. The seals make it
/// read-only for every process: a fork's writes stay in its own private pages.
public final class RAMImage: Sendable {
    public let layout: RAMLayout
    /// The memfd, sealed against writes, growing and shrinking.
    let descriptor: FileDescriptor
    /// The pages that hold data; every other page is a hole.
    let dataPages: PageSet

    /// How many 4 KiB pages hold data (the image's memory cost).
    public var dataPageCount: Int { dataPages.count }

    init(layout: RAMLayout, descriptor: FileDescriptor, dataPages: PageSet) {
        self.layout = layout
        self.descriptor = descriptor
        self.dataPages = dataPages
    }

    deinit { try? descriptor.close() }

    /// A new, empty image file of `size` bytes, still writable.
    static func createFile(size: UInt64) throws(GuestMemoryError) -> FileDescriptor {
        let fd = chost_memfd_create("swiftvmm-ram-image")
        guard fd >= 0 else { throw .cannotCapture(Errno(rawValue: errno)) }
        let descriptor = FileDescriptor(rawValue: fd)
        guard ftruncate(fd, off_t(size)) == 0 else {
            let error = Errno(rawValue: errno)
            try? descriptor.close()
            throw .cannotCapture(error)
        }
        return descriptor
    }

    /// Seals a filled image file.
    static func seal(_ descriptor: FileDescriptor) throws(GuestMemoryError) {
        guard chost_seal_read_only(descriptor.rawValue) == 0 else { throw .cannotCapture(Errno(rawValue: errno)) }
    }
}

/// A set of 4 KiB page numbers, one bit each.
struct PageSet: Sendable, Equatable {
    private(set) var words: [UInt64]

    init(pageCount: Int) { words = Array(repeating: 0, count: (pageCount + 63) / 64) }

    subscript(page: Int) -> Bool {
        get { words[page >> 6] & (1 << UInt64(page & 63)) != 0 }
        set {
            if newValue { words[page >> 6] |= 1 << UInt64(page & 63) } else { words[page >> 6] &= ~(1 << UInt64(page & 63)) }
        }
    }

    var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// Adds every page of `other` (a set over as many pages).
    mutating func formUnion(_ other: PageSet) {
        for index in words.indices { words[index] |= other.words[index] }
    }
}
