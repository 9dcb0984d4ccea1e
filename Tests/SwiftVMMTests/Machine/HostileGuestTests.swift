import Foundation
import Testing
import TestGuests
@testable import SwiftVMM

/// A guest that pokes every port, every byte of the device pages, addresses with nothing
/// behind them, nonexistent APIC IDs and the timers' extremes: each run ends in its
/// documented outcome and the host process carries on (guests/hostile).
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct HostileGuestTests {
    /// Seeds for the random values; `SWIFTVMM_HOSTILE_SEEDS=N` runs more.
    static let seeds = Array(1...(ProcessInfo.processInfo.environment["SWIFTVMM_HOSTILE_SEEDS"].flatMap(Int.init) ?? 1))

    @Test(arguments: ["ports", "mmio", "unbacked", "ipi", "timers", "storm"], seeds)
    func survivable(scenario: String, seed: Int) throws {
        let (outcome, output) = try boot(hostileGuest, cpus: 2, commandLine: "\(scenario) seed=\(seed)", timeout: .seconds(60))
        #expect(outcome == .debugExit(0), "\(scenario): \(output.suffix(300))")
        #expect(output.contains("\(scenario) survived"))
    }

    @Test("a guest looping COM1 back to itself without reading meets a 16-byte FIFO that overruns")
    func serialLoopbackOverruns() throws {
        let (outcome, output) = try boot(hostileGuest, commandLine: "loopback", timeout: .seconds(60))
        #expect(outcome == .debugExit(0), "\(output.suffix(300))")
        #expect(output.contains("loopback kept=16 in_order=1 oe=1 oe_after_read=0 rbr=0x7a"), "\(output.suffix(300))")
        #expect(output.contains("loopback survived"))
    }

    @Test func oneVCPUTripleFaultsWhileAnotherRuns() throws {
        let (outcome, _) = try boot(hostileGuest, cpus: 3, commandLine: "triple", timeout: .seconds(30))
        guard case .guestFault(let report) = outcome else {
            Issue.record("expected a guest fault, got \(outcome)")
            return
        }
        #expect(report.vcpu == 1)
        #expect(outcome.exitStatus == ExitStatus.guestFault)
    }

    @Test func everyCPUHaltedWithInterruptsOffIsADeadlock() throws {
        let (outcome, _) = try boot(hostileGuest, cpus: 3, commandLine: "hltall", timeout: .seconds(30))
        #expect(outcome == .deadlock)
    }

    @Test("a 64 GiB guest (more than this host's RAM) is reserved lazily and boots")
    func memoryLargerThanTheHost() throws {
        let (outcome, output) = try boot(hostileGuest, commandLine: "unbacked", memory: 64 << 30, timeout: .seconds(30))
        #expect(outcome == .debugExit(0))
        #expect(output.contains("unbacked survived"))
    }

    @Test("serial output to a file is complete when the guest faults")
    func serialFileKeepsEveryByte() throws {
        let kernel = try temporaryFile(hostileGuest, name: "hostile.elf")
        let log = kernel + ".serial"
        let result = try swiftvmm(["boot", kernel, "--cmdline", "stream", "--serial", "file:\(log)", "--timeout", "60"])
        #expect(result.status == ExitStatus.guestFault)
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 5000)
        #expect(lines.first == "line 1" && lines.last == "line 5000")
    }
}
