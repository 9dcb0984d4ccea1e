import Foundation
import Testing
import TestGuests
@testable import SwiftVMM

/// The `swiftvmm` executable: exit statuses, messages, serial sinks.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct CommandLineTests {
    @Test func bootHelloExitsWithTheGuestsStatus() throws {
        let kernel = try temporaryFile(helloGuest, name: "hello.elf")
        let result = try swiftvmm(["boot", kernel])
        #expect(result.stdout == "Hello, world!\n")
        #expect(result.status == 1)
        #expect(result.stderr == "")
    }

    @Test func demoSucceedsOnOneCPU() throws {
        let result = try swiftvmm(["demo", "--timeout", "20"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("SwiftVMM demo: 1 of 1 CPUs online"))
    }

    @Test func serialToAFileKeepsEveryByte() throws {
        let kernel = try temporaryFile(faultGuest, name: "fault.elf")
        let log = testScratch.appending(path: "serial.log").path
        let result = try swiftvmm(["boot", kernel, "--serial", "file:\(log)"])
        #expect(result.status == 4)
        #expect(result.stdout == "")
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "about to fault\n")
        #expect(result.stderr.contains("triple fault"))
        #expect(result.stderr.contains("instruction bytes at RIP: 0f 0b"))
        #expect(result.stderr.contains("CR3="))
    }

    @Test(arguments: [("acpi", Int32(0)), ("cf9", Int32(8))])
    func powerOffAndResetStatuses(_ method: String, _ status: Int32) throws {
        let kernel = try temporaryFile(powerGuest, name: "power-\(method).elf")
        #expect(try swiftvmm(["boot", kernel, "--cmdline", method]).status == status)
    }

    /// A kernel that prints its last line and spins ends with --exit-on's status, after
    /// that line was written.
    @Test func exitOnMatchingLine() throws {
        let kernel = try temporaryFile(spinGuest, name: "spin-exit-on.elf")
        let matched = try swiftvmm(["boot", kernel, "--exit-on", "^nothing$", "--exit-on", "^spin+ing$", "--timeout", "20"])
        #expect(matched.status == 0)
        #expect(matched.stdout == "spinning\n")
        let status = try swiftvmm(["boot", kernel, "--exit-on", "spin", "--exit-on-status", "42", "--timeout", "20"])
        #expect(status.status == 42)
        let partial = try swiftvmm(["boot", kernel, "--exit-on", "^spin$", "--timeout", "0.5"])
        #expect(partial.status == 124, "a pattern must match the whole line when anchored")
        let invalid = try swiftvmm(["boot", kernel, "--exit-on", "("])
        #expect(invalid.status == 2)
        #expect(invalid.stderr.contains("--exit-on"))
    }

    @Test func deadlockStatus() throws {
        let kernel = try temporaryFile(haltGuest, name: "halt.elf")
        #expect(try swiftvmm(["boot", kernel, "--cpus", "2"]).status == 6)
    }

    @Test func timeoutStatus() throws {
        let kernel = try temporaryFile(spinGuest, name: "spin.elf")
        let result = try swiftvmm(["boot", kernel, "--timeout", "0.3"])
        #expect(result.status == 124)
        #expect(result.stdout == "spinning\n")
    }

    @Test(arguments: [(SIGINT, Int32(130)), (SIGTERM, Int32(143))])
    func signalsStopTheMachine(_ signal: Int32, _ status: Int32) throws {
        let kernel = try temporaryFile(spinGuest, name: "spin-\(signal).elf")
        let result = try swiftvmm(["boot", kernel, "--cpus", "2"], signal: signal)
        #expect(result.status == status)
    }

    @Test func unloadableKernelsExitWithStatus2AndNameTheFile() throws {
        let directory = FileManager.default.temporaryDirectory.path
        let empty = try temporaryFile([], name: "empty.elf")
        let garbage = try temporaryFile(Array(repeating: 0x90, count: 4096), name: "garbage.bin")
        let truncated = try temporaryFile(Array(helloGuest.prefix(200)), name: "truncated.elf")
        let cases: [(String, String)] = [
            ("/nonexistent/kernel.elf", "/nonexistent/kernel.elf: cannot open"),
            (directory, "is a directory"),
            (empty, "is empty"),
            (garbage, "not a bootable image"),
            (truncated, "truncated"),
        ]
        for (path, message) in cases {
            let result = try swiftvmm(["boot", path])
            #expect(result.status == 2, "\(path)")
            #expect(result.stderr.contains(message), "\(path): \(result.stderr)")
            #expect(result.stderr.contains(path), "\(path): \(result.stderr)")
        }
    }

    @Test func kernelThatDoesNotFitInMemory() throws {
        let kernel = try temporaryFile(helloGuest, name: "hello-small.elf")
        let result = try swiftvmm(["boot", kernel, "--memory", "1M"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("too small"))
    }

    @Test func badCommandLinesExitWithStatus2() throws {
        let kernel = try temporaryFile(helloGuest, name: "hello-args.elf")
        for arguments in [["boot"], ["boot", kernel, "--cpus", "0"], ["boot", kernel, "--cpus", "255"],
                          ["boot", kernel, "--memory", "12Q"], ["boot", kernel, "--serial", "tcp:1"],
                          ["boot", kernel, "--boot-protocol", "pe"], ["frobnicate"]] {
            let result = try swiftvmm(arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(!result.stderr.isEmpty)
        }
    }

    /// The same multiboot 1 kernel in an ELF32 container (as QEMU's -kernel wants it).
    @Test(.enabled(if: llvmObjcopy != nil, "needs llvm-objcopy from the Swift toolchain on PATH"))
    func elf32MultibootKernel() throws {
        let elf32 = try elf32File(helloGuest, name: "hello")
        #expect(try Data(contentsOf: URL(fileURLWithPath: elf32))[4] == 1, "ELF class 32")
        let result = try swiftvmm(["boot", elf32])
        #expect(result.stdout == "Hello, world!\n")
        #expect(result.status == 1)
    }

    @Test func helpShowsTheExitStatusTable() throws {
        let result = try swiftvmm(["boot", "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("EXIT STATUS"))
        #expect(result.stdout.contains("124"))
    }
}
