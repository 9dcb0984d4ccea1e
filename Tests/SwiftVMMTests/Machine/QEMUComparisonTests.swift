import Foundation
import Testing
import TestGuests
@testable import SwiftVMM

/// QEMU itself and swiftvmm invoked as qemu-system-x86_64, on the same ELF32 guests with
/// the same command line: the same pass/fail. (scripts/qemu-compare.sh runs more guests.)
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"),
       .enabled(if: installedQEMU != nil, "qemu-system-x86_64 is not installed: QEMU comparison SKIPPED"),
       .enabled(if: llvmObjcopy != nil, "needs llvm-objcopy from the Swift toolchain on PATH to make ELF32 guests"))
struct QEMUComparisonTests {
    /// qboot when installed (0.2 s per boot instead of SeaBIOS's seconds); QEMU only.
    static let firmware: [String] = FileManager.default.fileExists(atPath: "/usr/share/qemu/qboot.rom")
        ? ["-bios", "/usr/share/qemu/qboot.rom"] : []
    /// What Debian's QEMU 7.2 needs here (PLATFORM-NOTES), and QEMU's usual test-kernel flags.
    static let common = ["-enable-kvm", "-cpu", "host,-arch-capabilities", "-nographic", "-no-reboot",
                         "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]


    /// The same QEMU-style run script passes with QEMU itself (SeaBIOS: a few seconds).
    @Test func qemuStyleRunScriptPassesWithQEMU() throws {
        let kernel = try elf32File(fwcfgGuest, name: "run-script")
        let result = try runScript(qemu: installedQEMU!, kernel: kernel)
        #expect(result.status == 0, "\(result.stdout.suffix(800))\(result.stderr)")
        #expect(result.stdout.hasSuffix("run-qemu-style: PASS\n"))
    }

    @Test(arguments: [("fwcfg", ["-smp", "2", "-m", "256", "-append", "cpus=2 mem=256"]),
                      ("smp-broadcast", ["-smp", "2"]), ("hello", [])])
    func samePassFailAsQEMU(_ name: String, _ arguments: [String]) throws {
        let guests = ["fwcfg": fwcfgGuest, "smp-broadcast": smpBroadcastGuest, "hello": helloGuest]
        let kernel = try elf32File(guests[name]!, name: "compare-\(name)")
        let qemuRun = try swiftvmm(Self.common + Self.firmware + arguments + ["-kernel", kernel],
                                   executable: URL(fileURLWithPath: installedQEMU!))
        let ours = try swiftvmm(Self.common + arguments + ["-kernel", kernel], executable: QEMUSpellingIntegrationTests.qemuSymlink)
        print("qemu-compare \(name): QEMU status \(qemuRun.status), swiftvmm status \(ours.status)")
        #expect(qemuRun.status == 1, "QEMU: \(qemuRun.stdout.suffix(500))\(qemuRun.stderr)")
        #expect(ours.status == qemuRun.status, "swiftvmm: \(ours.stdout.suffix(500))\(ours.stderr)")
    }
}

/// QEMU's qemu-system-x86_64 on PATH, if any.
let installedQEMU: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "")
    .split(separator: ":").map { "\($0)/qemu-system-x86_64" }
    .first { FileManager.default.isExecutableFile(atPath: $0) }
