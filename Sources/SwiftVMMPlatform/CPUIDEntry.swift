/// One CPUID leaf/subleaf: what the guest reads for EAX = `function`, ECX = `index`
/// (`flags`: KVM_CPUID_FLAG_SIGNIFCANT_INDEX where the subleaf matters; SwiftVMMKVM/CPUIDBuffer.swift
/// converts to and from KVM's `struct kvm_cpuid_entry2`).
public struct CPUIDEntry: Equatable, Sendable, Codable {
    public var function: UInt32
    public var index: UInt32
    public var flags: UInt32
    public var eax: UInt32
    public var ebx: UInt32
    public var ecx: UInt32
    public var edx: UInt32

    public init(function: UInt32, index: UInt32 = 0, flags: UInt32 = 0,
                eax: UInt32 = 0, ebx: UInt32 = 0, ecx: UInt32 = 0, edx: UInt32 = 0) {
        self.function = function; self.index = index; self.flags = flags
        self.eax = eax; self.ebx = ebx; self.ecx = ecx; self.edx = edx
    }
}
