import SwiftVMMSupport

/// The CPUID a vCPU sees (Intel SDM Vol. 2A, "CPUID"; AMD APM Vol. 3, "CPUID"): what the
/// host KVM supports (`KVM_GET_SUPPORTED_CPUID`), made consistent with what SwiftVMM
/// emulates — one package of N single-thread cores with APIC IDs 0…N-1, the userspace
/// APIC's x2APIC and TSC-deadline support, and the TSC and APIC timer rates in every
/// leaf that reports them.
public struct CPUIDTable: Sendable {
    public enum Vendor: String, Sendable, CaseIterable {
        case host, intel, amd

        var signature: (ebx: UInt32, edx: UInt32, ecx: UInt32)? {
            switch self {
            case .host: nil
            case .intel: ("Genu".littleEndianWord, "ineI".littleEndianWord, "ntel".littleEndianWord)
            case .amd: ("Auth".littleEndianWord, "enti".littleEndianWord, "cAMD".littleEndianWord)
            }
        }
    }

    /// A feature bit `--cpu-features` can turn on or off by name.
    public struct Feature: Sendable {
        public var leaf: UInt32
        public var subleaf: UInt32 = 0
        public var register: Register
        public var bit: UInt32
        public enum Register: Sendable { case eax, ebx, ecx, edx }
    }

    public static let features: [String: Feature] = [
        "fpu": Feature(leaf: 1, register: .edx, bit: 0),
        "tsc": Feature(leaf: 1, register: .edx, bit: 4),
        "msr": Feature(leaf: 1, register: .edx, bit: 5),
        "pae": Feature(leaf: 1, register: .edx, bit: 6),
        "apic": Feature(leaf: 1, register: .edx, bit: 9),
        "pge": Feature(leaf: 1, register: .edx, bit: 13),
        "sse": Feature(leaf: 1, register: .edx, bit: 25),
        "sse2": Feature(leaf: 1, register: .edx, bit: 26),
        "sse3": Feature(leaf: 1, register: .ecx, bit: 0),
        "ssse3": Feature(leaf: 1, register: .ecx, bit: 9),
        "pcid": Feature(leaf: 1, register: .ecx, bit: 17),
        "sse4.1": Feature(leaf: 1, register: .ecx, bit: 19),
        "sse4.2": Feature(leaf: 1, register: .ecx, bit: 20),
        "x2apic": Feature(leaf: 1, register: .ecx, bit: 21),
        "popcnt": Feature(leaf: 1, register: .ecx, bit: 23),
        "tsc-deadline": Feature(leaf: 1, register: .ecx, bit: 24),
        "xsave": Feature(leaf: 1, register: .ecx, bit: 26),
        "avx": Feature(leaf: 1, register: .ecx, bit: 28),
        "hypervisor": Feature(leaf: 1, register: .ecx, bit: 31),
        "fsgsbase": Feature(leaf: 7, register: .ebx, bit: 0),
        "arch-capabilities": Feature(leaf: 7, register: .edx, bit: 29),
        "invtsc": Feature(leaf: 0x8000_0007, register: .edx, bit: 8),
        "nx": Feature(leaf: 0x8000_0001, register: .edx, bit: 20),
        "pdpe1gb": Feature(leaf: 0x8000_0001, register: .edx, bit: 26),
        "rdtscp": Feature(leaf: 0x8000_0001, register: .edx, bit: 27),
        "lm": Feature(leaf: 0x8000_0001, register: .edx, bit: 29),
    ]

    public let cpuCount: Int
    public let tscKHz: UInt32
    public let vendor: Vendor
    /// Features to set (true) or clear (false), applied last; names `features` does not
    /// know are left out. Not kept as the `[String: Bool]` given: a table holding one makes
    /// the runtime scan every conformance record (`String: Hashable`) when it is destroyed.
    let featureChanges: [(feature: Feature, on: Bool)]
    /// VMX or SVM stays advertised (when KVM supports it) only for nested virtualization.
    public let nested: NestedVirtualization
    let supported: [CPUIDEntry]

    static let vmxBit: UInt32 = 1 << 5, svmBit: UInt32 = 1 << 2

    /// The hypervisor leaves (Intel SDM Vol. 3C / Linux's hypervisor CPUID interface).
    static let hypervisorSignature = "SwiftVMM\0\0\0\0"
    static let hypervisorMaxLeaf: UInt32 = 0x4000_0010

    /// Bits needed for N APIC IDs at the core level (leaf 0xB shift).
    var coreShift: UInt32 { cpuCount <= 1 ? 0 : UInt32(Int.bitWidth - (cpuCount - 1).leadingZeroBitCount) }

    package init(cpuCount: Int, tscKHz: UInt32, vendor: Vendor, featureChanges: [String: Bool],
         nested: NestedVirtualization = .none, supported: [CPUIDEntry]) {
        self.nested = nested
        self.cpuCount = cpuCount
        self.tscKHz = tscKHz
        self.vendor = vendor
        self.featureChanges = featureChanges.compactMap { name, on in Self.features[name].map { ($0, on) } }
        self.supported = supported
    }

    /// MAXPHYADDR in a vCPU's `entries` (CPUID 0x80000008 EAX[7:0]; 36 without the leaf).
    package static func physicalAddressBits(in entries: [CPUIDEntry]) -> Int {
        entries.first { $0.function == 0x8000_0008 }.map { Int($0.eax & 0xFF) } ?? 36
    }

    /// CPUID.1:ECX.x2APIC (bit 21) in a vCPU's `entries`.
    package static func hasX2APIC(in entries: [CPUIDEntry]) -> Bool {
        entries.first { $0.function == 1 }.map { $0.ecx & 1 << 21 != 0 } ?? false
    }

    package func entries(for apicID: Int) -> [CPUIDEntry] {
        let id = UInt32(apicID), n = UInt32(cpuCount)
        // Keep the host's leaves except the KVM paravirtual ones, which SwiftVMM's own replace,
        // and the topology leaves, which are rebuilt below.
        var entries = supported.filter { !(0x4000_0000...0x4FFF_FFFF).contains($0.function) && $0.function != 0xB && $0.function != 0x1F }
        // 0x15/0x16 must exist for the frequencies below.
        for leaf: UInt32 in [0x15, 0x16] where !entries.contains(where: { $0.function == leaf }) {
            entries.append(CPUIDEntry(function: leaf))
        }
        // Extended topology (leaf 0xB, and 0x1F where the host has it): subleaf 0 is the SMT
        // level (1 thread), 1 the core level (N cores), 2 invalid; EDX the x2APIC ID.
        // KVM_CPUID_FLAG_SIGNIFCANT_INDEX (1): KVM matches these by subleaf.
        for leaf: UInt32 in supported.contains(where: { $0.function == 0x1F }) ? [0xB, 0x1F] : [0xB] {
            entries.append(CPUIDEntry(function: leaf, index: 0, flags: 1, eax: 0, ebx: 1, ecx: 1 << 8 | 0, edx: id))
            entries.append(CPUIDEntry(function: leaf, index: 1, flags: 1, eax: coreShift, ebx: n, ecx: 2 << 8 | 1, edx: id))
            entries.append(CPUIDEntry(function: leaf, index: 2, flags: 1, eax: 0, ebx: 0, ecx: 2, edx: id))
        }
        entries = entries.map { entry in
            var entry = entry
            switch entry.function {
            case 0:
                entry.eax = max(entry.eax, 0x16)
                if let signature = vendor.signature { (entry.ebx, entry.edx, entry.ecx) = signature }
            case 1:
                // EBX[31:24] initial APIC ID, [23:16] addressable IDs in the package; HTT (EDX 28)
                // makes that field valid; hypervisor (ECX 31), x2APIC (21), TSC-deadline (24).
                let addressable = min(UInt32(1) << coreShift, 255)
                entry.ebx = entry.ebx & 0x0000_FFFF | id << 24 | max(addressable, n) << 16
                entry.edx |= 1 << 28
                entry.ecx |= 1 << 31 | 1 << 21 | 1 << 24
                if nested != .vmx { entry.ecx &= ~Self.vmxBit }
            case 0x8000_0001:
                if nested != .svm { entry.ecx &= ~Self.svmBit }
            case 4:
                // Deterministic cache parameters (Intel): EAX[31:26] cores per package - 1;
                // EAX[25:14] threads sharing this cache - 1 (the L3, level 3, is shared by all).
                let level = entry.eax >> 5 & 7
                let sharing = level >= 3 ? n - 1 : 0
                entry.eax = entry.eax & 0x0000_3FFF | min(n - 1, 63) << 26 | min(sharing, 0xFFF) << 14
            case 0x15:
                // TSC/crystal ratio EBX/EAX = 1 with a "crystal" at the TSC rate in ECX (Hz).
                (entry.eax, entry.ebx, entry.ecx, entry.edx) = (1, 1, tscKHz &* 1000, 0)
            case 0x16:
                // Base and maximum MHz (the TSC rate), bus 100 MHz.
                let mhz = (tscKHz + 500) / 1000
                (entry.eax, entry.ebx, entry.ecx, entry.edx) = (mhz, mhz, 100, 0)
            case 0x8000_0007:
                entry.edx |= 1 << 8                      // invariant TSC
            case 0x8000_0008:
                // AMD: ECX[7:0] cores - 1, [15:12] APIC ID bits for the core.
                entry.ecx = entry.ecx & ~0xF0FF | coreShift << 12 | min(n - 1, 255)
            case 0x8000_001E:
                // AMD extended APIC ID, core ID, one thread per core, node 0.
                (entry.eax, entry.ebx, entry.ecx) = (id, id & 0xFF, 0)
            default:
                break
            }
            return entry
        }
        var signature = ByteBuffer()
        signature.append(ascii: Self.hypervisorSignature, width: 12)
        let words = (0..<3).map { i in (0..<4).reduce(UInt32(0)) { $0 | UInt32(signature[i * 4 + $1]) << (8 * $1) } }
        entries.append(CPUIDEntry(function: 0x4000_0000, eax: Self.hypervisorMaxLeaf, ebx: words[0], ecx: words[1], edx: words[2]))
        // 0x40000010 (the VMware/Linux timing leaf): EAX TSC kHz, EBX APIC timer kHz.
        entries.append(CPUIDEntry(function: 0x4000_0010, eax: tscKHz, ebx: UInt32(Layout.localAPICBusHz / 1000)))
        for (feature, on) in featureChanges {
            entries = entries.map { entry in
                guard entry.function == feature.leaf, entry.index == feature.subleaf else { return entry }
                var entry = entry
                let mask = UInt32(1) << feature.bit
                switch feature.register {
                case .eax: entry.eax = on ? entry.eax | mask : entry.eax & ~mask
                case .ebx: entry.ebx = on ? entry.ebx | mask : entry.ebx & ~mask
                case .ecx: entry.ecx = on ? entry.ecx | mask : entry.ecx & ~mask
                case .edx: entry.edx = on ? entry.edx | mask : entry.edx & ~mask
                }
                return entry
            }
        }
        return entries
    }
}

extension String {
    /// Four ASCII characters as the little-endian register CPUID returns them in.
    var littleEndianWord: UInt32 {
        utf8.prefix(4).enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * $1.offset) }
    }
}
