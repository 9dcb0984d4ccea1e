import Foundation
import Testing
import TestGuests
@testable import SwiftVMM

/// `swiftvmm boot --snapshot-on REGEX --save DIR` and `swiftvmm restore DIR`: statuses,
/// messages, and a restored run that continues after the line.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct SnapshotCommandLineTests {
    @Test func saveAtReadyThenRestoreContinuesAfterIt() throws {
        let kernel = try temporaryFile(snapshotTimersGuest, name: "snapshot-timers.elf")
        let directory = testScratch.appending(path: "cli-snapshot-\(UUID().uuidString)").path
        let saved = try swiftvmm(["boot", kernel, "--cpus", "4", "--memory", "64", "--snapshot-on", "^READY$",
                                  "--save", directory, "--timeout", "60"])
        #expect(saved.status == 0, "\(saved.stderr)")
        #expect(saved.stdout.hasSuffix("READY\n"), "\(saved.stdout)")
        #expect(saved.stderr.contains("swiftvmm: snapshot saved to \(directory)"), "\(saved.stderr)")
        #expect(!saved.stderr.contains("stopped"), "\(saved.stderr)")

        for _ in 0..<2 {
            let restored = try swiftvmm(["restore", directory, "--timeout", "60"])
            #expect(restored.status == 1, "\(restored.stderr)")   // the guest wrote 0 to port 0xF4
            #expect(restored.stdout.contains(SnapshotIntegrationTests.pass), "\(restored.stdout)")
            #expect(!restored.stdout.contains("READY"), "\(restored.stdout)")
        }
    }

    /// One snapshot, several test cases chosen by `--input`: the halted APs wake for IPIs
    /// after the restore, and each restore starts from the snapshot's memory. With KVM's
    /// irqchip too (its local APICs, 8259s, I/O APIC and PIT are in the snapshot), there
    /// taken where the guest writes the snapshot port right after READY.
    @Test(arguments: [("user", ["--snapshot-on", "^READY$"]), ("kernel", [])])
    func restoreInputChoosesTheTest(irqchip: String, trigger: [String]) throws {
        let kernel = try temporaryFile(snapshotInputGuest, name: "snapshot-input.elf")
        let directory = testScratch.appending(path: "cli-input-\(UUID().uuidString)").path
        let saved = try swiftvmm(["boot", kernel, "--cpus", "4", "--irqchip", irqchip] + trigger + ["--save", directory])
        #expect(saved.status == 0, "\(saved.stderr)")
        let cases: [(String, Int32, String)] = [
            ("ipi", 1, "ipi 300 round trips"), ("mem", 1, "mem clean"), ("mem", 1, "mem clean"), ("bogus", 7, "unknown test bogus"),
        ]
        for (input, status, line) in cases {
            let result = try swiftvmm(["restore", directory, "--input", input, "--timeout", "60"])
            #expect(result.status == status, "\(input): \(result.stdout) \(result.stderr)")
            #expect(result.stdout == line + "\n", "\(input): \(result.stdout)")
        }
    }

    @Test func aRunThatNeverPrintsTheLineSavesNothing() throws {
        let kernel = try temporaryFile(helloGuest, name: "hello.elf")
        let directory = testScratch.appending(path: "cli-nothing-\(UUID().uuidString)").path
        let result = try swiftvmm(["boot", kernel, "--snapshot-on", "^READY$", "--save", directory])
        #expect(result.status == 1)
        #expect(result.stderr.contains("no snapshot: the run ended before a line matched --snapshot-on"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/snapshot.json"))
    }

    @Test func badSnapshotCommandLinesExitWithStatus2() throws {
        let kernel = try temporaryFile(helloGuest, name: "hello.elf")
        let empty = testScratch.appending(path: "cli-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let cases: [([String], String)] = [
            (["boot", kernel, "--snapshot-on", "READY"], "--snapshot-on needs --save DIR"),
            (["boot", kernel, "--save", empty.path, "--gdb", "tcp::0"], "--save cannot be combined with --gdb"),
            (["boot", kernel, "--snapshot-on", "(", "--save", empty.path], "not a valid regular expression"),
            (["boot", kernel, "--snapshot-on", "R", "--save", empty.path, "--reboot"], "cannot be combined with --reboot"),
            (["restore", empty.path], "cannot read the snapshot"),
            (["restore", empty.path, "--timeout", "0"], "--timeout must be a positive number"),
        ]
        for (arguments, message) in cases {
            let result = try swiftvmm(arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
    }
}
