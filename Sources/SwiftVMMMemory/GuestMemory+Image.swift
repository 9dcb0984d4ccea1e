#if canImport(Glibc)
import Glibc
#endif
import SystemPackage
import SwiftVMMPlatform

/// Snapshots of guest RAM (`capture()`) and machines forked from them (`init(forking:)`).
extension GuestMemory {
    static let pageSize = 4096

    /// Guest RAM that starts as `image` and is copy-on-write: pages the guest writes
    /// become private to this memory; the others stay shared with the image and with every
    /// other memory forked from it.
    public convenience init(forking image: RAMImage) throws(GuestMemoryError) {
        let mapping = mmap(nil, Int(image.layout.size), PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_NORESERVE, image.descriptor.rawValue, 0)
        guard let mapping, mapping != MAP_FAILED else {
            throw .cannotMap(size: image.layout.size, Errno(rawValue: errno))
        }
        self.init(layout: image.layout, mapping: mapping, image: image)
    }

    /// A copy of RAM as it is now: every page that is not all zeros, in a new sealed
    /// memfd. Only pages this process ever mapped are read (the kernel's page map says
    /// which; for a forked memory, also the pages its image holds), so a large guest that
    /// touched little is captured quickly. Whoever can write guest RAM (vCPUs, devices)
    /// must be stopped first: pages are copied one run at a time.
    public func capture() throws(GuestMemoryError) -> RAMImage {
        let pageCount = Int((layout.size + UInt64(Self.pageSize) - 1) / UInt64(Self.pageSize))
        var candidates = try mappedPages(count: pageCount)
        if let image { candidates.formUnion(image.dataPages) }
        let descriptor = try RAMImage.createFile(size: layout.size)
        do throws(GuestMemoryError) {
            var data = PageSet(pageCount: pageCount)
            var runStart: Int?
            for page in 0...pageCount {
                let holdsData = page < pageCount && candidates[page] && !isZero(page: page)
                if holdsData {
                    data[page] = true
                    if runStart == nil { runStart = page }
                } else if let start = runStart {
                    try copy(pages: start..<page, to: descriptor)
                    runStart = nil
                }
            }
            try RAMImage.seal(descriptor)
            return RAMImage(layout: layout, descriptor: descriptor, dataPages: data)
        } catch {
            try? descriptor.close()
            throw error
        }
    }

    /// The pages of the mapping that the kernel's page map shows present or swapped out
    /// (proc(5), /proc/pid/pagemap: bit 63 present, bit 62 swapped). A page never touched
    /// is neither, and reads as zeros (or as the image's page, for a fork).
    private func mappedPages(count: Int) throws(GuestMemoryError) -> PageSet {
        var pages = PageSet(pageCount: count)
        let pagemap: FileDescriptor
        do { pagemap = try FileDescriptor.open("/proc/self/pagemap", .readOnly, options: .closeOnExec) } catch {
            throw .cannotCapture(error as? Errno ?? .ioError)
        }
        defer { try? pagemap.close() }
        let firstEntry = Int(bitPattern: base) / Self.pageSize
        let chunk = 8192
        var entries = [UInt64](repeating: 0, count: chunk)
        var page = 0
        while page < count {
            let n = min(chunk, count - page)
            let read: Int
            do {
                read = try entries.withUnsafeMutableBytes { buffer in
                    try pagemap.read(fromAbsoluteOffset: Int64((firstEntry + page) * 8),
                                     into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<(n * 8)]))
                }
            } catch {
                throw .cannotCapture(error as? Errno ?? .ioError)
            }
            guard read == n * 8 else { throw .cannotCapture(.ioError) }
            for index in 0..<n where entries[index] >> 62 != 0 { pages[page + index] = true }
            page += n
        }
        return pages
    }

    /// Whether page `page` of the mapping reads as all zeros.
    private func isZero(page: Int) -> Bool {
        let offset = page * Self.pageSize
        let length = min(Self.pageSize, Int(layout.size) - offset)
        // SAFETY: [offset, offset + length) is inside the mapping of layout.size bytes.
        let bytes = UnsafeRawBufferPointer(start: base + offset, count: length)
        guard length == Self.pageSize else { return bytes.allSatisfy { $0 == 0 } }
        // Eight bytes at a time: the mapping is page-aligned, so every load is aligned.
        return stride(from: 0, to: length, by: 8).allSatisfy { bytes.load(fromByteOffset: $0, as: UInt64.self) == 0 }
    }

    /// Writes `pages` of the mapping into the image file at the same offset.
    private func copy(pages: Range<Int>, to descriptor: FileDescriptor) throws(GuestMemoryError) {
        let offset = pages.lowerBound * Self.pageSize
        let length = min(pages.count * Self.pageSize, Int(layout.size) - offset)
        // SAFETY: [offset, offset + length) is inside the mapping of layout.size bytes.
        let bytes = UnsafeRawBufferPointer(start: base + offset, count: length)
        do {
            _ = try descriptor.writeAll(toAbsoluteOffset: Int64(offset), bytes)
        } catch {
            throw .cannotCapture(error as? Errno ?? .ioError)
        }
    }
}
