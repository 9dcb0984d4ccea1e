import SystemPackage
import SwiftVMMKVM
import SwiftVMMMemory

/// A failure of the host or of SwiftVMM itself, not of the guest (exit status 10).
public enum HostError: Error, CustomStringConvertible, Equatable {
    case kvm(KVMError)
    case memory(GuestMemoryError)
    case thread(String, Int32)
    case configuration(String)
    case io(String, Errno)

    public var description: String {
        switch self {
        case .kvm(let error): "\(error)"
        case .memory(let error): "\(error)"
        case .thread(let name, let code): "cannot start thread \(name): \(Errno(rawValue: code))"
        case .configuration(let message): message
        case .io(let what, let errno): "\(what): \(errno)"
        }
    }
}
