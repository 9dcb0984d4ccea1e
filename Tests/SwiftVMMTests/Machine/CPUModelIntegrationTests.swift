import Foundation
import Testing
import TestGuests
@testable import SwiftVMM

/// The CPU model a guest sees: every feature SwiftVMM advertises must work in the guest,
/// and (where the host lets CPUID be narrowed) nothing else is shown.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct CPUModelIntegrationTests {
    static let checked = ["pcid", "pdpe1gb", "xsave", "fsgsbase", "rdtscp", "sse3", "ssse3", "sse4.1", "sse4.2", "avx"]

    /// kvm_pvm passes the host's leaf 1 ECX and leaf 7 EBX feature bits to the guest whatever
    /// KVM_SET_CPUID2 says (shared/PLATFORM-NOTES.md).
    static let hostShowsItsOwnCPUID = FileManager.default.fileExists(atPath: "/sys/module/kvm_pvm")

    /// The features of `checked` that SwiftVMM's default CPU model sets for vCPU 0.
    static func advertised() throws -> [String] {
        let entries = CPUIDTable(cpuCount: 1, tscKHz: 1_000_000, vendor: .host, featureChanges: [:],
                                 supported: try KVM().supportedCPUID()).entries(for: 0)
        return checked.filter { name in
            guard let feature = CPUIDTable.features[name],
                  let entry = entries.first(where: { $0.function == feature.leaf && $0.index == feature.subleaf }) else { return false }
            let register = switch feature.register {
            case .eax: entry.eax
            case .ebx: entry.ebx
            case .ecx: entry.ecx
            case .edx: entry.edx
            }
            return register & 1 << feature.bit != 0
        }
    }

    func run() throws -> (advertised: [String], lines: [String: String], outcome: Outcome) {
        let advertised = try Self.advertised()
        let (outcome, output) = try boot(cpuFeaturesGuest, commandLine: advertised.joined(separator: " "))
        var lines: [String: String] = [:]
        for line in output.split(separator: "\n") {
            let words = line.split(separator: " ", maxSplits: 1).map(String.init)
            if words.count == 2 { lines[words[0]] = words[1] }
        }
        return (advertised, lines, outcome)
    }

    @Test("every advertised feature works in the guest; VMX matches IA32_FEATURE_CONTROL")
    func advertisedFeaturesWork() throws {
        let (advertised, lines, outcome) = try run()
        #expect(outcome == .debugExit(0))
        for name in advertised {
            let result = try #require(lines[name], "\(name) reported")
            #expect(result == "ok" || result.hasPrefix("shown"), "\(name): \(result)")
        }
        #expect(lines["vmx"]?.hasPrefix("ok") == true)
        #expect(lines["vmx"]?.contains("feature_control=0x1 ") == true || lines["vmx"]?.contains("feature_control=0x5") == true)
    }

    @Test("CPUID shows no feature beyond the advertised ones",
          .enabled(if: !hostShowsItsOwnCPUID, "kvm_pvm shows the host's CPUID feature bits (SSE3…AVX, XSAVE) whatever KVM_SET_CPUID2 says, and they fault when used; only hardware KVM can narrow CPUID"))
    func nothingLeaks() throws {
        let (advertised, lines, _) = try run()
        for name in Self.checked where !advertised.contains(name) {
            #expect(lines[name] == "absent", "\(name): \(lines[name] ?? "not reported")")
        }
    }

    static let hostOffersNesting = ((try? KVM().supportedCPUID()).map(NestedVirtualization.offered) ?? .none) != .none

    @Test("--nested on a host that offers no nesting is a usage error naming the reason",
          .enabled(if: !hostOffersNesting, "this host KVM offers nested VMX/SVM"))
    func nestedWithoutHostSupport() throws {
        var configuration = Machine.Configuration(kernel: .image(name: "guest", bytes: helloGuest), serialOutput: NullSink())
        configuration.nested = true
        #expect {
            _ = try Machine(configuration)
        } throws: { error in
            (error as? MachineError)?.exitStatus == 2 && "\(error)".contains("no nested virtualization")
        }
    }
}
