/// MSRs that SwiftVMM answers in userspace (via KVM_CAP_X86_USER_SPACE_MSR and the MSR
/// filter) instead of relying on the host KVM, with why each value is what it is.
struct ModelSpecificRegisters: Sendable {
    /// MSR_PLATFORM_INFO (Intel SDM Vol. 4, Table 2-25 and later): bits 15:8 are the
    /// maximum non-turbo ratio; TSC frequency = ratio × 100 MHz. KVM either #GPs here or
    /// reads a ratio of 0, and kernels (Composite) compute the TSC rate from it.
    static let platformInfo: UInt32 = 0xCE

    /// The MSRs KVM must send to userspace (denied in the filter).
    static let answeredInUserspace: [UInt32] = [platformInfo]

    let tscKHz: UInt32

    /// Ratio = TSC MHz / 100, rounded to nearest.
    var platformInfoValue: UInt64 {
        let ratio = (UInt64(tscKHz) + 50_000) / 100_000
        return (ratio & 0xFF) << 8
    }

    /// RDMSR: the value, or nil for #GP.
    func read(_ index: UInt32) -> UInt64? {
        switch index {
        case Self.platformInfo: platformInfoValue
        default: nil
        }
    }

    /// WRMSR: true when accepted, false for #GP. MSR_PLATFORM_INFO is read-only.
    func write(_ index: UInt32, _ value: UInt64) -> Bool { false }
}
