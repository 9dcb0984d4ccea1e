#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// Where a UART's transmitted bytes go.
public protocol SerialSink: Sendable {
    func write(_ byte: UInt8)
}

/// Writes every byte to a file descriptor as it is transmitted, unbuffered, so nothing
/// is lost whichever way the run ends. Does not own the descriptor.
public struct FileDescriptorSink: SerialSink {
    public let fd: FileDescriptor

    public init(_ fd: FileDescriptor) { self.fd = fd }

    public func write(_ byte: UInt8) {
        var byte = byte
        while Glibc.write(fd.rawValue, &byte, 1) < 0 && errno == EINTR {}
    }
}

/// Discards output (`--serial none`).
public struct NullSink: SerialSink {
    public init() {}
    public func write(_ byte: UInt8) {}
}
