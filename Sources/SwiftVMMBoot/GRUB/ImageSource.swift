import SystemPackage
import SwiftVMMSupport

/// Random access to the bytes of a disc image. A GRUB rescue ISO is mostly GRUB's own
/// modules (about 10 MB) around a small kernel, so only the sectors a lookup needs are read.
protocol ImageSource {
    /// The image's size in bytes.
    var size: UInt64 { get }
    /// `count` bytes from `offset`; the range must lie inside the image.
    func read(at offset: UInt64, count: Int) throws(ImageError) -> [UInt8]
}

extension ImageSource {
    /// Checks that `count` bytes at `offset` lie inside the image, naming `what` otherwise.
    func check(_ offset: UInt64, _ count: UInt64, _ what: @autoclosure () -> String) throws(ImageError) {
        let (end, overflow) = offset.addingReportingOverflow(count)
        guard !overflow, end <= size else {
            throw ImageError("truncated or corrupt: \(what()) (\(count) bytes at offset \(hex(offset))) runs past the end of the image (\(size) bytes)")
        }
    }
}

/// An image file, read with pread as sectors are needed.
final class FileImageSource: ImageSource {
    let size: UInt64
    private let descriptor: FileDescriptor

    init(path: String) throws(BootError) {
        do {
            descriptor = try FileDescriptor.open(path, .readOnly, options: .closeOnExec)
        } catch {
            throw BootError(file: path, problem: "cannot open: \(error)")
        }
        do {
            size = UInt64(try descriptor.seek(offset: 0, from: .end))
        } catch {
            try? descriptor.close()
            throw BootError(file: path, problem: "cannot read: \(error)")
        }
    }

    deinit { try? descriptor.close() }

    func read(at offset: UInt64, count: Int) throws(ImageError) -> [UInt8] {
        try check(offset, UInt64(count), "a read")
        var bytes = [UInt8](repeating: 0, count: count)
        do {
            // SAFETY: `bytes` is a local array of `count` bytes owned only by this call; pread(2) writes
            // at most the buffer's count, and the pointer does not escape the closure.
            let got = try bytes.withUnsafeMutableBytes { try descriptor.read(fromAbsoluteOffset: Int64(offset), into: $0) }
            guard got == count else { throw ImageError("short read: \(got) of \(count) bytes at offset \(hex(offset))") }
        } catch let error as ImageError {
            throw error
        } catch {
            throw ImageError("cannot read at offset \(hex(offset)): \(error)")
        }
        return bytes
    }
}

/// An image already in memory (tests, the fuzzer).
struct MemoryImageSource: ImageSource {
    let bytes: [UInt8]
    var size: UInt64 { UInt64(bytes.count) }

    func read(at offset: UInt64, count: Int) throws(ImageError) -> [UInt8] {
        try check(offset, UInt64(count), "a read")
        return Array(bytes[Int(offset)..<Int(offset) + count])
    }
}
