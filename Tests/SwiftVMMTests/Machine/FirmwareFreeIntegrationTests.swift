import Foundation
import Testing
import TestGuests
@testable import SwiftVMM

/// The firmware-free PC as real multicore kernels use it (issue 10's "Done when"): a
/// higher-half multiboot 2 ELF64 kernel that reads only the RSDT, calibrates with the HPET
/// through the 8259 and LINT0, reads MSR 0xCE, starts its APs one at a time through 0x70000
/// with the CMOS warm-reset sequence and powers off through ACPI S5; and a guest that
/// validates every ACPI structure before powering off the same way.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct FirmwareFreeIntegrationTests {
    /// The guest's lines with their "name: " prefix removed.
    func lines(_ output: String, of guest: String) -> [String] {
        output.split(separator: "\n").compactMap { line in
            line.hasPrefix("\(guest): ") ? String(line.dropFirst(guest.count + 2)) : nil
        }
    }

    @Test(arguments: [1, 2, 4])
    func higherHalfSMPKernelPowersOffThroughS5(_ cpus: Int) throws {
        let (outcome, output) = try boot(hihalfSmpGuest, name: "hihalf-smp", cpus: cpus, timeout: .seconds(60))
        #expect(outcome == .poweredOff, "\(output)")
        #expect(outcome.exitStatus == 0)
        let said = lines(output, of: "hihalf-smp")
        #expect(!output.contains("FAIL"), "\(output)")
        #expect(said.first?.contains(/^higher half: main at 0xffffffff8[0-9a-f]{7}, multiboot 2 magic ok$/) == true, "\(output)")
        #expect(said.contains { $0.contains(/^RSDP 0xe[0-9a-f]{4} rev 2, RSDT 0x[0-9a-f]+ with \d+ tables \(XSDT not read\)$/) })
        let ids = (0..<cpus).map(String.init).joined(separator: " ")
        #expect(said.contains("MADT: \(cpus) CPUs, APIC IDs \(ids)"), "\(output)")
        #expect(said.contains { $0.contains(/^TSC \d+ kHz against the HPET over 50 IRQ0 ticks via 8259A -> LINT0 ExtINT/) })
        #expect(said.contains { $0.contains(/^MSR_PLATFORM_INFO 0x[0-9a-f]+: ratio [1-9]\d* \(\d+ MHz\)$/) })
        // Each AP says it is up (in long mode, in the higher half) before the BSP starts the next.
        let apLines = said.filter { $0.hasPrefix("AP ") }
        var expected: [String] = []
        for ap in 1..<cpus { expected += ["AP \(ap) (APIC ID \(ap)) up", "AP \(ap) checked in"] }
        #expect(apLines.count == expected.count, "\(output)")
        for (line, prefix) in zip(apLines, expected) { #expect(line.hasPrefix(prefix), "\(output)") }
        #expect(apLines.filter { $0.contains("up:") }.allSatisfy { $0.contains(/long mode on, rip 0xffffffff8[0-9a-f]{7}, cr3 0x[0-9a-f]+$/) })
        #expect(said.last == "all \(cpus) CPUs online; powering off via ACPI S5 (PM1a_CNT 0x604, SLP_TYPa 0)", "\(output)")
    }

    /// "Done when": `swiftvmm boot kernel.img --cpus 4` ends with status 0.
    @Test func higherHalfSMPKernelFromTheCommandLine() throws {
        let kernel = try temporaryFile(hihalfSmpGuest, name: "hihalf-smp.img")
        let result = try swiftvmm(["boot", kernel, "--cpus", "4", "--timeout", "60"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasSuffix("hihalf-smp: all 4 CPUs online; powering off via ACPI S5 (PM1a_CNT 0x604, SLP_TYPa 0)\n"))
    }

    @Test(arguments: [1, 4])
    func acpiWalkerValidatesEveryTable(_ cpus: Int) throws {
        let (outcome, output) = try boot(acpiWalkerGuest, name: "acpi-walker", cpus: cpus)
        #expect(outcome == .poweredOff, "\(output)")
        let said = lines(output, of: "acpi-walker")
        #expect(!output.contains("FAIL"), "\(output)")
        let checked = ["RSDP", "RSDT", "XSDT", "FACP", "DSDT", "FACS", "APIC", "HPET"]
        #expect(said.map { String($0.prefix(4)) } == checked + ["PASS"], "\(output)")
        #expect(said.contains { $0.hasPrefix("RSDP 0xe") && $0.contains("checksum ok, extended checksum ok") })
        #expect(said.contains { $0.hasPrefix("XSDT") && $0.hasSuffix("the same tables as the RSDT") })
        #expect(said.contains { $0.hasPrefix("FACP") && $0.contains("PM1a_EVT 0x600/4, PM1a_CNT 0x604/2, PM_TMR 0x608, SCI 9, SMI_CMD 0x0, SCI_EN 1, reset port 0xcf9 <- 0x6") })
        #expect(said.contains { $0.hasPrefix("DSDT") && $0.hasSuffix("SLP_TYPa 0, SLP_TYPb 0") })
        #expect(said.contains { $0.hasPrefix("FACS") && $0.contains("length 64") })
        #expect(said.contains { $0.hasPrefix("APIC") && $0.contains("(PCAT_COMPAT), \(cpus) local APICs (\(cpus) enabled), 1 I/O APIC, 2 overrides, 1 local APIC NMI") })
        #expect(said.contains { $0.hasPrefix("HPET") && $0.contains("base 0xfed00000") })
        #expect(said.last == "PASS 8 structures valid; powering off via ACPI S5 (PM1a_CNT 0x604 <- SLP_TYPa 0 | SLP_EN)")
    }
}
