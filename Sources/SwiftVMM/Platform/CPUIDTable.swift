/// The CPUID a vCPU sees: what the host KVM supports, with this vCPU's APIC ID and the
/// machine's topology filled in (Intel SDM Vol. 2A, CPUID instruction reference).
enum CPUIDTable {
    static func entries(for apicID: Int, cpuCount: Int, supported: [CPUIDEntry]) -> [CPUIDEntry] {
        supported.map { entry in
            var entry = entry
            switch entry.function {
            case 1:
                // EBX[31:24] initial APIC ID, EBX[23:16] logical processors per package.
                entry.ebx = entry.ebx & 0x0000_FFFF | UInt32(apicID) << 24 | UInt32(min(cpuCount, 255)) << 16
                // EDX bit 28 HTT: the logical-processor count field is valid.
                entry.edx |= 1 << 28
                // ECX bit 31: running under a hypervisor.
                entry.ecx |= 1 << 31
            case 0xB, 0x1F:
                // Extended topology: EDX is the x2APIC ID on every subleaf.
                entry.edx = UInt32(apicID)
            default:
                break
            }
            return entry
        }
    }
}
