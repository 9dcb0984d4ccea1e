import CKVM
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The one place SwiftVMM calls ioctl(2). Every KVM wrapper goes through these three
/// functions, which turn a -1 into `KVMError.ioctl(name, errno)`.
enum IOCTL {
    @discardableResult
    static func call(_ fd: FileDescriptor, _ name: String, _ request: UInt) throws(KVMError) -> Int32 {
        let result = ckvm_ioctl_none(fd.rawValue, request)
        guard result >= 0 else { throw .ioctl(name, Errno(rawValue: errno)) }
        return result
    }

    @discardableResult
    static func call(_ fd: FileDescriptor, _ name: String, _ request: UInt, value: UInt) throws(KVMError) -> Int32 {
        let result = ckvm_ioctl_value(fd.rawValue, request, value)
        guard result >= 0 else { throw .ioctl(name, Errno(rawValue: errno)) }
        return result
    }

    @discardableResult
    static func call(_ fd: FileDescriptor, _ name: String, _ request: UInt,
                     pointer: UnsafeMutableRawPointer) throws(KVMError) -> Int32 {
        let result = ckvm_ioctl_pointer(fd.rawValue, request, pointer)
        guard result >= 0 else { throw .ioctl(name, Errno(rawValue: errno)) }
        return result
    }

    /// `ioctl` with a pointer to a Swift value, which is passed in and read back.
    @discardableResult
    static func call<T>(_ fd: FileDescriptor, _ name: String, _ request: UInt, _ value: inout T) throws(KVMError) -> Int32 {
        // SAFETY: `value` is a plain C struct imported from <linux/kvm.h>; the kernel reads or
        // writes exactly sizeof(T) bytes of it for this request.
        let result = withUnsafeMutableBytes(of: &value) { ckvm_ioctl_pointer(fd.rawValue, request, $0.baseAddress) }
        guard result >= 0 else { throw .ioctl(name, Errno(rawValue: errno)) }
        return result
    }
}
