import CKVM
import SystemPackage
import Synchronization
import SwiftVMMPlatform

/// The KVM subsystem: an open `/dev/kvm`. Creates virtual machines and answers
/// capability questions. (Linux `Documentation/virt/kvm/api.rst` §4, "system ioctls".)
public final class KVM: Sendable {
    let fd: FileDescriptor

    public init(path: String = "/dev/kvm") throws(KVMError) {
        do {
            fd = try FileDescriptor.open(path, .readWrite, options: .closeOnExec)
        } catch {
            throw .open(path: path, (error as? Errno) ?? .noSuchFileOrDirectory)
        }
        // Every stored property is set, so from here a throw runs `deinit`, which closes `fd`.
        let version = try IOCTL.call(fd, "KVM_GET_API_VERSION", CKVM_GET_API_VERSION)
        guard version == KVM_API_VERSION else { throw .apiVersion(version) }
    }

    deinit { try? fd.close() }

    /// `KVM_CHECK_EXTENSION`: 0 when the capability is absent, else its value.
    public func capability(_ capability: Int32) throws(KVMError) -> Int {
        Int(try IOCTL.call(fd, "KVM_CHECK_EXTENSION", CKVM_CHECK_EXTENSION, value: UInt(capability)))
    }

    /// Throws `missingCapability` naming `name` when the capability is absent.
    public func require(_ capability: Int32, _ name: String) throws(KVMError) {
        if try self.capability(capability) == 0 { throw .missingCapability(name) }
    }

    /// What SwiftVMM needs of every host: MSR accesses that exit to userspace
    /// (`KVM_CAP_X86_USER_SPACE_MSR`) and the MSR filter that chooses them
    /// (`KVM_CAP_X86_MSR_FILTER`).
    public func requireUserspaceMSRs() throws(KVMError) {
        try require(KVM_CAP_X86_USER_SPACE_MSR, "KVM_CAP_X86_USER_SPACE_MSR")
        try require(KVM_CAP_X86_MSR_FILTER, "KVM_CAP_X86_MSR_FILTER")
    }

    /// The most vCPUs a VM may have (`KVM_CAP_MAX_VCPUS`).
    public var maxVCPUs: Int { get throws(KVMError) { try capability(KVM_CAP_MAX_VCPUS) } }

    /// The vCPUs KVM recommends at most (`KVM_CAP_NR_VCPUS`, the host's CPUs); 0 unknown.
    public var recommendedVCPUs: Int { get throws(KVMError) { try capability(KVM_CAP_NR_VCPUS) } }

    /// Size of each vCPU's shared `kvm_run` area.
    func vcpuMmapSize() throws(KVMError) -> Int {
        Int(try IOCTL.call(fd, "KVM_GET_VCPU_MMAP_SIZE", CKVM_GET_VCPU_MMAP_SIZE))
    }

    /// `KVM_GET_SUPPORTED_CPUID`: the CPUID leaves this host's KVM can present to a guest.
    /// Asked once per process: the answer describes the host's CPU and KVM module, which do
    /// not change while it runs, and a process that forks many machines (`swiftvmm test`)
    /// would otherwise pay for it on each (about 0.4 ms on kvm_pvm).
    public func supportedCPUID() throws(KVMError) -> [CPUIDEntry] {
        if let known = supportedCPUIDCache.withLock({ $0 }) { return known }
        let entries = try querySupportedCPUID()
        supportedCPUIDCache.withLock { $0 = entries }
        return entries
    }

    private func querySupportedCPUID() throws(KVMError) -> [CPUIDEntry] {
        var capacity = 256
        while true {
            let buffer = CPUIDBuffer(capacity: capacity)
            do {
                try IOCTL.call(fd, "KVM_GET_SUPPORTED_CPUID", CKVM_GET_SUPPORTED_CPUID, pointer: buffer.pointer)
                return buffer.entries
            } catch .ioctl(_, let errno) where errno == .argListTooLong && capacity < 4096 {
                capacity *= 2
            }
        }
    }

    public func createVM() throws(KVMError) -> VirtualMachine {
        let runAreaSize = try vcpuMmapSize()   // before the VM fd exists, so a failure leaks nothing
        let vmfd = try IOCTL.call(fd, "KVM_CREATE_VM", CKVM_CREATE_VM, value: 0)
        return VirtualMachine(fd: FileDescriptor(rawValue: vmfd), runAreaSize: runAreaSize)
    }
}

/// `KVM.supportedCPUID()`'s answer, once asked.
private let supportedCPUIDCache = Mutex<[CPUIDEntry]?>(nil)
