import Foundation
import Testing
import TestGuests
@testable import SwiftVMM

/// Multicore guests under KVM: AP start-up through INIT/SIPI, local APIC timers in every
/// mode on every CPU, IPIs. More vCPUs than host CPUs is part of the point.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct SMPIntegrationTests {
    @Test(arguments: [1, 2, 4, 8])
    func demoStartsEveryCPU(_ cpus: Int) throws {
        let (outcome, output) = try boot(demoGuest, cpus: cpus)
        #expect(outcome == .debugExit(0), "\(output)")
        for cpu in 0..<cpus {
            #expect(output.contains("hello from CPU \(cpu) (APIC ID \(cpu))"), "\(output)")
        }
        #expect(output.contains("SwiftVMM demo: \(cpus) of \(cpus) CPUs online"))
    }

    static let timerCases: [(String, [UInt8], Int, InterruptController)] = [
        ("xapic", smpTimerGuest, 2, .userspace), ("xapic", smpTimerGuest, 4, .userspace),
        ("x2apic", smpTimerX2ApicGuest, 4, .userspace), ("xapic", smpTimerGuest, 4, .kernel),
        ("x2apic", smpTimerX2ApicGuest, 2, .kernel),
    ]

    /// Every CPU takes exactly K timer interrupts in one-shot, periodic, TSC-deadline,
    /// very short one-shot and past-deadline modes (the guest checks counts and that no
    /// deadline interrupt is early).
    @Test(arguments: timerCases)
    func localAPICTimersOnEveryCPU(_ mode: String, _ guest: [UInt8], _ cpus: Int, _ irqchip: InterruptController) throws {
        let (outcome, output) = try bootSMP(guest, cpus: cpus, irqchip: irqchip)
        #expect(outcome == .debugExit(0), "\(mode) \(cpus) CPUs \(irqchip): \(output)")
        #expect(output.contains("smp-timer: PASS"))
        #expect(output.split(separator: "\n").filter { $0.hasPrefix("cpu ") && $0.hasSuffix(" ok") }.count == cpus)
    }

    static let ipiCases: [(String, [UInt8], Int, InterruptController)] = [
        ("xapic", smpIpiGuest, 2, .userspace), ("xapic", smpIpiGuest, 4, .userspace),
        ("x2apic", smpIpiX2ApicGuest, 4, .userspace), ("xapic", smpIpiGuest, 4, .kernel),
    ]

    /// Fixed IPIs between all pairs, broadcasts, self IPIs, logical destinations, NMI and
    /// TPR masking.
    @Test(arguments: ipiCases)
    func interprocessorInterrupts(_ mode: String, _ guest: [UInt8], _ cpus: Int, _ irqchip: InterruptController) throws {
        let (outcome, output) = try bootSMP(guest, cpus: cpus, irqchip: irqchip)
        #expect(outcome == .debugExit(0), "\(mode) \(cpus) CPUs \(irqchip): \(output)")
        #expect(output.contains("smp-ipi: PASS"))
        #expect(!output.contains("FAIL"))
    }

    func bootSMP(_ guest: [UInt8], cpus: Int, irqchip: InterruptController) throws -> (Outcome, String) {
        let sink = CollectingSink()
        let machine = try Machine(Machine.Configuration(kernel: .image(name: "smp", bytes: guest), cpus: cpus,
                                                        serialOutput: sink, timeout: .seconds(60),
                                                        interruptController: irqchip))
        return (machine.run(), sink.text)
    }
}
