/// Whether the guest may run its own hypervisor: hardware virtualization (Intel VMX or AMD
/// SVM) is advertised only when the host KVM offers it for nesting, which it does by
/// listing the feature in KVM_GET_SUPPORTED_CPUID (kvm_intel/kvm_amd with `nested=1`).
public enum NestedVirtualization: Equatable, Sendable {
    case none
    /// Intel VMX: CPUID.1:ECX[5]; VMXON needs IA32_FEATURE_CONTROL locked with bit 2 set
    /// (Intel SDM Vol. 3C §24.7, "Enabling and Entering VMX Operation").
    case vmx
    /// AMD SVM: CPUID.80000001h:ECX[2] (AMD APM Vol. 2 §15.4).
    case svm

    /// What the host KVM offers.
    package static func offered(by supported: [CPUIDEntry]) -> NestedVirtualization {
        if supported.contains(where: { $0.function == 1 && $0.ecx & CPUIDTable.vmxBit != 0 }) { return .vmx }
        if supported.contains(where: { $0.function == 0x8000_0001 && $0.ecx & CPUIDTable.svmBit != 0 }) { return .svm }
        return .none
    }
}
