import Foundation
import Testing
import TestGuests
@testable import SwiftVMM

/// The x86 machine a guest probes: MSRs answered in userspace, CPUID topology and rates.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct PlatformIntegrationTests {
    func run(_ guest: [UInt8], cpus: Int = 1, configure: (inout Machine.Configuration) -> Void = { _ in }) throws -> (Outcome, [String: String], Machine) {
        let sink = CollectingSink()
        var configuration = Machine.Configuration(kernel: .image(name: "guest", bytes: guest), cpus: cpus,
                                                  serialOutput: sink, timeout: .seconds(30))
        configure(&configuration)
        let machine = try Machine(configuration)
        let outcome = machine.run()
        // "key=value" items; on a line that starts with a bare word ("msr 0xce=…",
        // "leaf_15 eax=…", "topology core_shift=…") the key is "word key".
        var fields: [String: String] = [:]
        for line in sink.text.split(separator: "\n") {
            let words = line.split(separator: " ")
            let prefix = words.first.map { $0.contains("=") ? "" : "\($0) " } ?? ""
            for item in words where item.contains("=") {
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                fields[prefix + parts[0]] = parts.count > 1 ? parts[1] : ""
            }
        }
        return (outcome, fields, machine)
    }

    @Test func everyTableMSRReadsItsDocumentedValue() throws {
        let (outcome, msr, machine) = try run(msrTableGuest, cpus: 2)
        #expect(outcome == .debugExit(0))
        // MSR_PLATFORM_INFO's maximum non-turbo ratio (bits 15:8) is in 100 MHz units: the
        // guest must read the multiple of 100 MHz nearest the TSC rate KVM reports, which is
        // at most 50 MHz away whatever the host's rate.
        let platformInfo = try #require(msr["msr 0xce"].flatMap { UInt64($0.dropFirst(2), radix: 16) })
        let ratio = platformInfo >> 8 & 0xFF
        #expect(ratio > 0)
        #expect(abs(Int(ratio) * 100_000 - Int(machine.tscKHz)) <= 50_000, "ratio \(ratio), TSC \(machine.tscKHz) kHz")
        let expected: [String: UInt64] = [
            "0xce": ratio << 8 | ratio << 40, "0x1b": 0xFEE0_0900, "0x6e0": 0, "0x17": 0,
            // Locked (bit 0); VMXON outside SMX (bit 2) only where nested VMX is offered.
            "0x3a": NestedVirtualization.offered(by: try KVM().supportedCPUID()) == .vmx ? 0b101 : 0b1,
            "0x8b": 1 << 32, "0x34": 0, "0x1a0": 0x1801, "0x198": ratio << 8, "0x199": ratio << 8,
            "0x19c": 0x8028_0000, "0x1a2": 0x64_0000, "0x606": 0, "0x611": 0, "0x639": 0, "0x641": 0,
            "0x35": 2 << 16 | 2,
        ]
        for (index, value) in expected {
            #expect(msr["msr \(index)"] == "0x" + String(value, radix: 16), "MSR \(index)")
        }
        #expect(msr["mperf_advances"] == "1")
        #expect(msr["aperf_advances"] == "1")
        #expect(msr["tsc_msr"] == "ok")
    }

    @Test(arguments: [(UnknownMSRPolicy.strict, "GP", "GP"), (.log, "0x0", "ok"), (.ignore, "0x0", "ok")])
    func unknownMSRPolicy(_ policy: UnknownMSRPolicy, _ read: String, _ write: String) throws {
        let (outcome, msr, _) = try run(msrTableGuest) { $0.msrPolicy = policy }
        #expect(outcome == .debugExit(0))
        #expect(msr["unknown_read 0x12345"] == read)
        #expect(msr["unknown_write 0x12345"] == write)
        #expect(msr["unknown_read 0xc0011234"] == read)
    }

    @Test func overriddenMSRValues() throws {
        let (outcome, msr, _) = try run(msrTableGuest) {
            $0.msrOverrides = [0xCE: 0x1400, 0x12345: 0xABC]
            $0.msrPolicy = .strict
        }
        #expect(outcome == .debugExit(0))
        #expect(msr["msr 0xce"] == "0x1400")
        #expect(msr["unknown_read 0x12345"] == "0xabc")
    }

    /// Reading the host's kvm.ignore_msrs: the answers above do not depend on it, because
    /// the MSR filter denies by default and those MSRs never reach KVM's ignore logic.
    @Test func hostIgnoreMSRsSettingIsReported() throws {
        let setting = try? String(contentsOfFile: "/sys/module/kvm/parameters/ignore_msrs", encoding: .utf8)
        print("host kvm.ignore_msrs = \(setting?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "unreadable")")
        let (outcome, msr, _) = try run(msrTableGuest) { $0.msrPolicy = .strict }
        #expect(outcome == .debugExit(0))
        #expect(msr["unknown_read 0x12345"] == "GP", "strict holds whatever ignore_msrs says")
    }

    /// CPUID topology as Linux decodes it matches the vCPU count and the MADT (16: QEMU's
    /// `-smp 16,cores=16,threads=1,sockets=1`, Composite's line).
    @Test(arguments: [1, 2, 4, 8, 16])
    func topologyMatchesTheMADT(_ cpus: Int) throws {
        let (outcome, fields, machine) = try run(cpuidTopologyGuest, cpus: cpus)
        #expect(outcome == .debugExit(0))
        #expect(fields["madt_cpus"] == "\(cpus)")
        #expect(fields["topology logical_per_package"] == "\(cpus)")
        #expect(fields["topology threads_per_core"] == "1")
        #expect(fields["topology smt_shift"] == "0")
        #expect(fields["topology levels"] == "2")
        // Cores per package in the vendor's own leaf: 4 on Intel, 0x80000008 on AMD.
        #expect(fields["vendor"] == "AuthenticAMD" ? fields["amd_nc"] == "\(cpus)" : fields["leaf4_cores"] == "\(cpus)")
        #expect(fields["hypervisor_bit"] == "1")
        #expect(fields["hv_signature"] == "SwiftVMM")
        #expect(fields["x2apic"] == "1")
        #expect(fields["tsc_deadline"] == "1")
        #expect(fields["invariant_tsc"] == "1")
        // Every rate source says the same TSC frequency, exactly.
        let tscKHz = UInt64(machine.tscKHz)
        #expect(fields["leaf_40000010 eax"] == "\(tscKHz)")
        #expect(fields["leaf_40000010 ebx"] == "1000000", "APIC timer: 1 GHz")
        let crystal = try #require(UInt64(fields["leaf_15 ecx"] ?? ""))
        let numerator = try #require(UInt64(fields["leaf_15 ebx"] ?? "")), denominator = try #require(UInt64(fields["leaf_15 eax"] ?? ""))
        #expect(crystal * numerator / denominator == tscKHz * 1000)
        // Leaf 16H EAX: the base frequency in MHz, the TSC rate to the nearest MHz.
        let baseMHz = try #require(Int(fields["leaf_16 eax"] ?? ""))
        #expect(abs(baseMHz * 1000 - Int(tscKHz)) <= 500, "\(baseMHz) MHz for \(tscKHz) kHz")
    }
}
