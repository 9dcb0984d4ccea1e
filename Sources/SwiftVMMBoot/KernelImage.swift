#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// How a kernel wants to be started.
public enum BootProtocol: String, CaseIterable, Sendable {
    /// Multiboot 1: 32-bit protected mode, EAX = 0x2BADB002, EBX = information structure.
    case multiboot1 = "mb1"
    /// Multiboot 2: 32-bit protected mode, EAX = 0x36D76289, EBX = information structure.
    case multiboot2 = "mb2"
    /// A plain ELF64 image: 64-bit long mode, RDI = multiboot 2 information, RSI = 0x36D76289.
    case elf64
}

/// A kernel (or module) file read into memory.
public struct KernelImage: Sendable {
    public let path: String
    public let bytes: [UInt8]

    /// Reads a whole file, refusing what cannot be a boot image: missing, a directory,
    /// empty, unreadable.
    public init(path: String) throws(BootError) {
        self.path = path
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw BootError(file: path, problem: "cannot open: \(Errno(rawValue: errno))")
        }
        guard info.st_mode & S_IFMT != S_IFDIR else { throw BootError(file: path, problem: "is a directory") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw BootError(file: path, problem: "is not a regular file") }
        guard info.st_size > 0 else { throw BootError(file: path, problem: "is empty (0 bytes)") }
        do {
            let fd = try FileDescriptor.open(path, .readOnly, options: .closeOnExec)
            defer { try? fd.close() }
            var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
            // SAFETY: `bytes` is a local array sized to st_size, owned only by this call; read(2) writes
            // at most the buffer's count, and the pointer does not escape the closure.
            let count = try bytes.withUnsafeMutableBytes { try fd.read(into: $0) }
            guard count == bytes.count else { throw Errno.ioError }
            self.bytes = bytes
        } catch {
            throw BootError(file: path, problem: "cannot read: \(error)")
        }
    }

    public init(path: String, bytes: [UInt8]) {
        self.path = path
        self.bytes = bytes
    }

    /// Which protocol the image asks for (multiboot 2 header first, then multiboot 1,
    /// then a plain ELF64), or nil.
    func detectProtocol() throws(ImageError) -> BootProtocol? {
        if try Multiboot2Header.find(in: bytes) != nil { return .multiboot2 }
        if try Multiboot1Header.find(in: bytes) != nil { return .multiboot1 }
        if ELFFile.isELF(bytes), (try? ELFFile(bytes))?.elfClass == .elf64 { return .elf64 }
        return nil
    }
}
