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

    /// One broadcast INIT and one broadcast SIPI, back to back, start every AP; a targeted
    /// INIT + SIPI restarts one AP through the trampoline again.
    @Test(arguments: [(2, InterruptController.userspace), (4, .userspace), (8, .userspace), (4, .kernel)])
    func broadcastInitAndStartup(_ cpus: Int, _ irqchip: InterruptController) throws {
        let (outcome, output) = try bootSMP(smpBroadcastGuest, cpus: cpus, irqchip: irqchip)
        #expect(outcome == .debugExit(0), "\(cpus) CPUs \(irqchip): \(output)")
        #expect(output.contains("smp-broadcast: \(cpus - 1) of \(cpus - 1) APs started"))
        #expect(output.contains("smp-broadcast: restart PASS"))
    }

    /// The same multicore boot, several times in a row, must pass every time (the
    /// 200-boot version is `scripts/repeat-boot.sh`).
    @Test func repeatedSMPBootsAllPass() throws {
        for run in 1...5 {
            let (outcome, output) = try bootSMP(smpTimerGuest, cpus: 4, irqchip: .userspace)
            #expect(outcome == .debugExit(0), "run \(run): \(output)")
        }
    }

    func bootSMP(_ guest: [UInt8], cpus: Int, irqchip: InterruptController) throws -> (Outcome, String) {
        let sink = CollectingSink()
        let machine = try Machine(Machine.Configuration(kernel: .image(name: "smp", bytes: guest), cpus: cpus,
                                                        serialOutput: sink, timeout: .seconds(60),
                                                        interruptController: irqchip))
        return (machine.run(), sink.text)
    }
}
