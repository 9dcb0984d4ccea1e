import Logging
import SwiftVMMSupport

/// What a guest gets for an MSR that neither KVM nor SwiftVMM's table implements.
public enum UnknownMSRPolicy: String, Sendable, CaseIterable {
    /// #GP, as bare metal does.
    case strict
    /// Reads return 0 and writes are dropped; one warning per MSR index.
    case log
    /// As `log`, silently.
    case ignore
}

/// Who answers which MSR, and with what (Intel SDM Vol. 4, "Model-Specific Registers").
///
/// KVM's MSR filter is set to deny by default, with an allow list of the MSRs KVM must
/// keep handling (`kvmHandled`). Every other MSR exits to userspace, whatever the host's
/// `kvm.ignore_msrs` (which only affects MSRs KVM itself handles), and is answered here:
/// from the table below, from `--msr` overrides, or by the unknown-MSR policy. The local
/// APIC's MSRs (IA32_APIC_BASE, IA32_TSC_DEADLINE, x2APIC 0x800–0x8FF) go to `LocalAPIC`.
package final class MSRPolicy: Sendable {
    let tscKHz: UInt32
    let cpuCount: Int
    let unknown: UnknownMSRPolicy
    let overrides: [UInt32: UInt64]
    /// With nested VMX, IA32_FEATURE_CONTROL allows VMXON (and KVM answers the VMX
    /// capability MSRs); otherwise VMX reads as disabled by firmware.
    let nestedVMX: Bool
    private let logger: Logger
    /// MSRs already warned about, at most `warningLimit` (a guest sweeping the MSR space must
    /// not grow it without bound). A list, not a `Set<UInt32>`, whose creation would cost
    /// every boot the runtime's scan of every conformance record (`UInt32: Hashable`).
    private let warned = AnnotatedMutex<[UInt32]>([])
    static let warningLimit = 256

    package init(tscKHz: UInt32, cpuCount: Int, unknown: UnknownMSRPolicy, overrides: [UInt32: UInt64],
         nestedVMX: Bool = false, logger: Logger) {
        self.nestedVMX = nestedVMX
        self.tscKHz = tscKHz
        self.cpuCount = cpuCount
        self.unknown = unknown
        self.overrides = overrides
        self.logger = logger
    }

    // MARK: The table

    /// MSRs answered in userspace whatever the CPU vendor (kernels written for Intel read
    /// these on any host), with why each value is what it is.
    package enum Index {
        /// IA32_TIME_STAMP_COUNTER (Vol. 4 Table 2-2): KVM's; the VMM reads the guest's TSC
        /// through it (exactly when a timer fires) and sets it to 0 at start.
        package static let timeStampCounter: UInt32 = 0x10
        /// MSR_PLATFORM_INFO (Vol. 4 §2.x, e.g. Table 2-25): bits 15:8 maximum non-turbo
        /// ratio, bits 47:40 maximum efficiency ratio; TSC = ratio × 100 MHz. KVM #GPs or
        /// reads ratio 0 here, and kernels (Composite) compute the TSC rate from it.
        static let platformInfo: UInt32 = 0xCE
        /// IA32_FEATURE_CONTROL (Vol. 3C §24.7): locked (bit 0), as firmware leaves it, so
        /// kernels do not write it; VMXON outside SMX (bit 2) only with nested VMX.
        package static let featureControl: UInt32 = 0x3A
        /// IA32_VMX_BASIC … IA32_VMX_PROCBASED_CTLS3 (Vol. 4 Table 2-2): KVM's, with nested VMX.
        static let vmxCapabilities: ClosedRange<UInt32> = 0x480...0x492
        /// IA32_PLATFORM_ID: platform ID 0.
        static let platformID: UInt32 = 0x17
        /// IA32_BIOS_SIGN_ID: microcode revision (bits 63:32) 1.
        static let microcodeRevision: UInt32 = 0x8B
        /// MSR_SMI_COUNT: no SMIs ever happen.
        static let smiCount: UInt32 = 0x34
        /// MSR_CORE_THREAD_COUNT: bits 15:0 threads, 31:16 cores — one thread per core.
        static let coreThreadCount: UInt32 = 0x35
        /// IA32_MPERF / IA32_APERF: advance with the TSC (the vCPU always runs at base).
        static let mperf: UInt32 = 0xE7, aperf: UInt32 = 0xE8
        /// IA32_PERF_STATUS / IA32_PERF_CTL: the current ratio in bits 15:8; writes ignored.
        static let perfStatus: UInt32 = 0x198, perfControl: UInt32 = 0x199
        /// IA32_THERM_STATUS: reading valid (bit 31), 40 °C below TjMax (bits 22:16).
        static let thermalStatus: UInt32 = 0x19C
        /// IA32_MISC_ENABLE: a read/write register KVM keeps per vCPU (the guest may turn
        /// features off); SwiftVMM only sets its reset value, `miscEnableReset`.
        package static let miscEnable: UInt32 = 0x1A0
        /// MSR_TEMPERATURE_TARGET: TjMax 100 °C (bits 23:16).
        static let temperatureTarget: UInt32 = 0x1A2
        /// RAPL power unit and energy counters: no power is measured (0).
        static let raplPowerUnit: UInt32 = 0x606, packageEnergy: UInt32 = 0x611
        static let pp0Energy: UInt32 = 0x639, pp1Energy: UInt32 = 0x641
    }

    /// IA32_FEATURE_CONTROL's value: lock bit, plus "enable VMX outside SMX" for nested VMX.
    package static func featureControl(nestedVMX: Bool) -> UInt64 { nestedVMX ? 1 | 1 << 2 : 1 }

    /// The TSC ratio: TSC MHz / 100, rounded to nearest.
    var ratio: UInt64 { (UInt64(tscKHz) + 50_000) / 100_000 & 0xFF }

    /// The table's value for `index`; `tsc` reads this vCPU's TSC (MPERF/APERF).
    func tableValue(_ index: UInt32, tsc: () -> UInt64?) -> UInt64? {
        switch index {
        case Index.platformInfo: ratio << 8 | ratio << 40
        case Index.featureControl: Self.featureControl(nestedVMX: nestedVMX)
        case Index.platformID: 0
        case Index.microcodeRevision: 1 << 32
        case Index.smiCount: 0
        case Index.coreThreadCount: UInt64(cpuCount) << 16 | UInt64(cpuCount)
        case Index.mperf, Index.aperf: tsc()
        case Index.perfStatus, Index.perfControl: ratio << 8
        case Index.thermalStatus: 1 << 31 | 40 << 16
        case Index.temperatureTarget: 100 << 16
        case Index.raplPowerUnit, Index.packageEnergy, Index.pp0Energy, Index.pp1Energy: 0
        default: nil
        }
    }

    /// Writable table entries (writes accepted and ignored); the rest are read-only (#GP).
    static let ignoredWrites: Set<UInt32> = [Index.perfControl, Index.mperf, Index.aperf]

    /// IA32_MISC_ENABLE as firmware leaves it: fast strings on (bit 0), BTS and PEBS
    /// unavailable (bits 11, 12; SDM Vol. 4 §2.1, IA32_MISC_ENABLE).
    package static let miscEnableReset: UInt64 = 1 | 1 << 11 | 1 << 12

    // MARK: Access

    /// RDMSR that reached userspace: the value, or nil for #GP.
    package func read(_ index: UInt32, tsc: () -> UInt64?) -> UInt64? {
        if let value = overrides[index] { return value }
        if let value = tableValue(index, tsc: tsc) { return value }
        return unknownAccess(index, "read") ? 0 : nil
    }

    /// WRMSR that reached userspace: true to accept (and drop) it, false for #GP.
    package func write(_ index: UInt32, _ value: UInt64) -> Bool {
        if overrides[index] != nil || Self.ignoredWrites.contains(index) { return true }
        if tableValue(index, tsc: { 0 }) != nil { return false }  // read-only
        return unknownAccess(index, "write of \(hex(value)) to")
    }

    /// Applies the unknown-MSR policy; true when the access completes without #GP.
    private func unknownAccess(_ index: UInt32, _ what: String) -> Bool {
        switch unknown {
        case .strict: return false
        case .ignore: return true
        case .log:
            let count = warned.withLock { warned -> Int? in
                guard warned.count < Self.warningLimit, !warned.contains(index) else { return nil }
                warned.append(index)
                return warned.count
            }
            if let count {
                logger.warning("guest \(what) unknown MSR \(hex(index)): reads 0, writes dropped (--msr-policy)")
                if count == Self.warningLimit {
                    logger.warning("\(count) unknown MSRs warned about: further ones are answered the same, unlogged")
                }
            }
            return true
        }
    }

    // MARK: The filter

    /// MSRs KVM keeps handling: syscall/segment-base state, TSC, PAT, MTRRs, SYSENTER,
    /// machine check, debug control, speculation control, performance counters.
    static let kvmHandled: [ClosedRange<UInt32>] = [
        0x10...0x10,                    // IA32_TIME_STAMP_COUNTER
        0x3B...0x3B,                    // IA32_TSC_ADJUST
        0x48...0x49,                    // IA32_SPEC_CTRL, IA32_PRED_CMD
        0xC1...0xC8,                    // IA32_PMCx
        0xFE...0xFE,                    // IA32_MTRRCAP
        0x10A...0x10B,                  // IA32_ARCH_CAPABILITIES, IA32_FLUSH_CMD
        0x174...0x176,                  // IA32_SYSENTER_CS/ESP/EIP
        0x179...0x17B,                  // IA32_MCG_CAP/STATUS/CTL
        0x186...0x18D,                  // IA32_PERFEVTSELx
        0x1A0...0x1A0,                  // IA32_MISC_ENABLE (reset value: miscEnableReset)
        0x1D9...0x1D9,                  // IA32_DEBUGCTL
        0x200...0x20F,                  // IA32_MTRR_PHYSBASE/MASK0-7
        0x250...0x250, 0x258...0x259, 0x268...0x26F,  // fixed-range MTRRs
        0x277...0x277,                  // IA32_PAT
        0x2FF...0x2FF,                  // IA32_MTRR_DEF_TYPE
        0x309...0x30B,                  // IA32_FIXED_CTRx
        0x38D...0x390,                  // IA32_FIXED_CTR_CTRL, IA32_PERF_GLOBAL_*
        0x400...0x47F,                  // IA32_MCi_CTL/STATUS/ADDR/MISC
        0xDA0...0xDA0,                  // IA32_XSS
        0xC000_0080...0xC000_0084,      // EFER, STAR, LSTAR, CSTAR, FMASK
        0xC000_0100...0xC000_0103,      // FS_BASE, GS_BASE, KERNEL_GS_BASE, TSC_AUX
        // AMD performance counters (AMD APM Vol. 2 §13.2): the legacy PerfEvtSel0-3 and
        // PerfCtr0-3, and with CPUID PerfCtrExtCore the six core counter pairs. KVM answers
        // them as it does for QEMU (its vPMU, or reads of 0 without one); kernels program
        // them at start-up, so filtering them to the unknown-MSR policy made `strict` #GP.
        0xC001_0000...0xC001_0007,      // PERF_LEGACY_CTL0-3, PERF_LEGACY_CTR0-3
        0xC001_0200...0xC001_020B,      // PERF_CTL0-5 / PERF_CTR0-5
    ]

    /// The MSRs KVM's filter lets KVM handle (every other one comes to userspace): what
    /// KVM must handle, `kernelAPIC` (with KVM's irqchip, the APIC MSRs its local APIC
    /// answers), with nested VMX the VMX capability MSRs, less the MSRs the user overrides.
    package static func kvmAnswered(kernelAPIC: [UInt32], nestedVMX: Bool = false, overrides: [UInt32: UInt64]) -> [UInt32] {
        var allowed = Self.kvmHandled.flatMap { Array($0) } + kernelAPIC
        if nestedVMX { allowed += Array(Index.vmxCapabilities) }
        allowed.removeAll { overrides[$0] != nil }
        return allowed
    }
}
