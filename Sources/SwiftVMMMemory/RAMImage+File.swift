#if canImport(Glibc)
import Glibc
#endif
import SystemPackage
import SwiftVMMPlatform

/// RAM images as files: a sparse file the size of RAM with the image's data pages at their
/// offsets and holes elsewhere, so a file on disk is as small as the RAM the guest used and
/// a machine restored from it maps it copy-on-write, reading only the pages it touches.
extension RAMImage {
    /// Writes the image to a new file at `path` (replacing one that is there).
    public func write(to path: FilePath) throws(GuestMemoryError) {
        let file: FileDescriptor
        do {
            file = try FileDescriptor.open(path, .writeOnly, options: [.create, .truncate, .closeOnExec], permissions: [.ownerReadWrite])
        } catch {
            throw .cannotSave(path: path.string, error as? Errno ?? .ioError)
        }
        defer { try? file.close() }
        guard ftruncate(file.rawValue, off_t(layout.size)) == 0 else { throw .cannotSave(path: path.string, Errno(rawValue: errno)) }
        var buffer = [UInt8](repeating: 0, count: 256 * GuestMemory.pageSize)
        var page = 0
        let pageCount = dataPages.words.count * 64
        while page < pageCount {
            guard dataPages[page] else { page += 1; continue }
            var end = page
            while end < pageCount, dataPages[end], end - page < 256 { end += 1 }
            let offset = Int64(page * GuestMemory.pageSize), length = (end - page) * GuestMemory.pageSize
            do {
                // SAFETY: `buffer` is a local array of 256 pages and `length` at most that;
                // pread and pwrite touch only [0, length), and the pointer stays in the closure.
                try buffer.withUnsafeMutableBytes { whole in
                    let chunk = UnsafeMutableRawBufferPointer(rebasing: whole[..<length])
                    guard try descriptor.read(fromAbsoluteOffset: offset, into: chunk) == length,
                          try file.write(toAbsoluteOffset: offset, UnsafeRawBufferPointer(chunk)) == length else { throw Errno.ioError }
                }
            } catch {
                throw .cannotSave(path: path.string, error as? Errno ?? .ioError)
            }
            page = end
        }
        guard fsync(file.rawValue) == 0 else { throw .cannotSave(path: path.string, Errno(rawValue: errno)) }
    }

    /// The image a file written by `write(to:)` holds, for RAM of `layout`. Its data pages
    /// are where the file has data (`SEEK_DATA`, `SEEK_HOLE`). The file is mapped, not
    /// copied: it must not change while machines run from it.
    public convenience init(file path: FilePath, layout: RAMLayout) throws(GuestMemoryError) {
        let file: FileDescriptor
        do { file = try FileDescriptor.open(path, .readOnly, options: .closeOnExec) } catch {
            throw .cannotLoad(path: path.string, "\(error)")
        }
        var status = stat()
        guard fstat(file.rawValue, &status) == 0, status.st_size == off_t(layout.size) else {
            try? file.close()
            throw .cannotLoad(path: path.string, "it holds \(status.st_size) bytes, not the \(layout.size) of the snapshot's RAM")
        }
        let pageCount = Int((layout.size + UInt64(GuestMemory.pageSize) - 1) / UInt64(GuestMemory.pageSize))
        var pages = PageSet(pageCount: pageCount)
        var offset: off_t = 0
        while offset < off_t(layout.size) {
            let data = lseek(file.rawValue, offset, Self.seekData)
            guard data >= 0 else { break }   // ENXIO: no data after offset
            let hole = max(lseek(file.rawValue, data, Self.seekHole), data + 1)
            for page in Int(data) / GuestMemory.pageSize..<min(pageCount, (Int(hole) + GuestMemory.pageSize - 1) / GuestMemory.pageSize) { pages[page] = true }
            offset = hole
        }
        self.init(layout: layout, descriptor: file, dataPages: pages)
    }

    /// lseek(2)'s SEEK_DATA and SEEK_HOLE (Linux 3.1; Glibc declares them only under
    /// _GNU_SOURCE, so Swift does not see them).
    static let seekData: Int32 = 3, seekHole: Int32 = 4
}
