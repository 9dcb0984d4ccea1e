import Foundation
import Testing
import TestGuests
@testable import SwiftVMM

/// Guests booted end to end under KVM through the library.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct BootIntegrationTests {
    @Test func helloPrintsExactBytesAndExitsThroughDebugPort() throws {
        let (outcome, output) = try boot(helloGuest)
        #expect(output == "Hello, world!\n")
        #expect(outcome == .debugExit(0))
        #expect(outcome.exitStatus == 1)
    }

    @Test func multiboot2Hello() throws {
        let (outcome, output) = try boot(helloMb2Guest)
        #expect(output == "Hello from multiboot 2!\n")
        #expect(outcome == .debugExit(0))
    }

    /// The multiboot information as the guest sees it, for both multiboot versions.
    @Test(arguments: [("mb1", mbinfoGuest, "0x2badb002"), ("mb2", mbinfo2Guest, "0x36d76289")])
    func multibootInformationSeenByTheGuest(_ version: String, _ guest: [UInt8], _ magic: String) throws {
        let first: [UInt8] = Array("first module".utf8)
        let second = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let firstPath = try temporaryFile(first, name: "module-\(version)-1")
        let secondPath = try temporaryFile(second, name: "module-\(version)-2")
        let (outcome, output) = try boot(guest, cpus: 2, commandLine: "console=ttyS0 root=/x  two  spaces",
                                         modules: [BootModule(argument: firstPath), BootModule(argument: "\(secondPath)=the second")])
        #expect(outcome == .debugExit(0), "\(output)")
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.first == "magic=\(magic)")
        #expect(lines.contains("mem_lower=639 mem_upper=\((256 - 1) * 1024)"))
        #expect(lines.contains("cmdline=[console=ttyS0 root=/x  two  spaces]"))
        #expect(lines.contains("loader=[SwiftVMM]"))
        #expect(lines.contains("mods=2"))
        let modules = lines.filter { $0.hasPrefix("mod ") }
        #expect(modules.count == 2)
        for (index, (line, bytes, string)) in zip(modules, [(first, firstPath), (second, "the second")]).map({ ($0.0, $0.1.0, $0.1.1) }).enumerated() {
            let fields = Dictionary(uniqueKeysWithValues: line.split(separator: " ").dropFirst(2).compactMap { field -> (String, String)? in
                let parts = field.split(separator: "=", maxSplits: 1)
                return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
            })
            let start = UInt64(fields["start"]!.dropFirst(2), radix: 16)!
            let end = UInt64(fields["end"]!.dropFirst(2), radix: 16)!
            #expect(start % 4096 == 0, "module \(index) is page-aligned")
            #expect(end - start == UInt64(bytes.count))
            #expect(line.contains("string=[\(string)]"))
            #expect(fields["fnv"] == String(format: "0x%08x", fnv1a(bytes)))
        }
        #expect(lines.filter { $0.hasPrefix("mmap ") } == [
            "mmap base=0x0 len=0x9fc00 type=1",
            "mmap base=0x9fc00 len=0x60400 type=2",
            "mmap base=0x100000 len=0xff00000 type=1",
            "mmap base=0xc0000000 len=0x40000000 type=2",
        ])
        #expect(lines.contains("cpus=2"))
        #expect(lines.contains("entry cr0=0x11 eflags=0x2"), "paging off, protected mode, interrupts off")
        if version == "mb2" {
            #expect(lines.contains("acpi_old=1"))
            #expect(lines.contains("acpi_new=1"))
        }
        #expect(lines.last == "done")
    }

    @Test func plainELF64EntryState() throws {
        let (outcome, output) = try boot(elf64entryGuest, commandLine: "64-bit", memory: 5 << 30)
        #expect(outcome == .debugExit(0), "\(output)")
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.contains("rsi=0x36d76289"))
        #expect(lines.contains("rsp_aligned=1"))
        #expect(lines.contains("if=0"))
        #expect(lines.contains("lma=1"))
        #expect(lines.contains("cmdline=[64-bit]"))
        #expect(lines.filter { $0.hasPrefix("mmap ") }.last == "mmap base=0x100000000 len=0x80000000 type=1")
    }

    @Test func platformInfoMSRReportsTheTSCRatio() throws {
        let sink = CollectingSink()
        let machine = try Machine(Machine.Configuration(kernel: .image(name: "msr", bytes: msrPlatformInfoGuest),
                                                        serialOutput: sink, timeout: .seconds(20)))
        let outcome = machine.run()
        #expect(outcome == .debugExit(0))
        // The maximum non-turbo ratio (bits 15:8, 100 MHz units) is the multiple of 100 MHz
        // nearest the TSC rate, at most 50 MHz away; the maximum efficiency ratio (47:40) says
        // the same, and the guest's own reading of bits 15:8 matches.
        let lines = sink.text.split(separator: "\n")
        let value = try #require(lines.first { $0.hasPrefix("platform_info=0x") }.flatMap { UInt64($0.dropFirst(16), radix: 16) },
                                 "\(sink.text)")
        let ratio = value >> 8 & 0xFF
        #expect(ratio > 0)
        #expect(abs(Int(ratio) * 100_000 - Int(machine.tscKHz)) <= 50_000, "ratio \(ratio), TSC \(machine.tscKHz) kHz")
        #expect(value == ratio << 8 | ratio << 40, "no other bits set")
        #expect(lines == ["platform_info=0x\(String(value, radix: 16))", "ratio=\(ratio)"])
    }

    @Test func tripleFaultIsAGuestFaultWithAReport() throws {
        let (outcome, output) = try boot(faultGuest, cpus: 2)
        #expect(output == "about to fault\n")
        guard case .guestFault(let report) = outcome else {
            Issue.record("expected a guest fault, got \(outcome)")
            return
        }
        #expect(outcome.exitStatus == 4)
        #expect(report.vcpu == 0)
        #expect(report.cpus.count == 2)
        #expect(report.cpus[1].status == "waiting for start-up")
        // The guest faults on `ud2` (0F 0B) with an empty IDT.
        #expect(report.instruction.starts(with: [0x0F, 0x0B]), "\(report)")
    }

    @Test func haltWithInterruptsOffOnEveryCPUIsADeadlock() throws {
        let (outcome, output) = try boot(haltGuest, cpus: 3)
        #expect(output == "halting\n")
        #expect(outcome == .deadlock)
        #expect(outcome.exitStatus == 6)
    }

    /// Power-off through ACPI PM1a control, the old Bochs port 0xB004 and Bochs's "Shutdown"
    /// port 0x8900 is status 0; reset through 0xCF9, the 8042 and port 0x92 is status 8.
    @Test(arguments: [("acpi", Outcome.poweredOff), ("bochs", .poweredOff), ("shutdown", .poweredOff),
                      ("cf9", .reset), ("kbd", .reset), ("port92", .reset)])
    func powerOffAndReset(_ method: String, _ expected: Outcome) throws {
        let (outcome, output) = try boot(powerGuest, cpus: 2, commandLine: method)
        #expect(outcome == expected, "\(output)")
        #expect(output == "power: \(method)\n" + (method == "kbd" ? "i8042 status=0x00\n" : ""))
    }

    @Test func timeoutStopsASpinningGuestPromptly() throws {
        let start = ContinuousClock.now
        let (outcome, output) = try boot(spinGuest, cpus: 2, timeout: .milliseconds(300))
        #expect(output == "spinning\n")
        #expect(outcome == .timedOut)
        #expect(outcome.exitStatus == 124)
        #expect(ContinuousClock.now - start < .seconds(2))
    }

    @Test func stopFromAnotherThreadEndsTheRun() throws {
        let machine = try Machine(Machine.Configuration(kernel: .image(name: "spin", bytes: spinGuest),
                                                        serialOutput: NullSink(), timeout: .seconds(20)))
        let stopper = Thread { Thread.sleep(forTimeInterval: 0.2); machine.stop() }
        stopper.start()
        #expect(machine.run() == .stopped(signal: 0))
    }
}

/// No KVM is a host error (exit status 10) naming the device.
@Test func missingKVMIsAHostError() {
    #expect(throws: KVMError.open(path: "/nonexistent/kvm", .noSuchFileOrDirectory)) { try KVM(path: "/nonexistent/kvm") }
    #expect(MachineError.host(.kvm(.open(path: "/dev/kvm", .noSuchFileOrDirectory))).exitStatus == 10)
    #expect(MachineError.host(.kvm(.missingCapability("KVM_CAP_X86_MSR_FILTER"))).description.contains("KVM_CAP_X86_MSR_FILTER"))
}

/// FNV-1a, 32-bit, as the guests compute it.
func fnv1a(_ bytes: [UInt8]) -> UInt32 {
    bytes.reduce(0x811C_9DC5 as UInt32) { ($0 ^ UInt32($1)) &* 0x0100_0193 }
}
