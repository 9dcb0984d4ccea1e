import Foundation
import Testing
import TestGuests
@testable import SwiftVMM

/// The PC parts firmware-free kernels touch: CMOS/RTC, COM2, VGA text memory, the 8042,
/// and rebooting after a reset request.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct LegacyPCIntegrationTests {
    func configuration(_ guest: [UInt8], _ sink: CollectingSink, commandLine: String = "") -> Machine.Configuration {
        Machine.Configuration(kernel: .image(name: "guest", bytes: guest), commandLine: commandLine,
                              serialOutput: sink, timeout: .seconds(20))
    }

    @Test func cmosTimeFormatsAndShutdownByte() throws {
        let now = Int(Date().timeIntervalSince1970)
        let (outcome, output) = try boot(cmosGuest, commandLine: "now=\(now)")
        #expect(outcome == .debugExit(0), "\(output)")
        #expect(output.contains("cmos: PASS"))
        #expect(output.contains("agree=1"))
        #expect(output.contains("shutdown=0x0a"))
        #expect(output.contains("ext16_64k=3840"), "256 MiB: (256 - 16) MiB in 64 KiB units, as QEMU")
    }

    @Test func com2IsThereOnlyWhenAskedFor() throws {
        let sink = CollectingSink(), com2 = CollectingSink()
        var withCOM2 = configuration(serial2Guest, sink)
        withCOM2.serial2Output = com2
        #expect(try Machine(withCOM2).run() == .debugExit(0))
        #expect(sink.text.contains("com2 present=1 lsr=0x60"), "\(sink.text)")
        #expect(com2.text == "Hello from COM2!\n")

        let (outcome, output) = try boot(serial2Guest)
        #expect(outcome == .debugExit(0))
        #expect(output.contains("com2 present=0 lsr=0xff"), "no COM2 by default, as QEMU: \(output)")
    }

    /// The guest writes rows 100 ms and 10 ms apart; each appears in order, even while the
    /// page scrolls between two looks (a look in the middle of a scroll may repeat a row).
    @Test func vgaTextRowsAreMirrored() throws {
        let sink = CollectingSink(), vga = CollectingSink()
        var configuration = configuration(vgaTextGuest, sink)
        configuration.vgaTextOutput = vga
        let clock = ContinuousClock(), start = clock.now
        #expect(try Machine(configuration).run() == .debugExit(0))
        let elapsed = clock.now - start
        #expect(sink.text == "vga_ram=1\n", "0xA0000-0xBFFFF is RAM")
        let lines = vga.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(Array(lines.prefix(2)) == ["SwiftVMM VGA text page", "second row"], "\(lines)")
        #expect(lines.suffix(2) == ["vga-text: done", ""], "the last row, flushed when the run ended")
        let numbers = lines.compactMap { $0.hasPrefix("line ") ? Int($0.dropFirst(5)) : nil }
        var firstSeen: [Int] = []
        for number in numbers where !firstSeen.contains(number) { firstSeen.append(number) }
        #expect(firstSeen == Array(0..<30), "every row, first seen in order: \(numbers)")
        // A look that lands mid-scroll or mid-row reprints a row (VGATextPage.changedLines;
        // VGATextPageTests pins which), so the repeats follow how many looks the mirror took,
        // which host load decides. The mirror looks at most once an interval plus once at
        // the end: allow two repeats a look. Reprinting the page, or the rows below a change,
        // would print hundreds.
        let looks = Int(elapsed / .nanoseconds(Int(VGATextMirror.interval))) + 1
        #expect(numbers.count - 30 <= 2 * looks, "\(numbers.count - 30) repeats in at most \(looks) looks: \(numbers)")
    }

    /// ACPI S3: the guest suspends with every CPU running, the RTC alarm wakes the machine
    /// and the boot CPU starts in real mode at the FACS waking vector, where the guest's
    /// stub checks CS, DS, SS and PM1 status (WAK_STS, RTC_STS) and exits v=0.
    @Test(arguments: [1, 2])
    func suspendToRAMWakesOnTheRTCAlarm(cpus: Int) throws {
        let (outcome, output) = try boot(sleepS3Guest, cpus: cpus)
        #expect(outcome == .debugExit(0), "\(output)")
        #expect(output == "sleep-s3: \(cpus) CPUs, SLP_TYP 1\nsleep-s3: suspending\n")
    }

    /// The RTC's periodic (256 at 1024 Hz), alarm and update interrupts each reach the guest
    /// on IRQ8 through the slave 8259 with their flag in register C, with either irqchip.
    @Test(arguments: [InterruptController.userspace, .kernel])
    func rtcInterruptsArriveOnIRQ8(irqchip: InterruptController) throws {
        let sink = CollectingSink()
        var configuration = configuration(rtcIrqGuest, sink)
        configuration.interruptController = irqchip
        #expect(try Machine(configuration).run() == .debugExit(0), "\(sink.text)")
        #expect(sink.text == "periodic=256 pf=256\nalarm=1 af=1\nupdate=1 uf=1\nrtc-irq: PASS\n")
    }

    /// KVM's irqchip has no S3 here: the write returns and the guest says so.
    @Test func suspendToRAMNeedsTheUserspaceIRQChip() throws {
        let sink = CollectingSink()
        var configuration = configuration(sleepS3Guest, sink)
        configuration.interruptController = .kernel
        #expect(try Machine(configuration).run() == .debugExit(1))
        #expect(sink.text.hasSuffix("sleep-s3: suspending\nsleep-s3: still running\n"), "\(sink.text)")
    }

    /// `--bios-timer` leaves what SeaBIOS leaves: an interrupt vector table whose 8259
    /// vectors acknowledge, IRQ 0 unmasked and the PIT in mode 2, ticking into vector 8.
    /// Without it the chipset is at rest and low memory empty.
    @Test func biosTimerIsLeftOnlyWhenAskedFor() throws {
        let sink = CollectingSink()
        var configuration = configuration(biosTimerGuest, sink)
        configuration.biosTimer = true
        #expect(try Machine(configuration).run() == .debugExit(0), "\(sink.text)")
        #expect(sink.text == """
            ivt8=f000:f001 irq0_handler=50b020e62058cf
            ivt70=f000:f008 irq8_handler=50b020e6a0e62058cf
            ivt20=f000:f000 other_handler=cf
            imr=0xfa,0xff
            pit_status=0x34
            ticks=3

            """)

        let (outcome, output) = try boot(biosTimerGuest)
        #expect(outcome == .debugExit(0))
        #expect(output.contains("ivt8=0000:0000 irq0_handler=00000000"), "\(output)")
        #expect(output.contains("imr=0xff,0xff\n"))
        #expect(!output.contains("ticks="))
    }

    @Test func vgaTextLinesEndTheRunWithExitOn() throws {
        let sink = CollectingSink(), vga = CollectingSink()
        var configuration = configuration(vgaTextGuest, sink, commandLine: "spin")
        configuration.vgaTextOutput = vga
        configuration.exitOn = ["^vga-text: done$"]
        #expect(try Machine(configuration).run() == .outputMatched(pattern: "^vga-text: done$", status: 0))
        #expect(vga.text.hasSuffix("vga-text: done\n"))
    }

    /// Each reset path ends the run with a reset; with `rebootOnReset` the kernel boots
    /// again, finds its CMOS boot count and powers off.
    @Test(arguments: ["cf9", "kbd", "fadt"])
    func resetRebootsOnlyWhenAsked(_ method: String) throws {
        let once = CollectingSink()
        let single = try MachineSession(configuration(rebootGuest, once, commandLine: method))
        #expect(single.run() == .reset)
        #expect(once.text.hasPrefix("reboot: boot 1 \(method)\n"))
        #expect(!once.text.contains("boot 2"))
        #expect(single.boots == 1)

        let twice = CollectingSink()
        var rebooting = configuration(rebootGuest, twice, commandLine: method)
        rebooting.rebootOnReset = true
        let session = try MachineSession(rebooting)
        #expect(session.run() == .poweredOff, "\(twice.text)")
        #expect(twice.text.contains("reboot: boot 1 \(method)\n"))
        #expect(twice.text.contains("reboot: boot 2 \(method)\n"))
        #expect(!twice.text.contains("still running"))
        #expect(session.boots == 2)
        if method == "fadt" { #expect(twice.text.contains("reset_reg_sup=1 space=1 address=0xcf9 value=0x06")) }
    }

    @Test func sessionsThatRebootLeaveNoDescriptors() throws {
        func descriptors() throws -> Int { try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count }
        var configuration = configuration(rebootGuest, CollectingSink(), commandLine: "cf9")
        configuration.rebootOnReset = true
        #expect(try MachineSession(configuration).run() == .poweredOff)
        let before = try descriptors()
        for _ in 0..<5 { #expect(try MachineSession(configuration).run() == .poweredOff) }
        // At most as many: a leak only adds, while descriptors an earlier test left closing
        // (a subprocess's pipes) may go meanwhile (as in TeardownTests).
        let after = try descriptors()
        #expect(after <= before, "\(before) descriptors before, \(after) after")
    }

    @Test func stoppedSessionDoesNotReboot() throws {
        var configuration = configuration(rebootGuest, CollectingSink(), commandLine: "cf9")
        configuration.rebootOnReset = true
        let session = try MachineSession(configuration)
        session.stop(signal: 15)
        #expect(session.run() == .stopped(signal: 15))
        #expect(session.boots == 1)
    }

    /// Linux's keyboard-controller reset: status reads 0, so the wait never spins, and
    /// command 0xFE resets.
    @Test func i8042ProbeAndReset() throws {
        let (outcome, output) = try boot(powerGuest, commandLine: "kbd")
        #expect(outcome == .reset)
        #expect(output.contains("i8042 status=0x00\n"))
        #expect(!output.contains("busy"))
        #expect(!output.contains("still running"))
    }

    @Test func commandLineFlags() throws {
        let reboot = try temporaryFile(rebootGuest, name: "reboot.elf")
        #expect(try swiftvmm(["boot", reboot, "--cmdline", "kbd"]).status == 8)
        let rebooted = try swiftvmm(["boot", reboot, "--cmdline", "kbd", "--reboot", "--timeout", "20"])
        #expect(rebooted.status == 0, "\(rebooted.stderr)")
        #expect(rebooted.stdout == "reboot: boot 1 kbd\nreboot: boot 2 kbd\n")

        let serial2 = try temporaryFile(serial2Guest, name: "serial2.elf")
        let log = testScratch.appending(path: "com2.log").path
        let com2 = try swiftvmm(["boot", serial2, "--serial2", "file:\(log)"])
        #expect(com2.status == 1)
        #expect(com2.stdout.contains("com2 present=1"))
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "Hello from COM2!\n")
        #expect(try swiftvmm(["boot", serial2, "--serial2", "bogus"]).status == 2)

        let vga = try temporaryFile(vgaTextGuest, name: "vga-text.elf")
        let text = try swiftvmm(["boot", vga, "--vga-text", "--cmdline", "spin", "--exit-on", "^vga-text: done$", "--timeout", "20"])
        #expect(text.status == 0)
        #expect(text.stdout.hasPrefix("vga_ram=1\nSwiftVMM VGA text page\nsecond row\n"))
        #expect(text.stdout.hasSuffix("vga-text: done\n"))
        #expect(try swiftvmm(["boot", vga]).stdout == "vga_ram=1\n", "no mirror without --vga-text")
    }
}
