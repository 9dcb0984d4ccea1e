import SystemPackage

/// Everything that can go wrong talking to `/dev/kvm`, each case naming what failed.
public enum KVMError: Error, CustomStringConvertible, Equatable {
    /// `open("/dev/kvm")` failed.
    case open(path: String, Errno)
    /// An ioctl failed; the first value is the ioctl's name as in `<linux/kvm.h>`.
    case ioctl(String, Errno)
    /// The host KVM lacks a capability SwiftVMM needs.
    case missingCapability(String)
    /// `KVM_GET_API_VERSION` is not the stable API 12.
    case apiVersion(Int32)
    /// `mmap` of a vCPU's `kvm_run` area failed.
    case mapRunArea(Errno)

    public var description: String {
        switch self {
        case .open(let path, let errno): "cannot open \(path): \(errno)"
        case .ioctl(let name, let errno): "\(name) failed: \(errno)"
        case .missingCapability(let name): "the host KVM lacks \(name)"
        case .apiVersion(let version): "KVM API version \(version) is not 12"
        case .mapRunArea(let errno): "mmap of the vCPU run area failed: \(errno)"
        }
    }
}
