import Foundation
import Testing
import TestGuests
@testable import SwiftVMM

/// `swiftvmm boot` in QEMU's spelling, and swiftvmm run as `qemu-system-x86_64` through a
/// symlink: the same outcomes as the native spelling, fw_cfg as the guest sees it.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct QEMUSpellingIntegrationTests {
    /// A directory holding `qemu-system-x86_64` → the swiftvmm executable.
    static let qemuSymlink: URL = {
        let directory = testScratch.appending(path: "qemu")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let link = directory.appending(path: "qemu-system-x86_64")
        try? FileManager.default.removeItem(at: link)
        try? FileManager.default.createSymbolicLink(at: link, withDestinationURL: swiftvmmExecutable)
        return link
    }()

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var guest: [UInt8]
        var native: [String]
        var qemu: [String]
        var status: Int32
        /// Whether stdout must be the same (not when the guest prints its command line,
        /// which QEMU's spelling prefixes with the kernel path).
        var sameOutput = true
        /// Lines every run's stdout must have.
        var lines: [String] = []
        var testDescription: String { name }
    }

    /// The shapes of `CommandLineTests`, each in both spellings. `K` stands for the kernel
    /// file, `LOG` for a serial log file.
    static let cases: [Case] = [
        Case(name: "hello", guest: helloGuest, native: ["K"], qemu: ["-kernel", "K"], status: 1),
        Case(name: "demo on 2 CPUs", guest: demoGuest, native: ["K", "--cpus", "2"], qemu: ["-kernel", "K", "-smp", "2"], status: 1),
        Case(name: "fault, serial to a file", guest: faultGuest, native: ["K", "--serial", "file:LOG"],
             qemu: ["-kernel", "K", "-serial", "file:LOG"], status: 4),
        Case(name: "power acpi", guest: powerGuest, native: ["K", "--cmdline", "acpi"], qemu: ["-kernel", "K", "-append", "acpi"],
             status: 0, sameOutput: false),
        Case(name: "power cf9", guest: powerGuest, native: ["K", "--cmdline", "cf9"], qemu: ["-kernel", "K", "-append", "cf9", "-no-reboot"],
             status: 8, sameOutput: false),
        Case(name: "power shutdown 0x8900", guest: powerGuest, native: ["K", "--cmdline", "shutdown"],
             qemu: ["-kernel", "K", "-append", "shutdown"], status: 0, sameOutput: false),
        Case(name: "exit-on", guest: spinGuest, native: ["K", "--exit-on", "^spinning$", "--timeout", "20"],
             qemu: ["-kernel", "K", "--exit-on", "^spinning$", "--timeout", "20"], status: 0),
        Case(name: "deadlock", guest: haltGuest, native: ["K", "--cpus", "2"], qemu: ["-kernel", "K", "-smp", "2"], status: 6),
        Case(name: "timeout", guest: spinGuest, native: ["K", "--timeout", "0.3"], qemu: ["-kernel", "K", "--timeout", "0.3"], status: 124),
        Case(name: "too little memory", guest: helloGuest, native: ["K", "--memory", "1M"], qemu: ["-kernel", "K", "-m", "1M"], status: 2),
        Case(name: "no such kernel", guest: [], native: ["/nonexistent/k.elf"], qemu: ["-kernel", "/nonexistent/k.elf"], status: 2),
        Case(name: "0 CPUs", guest: helloGuest, native: ["K", "--cpus", "0"], qemu: ["-kernel", "K", "-smp", "0"], status: 2),
        Case(name: "bad memory size", guest: helloGuest, native: ["K", "--memory", "12Q"], qemu: ["-kernel", "K", "-m", "12Q"], status: 2),
        Case(name: "fwcfg", guest: fwcfgGuest, native: ["K", "--cpus", "2", "--memory", "256", "--cmdline", "cpus=2 mem=256"],
             qemu: ["-kernel", "K", "-smp", "2", "-m", "256", "-append", "cpus=2 mem=256"], status: 1, sameOutput: false,
             lines: ["cpus ok", "ram ok", "cmdline ok", "e820 matches mem ok", "fwcfg: PASS"]),
        // AP start-up order and times vary from run to run.
        Case(name: "smp-broadcast", guest: smpBroadcastGuest, native: ["K", "--cpus", "4"], qemu: ["-kernel", "K", "-smp", "4"],
             status: 1, sameOutput: false,
             lines: ["smp-broadcast: BSP APIC ID 0, 4 CPUs from fw_cfg (fw_cfg 4, MADT 4)", "smp-broadcast: 3 of 3 APs started",
                     "smp-broadcast: restart PASS"]),
    ]

    func run(_ arguments: [String], kernel: String, log: String, symlink: Bool = false) throws -> CommandResult {
        let arguments = arguments.map { $0 == "K" ? kernel : $0.replacingOccurrences(of: "LOG", with: log) }
        return symlink ? try swiftvmm(arguments, executable: Self.qemuSymlink) : try swiftvmm(["boot"] + arguments)
    }

    /// Native spelling, `swiftvmm boot` in QEMU spelling, and the qemu-system-x86_64 symlink:
    /// one status, one serial output.
    @Test(arguments: cases)
    func sameOutcomeInBothSpellings(_ c: Case) throws {
        let kernel = c.guest.isEmpty ? "" : try temporaryFile(c.guest, name: "qemu-spelling-\(c.name.filter(\.isLetter)).elf")
        // Per case: the cases run in parallel.
        let logs = (0..<3).map { testScratch.appending(path: "qemu-spelling-\(c.name.filter(\.isLetter))-\($0).log").path }
        let native = try run(c.native, kernel: kernel, log: logs[0])
        let boot = try run(c.qemu, kernel: kernel, log: logs[1])
        let symlink = try run(c.qemu, kernel: kernel, log: logs[2], symlink: true)
        #expect(native.status == c.status, "native: \(native.stderr)")
        #expect(boot.status == native.status, "boot in QEMU spelling: \(boot.stderr)")
        #expect(symlink.status == native.status, "qemu-system-x86_64: \(symlink.stderr)")
        if c.sameOutput {
            #expect(boot.stdout == native.stdout)
            #expect(symlink.stdout == native.stdout)
            let files = logs.map { try? String(contentsOfFile: $0, encoding: .utf8) }
            #expect(files[1] == files[0] && files[2] == files[0])
        }
        for line in c.lines {
            for (spelling, result) in [("native", native), ("boot", boot), ("symlink", symlink)] {
                #expect(result.stdout.contains(line + "\n"), "\(spelling): \(line)\n\(result.stdout)")
            }
        }
        if c.status == 2 { #expect(!boot.stderr.isEmpty && !symlink.stderr.isEmpty) }
    }

    @Test(arguments: [(SIGINT, Int32(130)), (SIGTERM, Int32(143))])
    func signalsStopTheMachineInQEMUSpelling(_ signal: Int32, _ status: Int32) throws {
        let kernel = try temporaryFile(spinGuest, name: "spin-qemu-\(signal).elf")
        let result = try swiftvmm(["-kernel", kernel, "-smp", "2"], signal: signal,
                                  executable: Self.qemuSymlink)
        #expect(result.status == status)
    }

    /// The fwcfg guest reads signature, CPU count, RAM size, command line and etc/e820 through
    /// fw_cfg (I/O ports and DMA) and checks them against -smp/-m; -fw_cfg items are listed.
    @Test func fwcfgGuestSeesSmpMemoryCommandLineAndItems() throws {
        let kernel = try temporaryFile(fwcfgGuest, name: "fwcfg.elf")
        let item = try temporaryFile(Array("from a file".utf8), name: "fwcfg-item.txt")
        let result = try swiftvmm(["-kernel", kernel, "-smp", "3", "-m", "1G", "-append", "cpus=3 mem=1024",
                                   "-fw_cfg", "name=opt/greeting,string=hello,, world", "-fw_cfg", "name=opt/file,file=\(item)"],
                                  executable: Self.qemuSymlink)
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        for line in ["signature QEMU ok", "id=0x3", "nb_cpus=3 max_cpus=3 madt=3", "cpus ok", "ram_size=0x40000000", "ram ok",
                     "cmdline_size=\(kernel.utf8.count + 17) cmdline=[\(kernel) cpus=3 mem=1024]", "cmdline ok",
                     "etc/e820 present ok", "e820 matches mem ok", "dma etc/e820 ok", "dma signature ok",
                     "file opt/greeting key=0x22 size=12 [hello, world]", "file opt/file key=0x21 size=11 [from a file]",
                     "debugcon: hello through port 0xE9", "fwcfg: PASS"] {
            #expect(result.stdout.contains(line + "\n"), "\(line)\n\(result.stdout)")
        }
        // A wrong expectation fails: the checks can fail.
        let wrong = try swiftvmm(["boot", kernel, "--cpus", "2", "--cmdline", "cpus=3 mem=256"])
        #expect(wrong.status == 3)
        #expect(wrong.stdout.contains("cpus FAIL"))
    }

    /// -device isa-debug-exit: QEMU's default ports 0x501-0x502, iobase/iosize as given, 0xF4
    /// always; a range on another device's ports is refused.
    @Test func isaDebugExitPorts() throws {
        let kernel = try temporaryFile(helloGuest, name: "hello-debug-exit.elf")
        for device in ["isa-debug-exit", "isa-debug-exit,iobase=0xf4,iosize=0x04", "isa-debug-exit,iobase=0xf0,iosize=8"] {
            let result = try swiftvmm(["boot", "-kernel", kernel, "-device", device])
            #expect(result.status == 1, "\(device): \(result.stderr)")
        }
        let clash = try swiftvmm(["boot", "-kernel", kernel, "-device", "isa-debug-exit,iobase=0x3f8"])
        #expect(clash.status == 2)
        #expect(clash.stderr.contains("debug-exit"))
    }

    /// -initrd entries are multiboot modules whose strings are the whole entries.
    @Test func initrdModules() throws {
        let kernel = try temporaryFile(mbinfoGuest, name: "mbinfo-initrd.elf")
        let module = try temporaryFile(Array("module".utf8), name: "module.bin")
        let native = try swiftvmm(["boot", kernel, "--module", "\(module)=\(module) a=1,b", "--module", module])
        let qemu = try swiftvmm(["-kernel", kernel, "-initrd", "\(module) a=1,,b,\(module)"], executable: Self.qemuSymlink)
        #expect(native.status == 1 && qemu.status == 1, "\(qemu.stdout)\(qemu.stderr)")
        // Lines "mods=N" and "mod I start= end= string=[..] fnv=..", without the addresses
        // (the longer QEMU command line may move the modules).
        let modules = { (output: String) in
            output.split(separator: "\n").filter { $0.hasPrefix("mod") }.map { line in
                line.range(of: "string=").map { String(line[$0.lowerBound...]) } ?? String(line)
            }
        }
        #expect(modules(native.stdout).count == 3)
        #expect(modules(qemu.stdout) == modules(native.stdout))
        #expect(qemu.stdout.contains("string=[\(module) a=1,b]"))
    }

    /// scripts/examples/run-qemu-style.sh, a run script written for QEMU, passes unchanged
    /// with swiftvmm in QEMU's place.
    @Test func qemuStyleRunScript() throws {
        let kernel = try temporaryFile(fwcfgGuest, name: "fwcfg-run-script.elf")
        let result = try runScript(qemu: Self.qemuSymlink.path, kernel: kernel)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasSuffix("run-qemu-style: PASS\n"))
        #expect(result.stdout.contains("file opt/run-script key=0x21 size=10 [qemu-style]"))
    }

    @Test func warningsAndRefusals() throws {
        let kernel = try temporaryFile(helloGuest, name: "hello-warn.elf")
        let warned = try swiftvmm(["-kernel", kernel, "-smp", "2,threads=2", "-accel", "tcg"], executable: Self.qemuSymlink)
        #expect(warned.status == 1)
        #expect(warned.stderr.split(separator: "\n").count == 2, "\(warned.stderr)")
        let bios = try swiftvmm(["-kernel", kernel, "-bios", "/usr/share/qemu/qboot.rom"], executable: Self.qemuSymlink)
        #expect(bios.status == 2)
        #expect(bios.stderr.contains("no firmware"))
        let missing = try swiftvmm(["-kernel", kernel, "-fw_cfg", "name=opt/x,file=/nonexistent/item"], executable: Self.qemuSymlink)
        #expect(missing.status == 2)
        #expect(missing.stderr == "swiftvmm: --fw-cfg opt/x: /nonexistent/item: cannot read: No such file or directory\n")
        let duplicate = try swiftvmm(["-kernel", kernel, "-fw_cfg", "name=etc/e820,string=x"], executable: Self.qemuSymlink)
        #expect(duplicate.status == 2)
        #expect(duplicate.stderr.contains("etc/e820"))
        let help = try swiftvmm(["-h"], executable: Self.qemuSymlink)
        #expect(help.status == 0 && help.stdout.contains("-kernel PATH"))
    }
}

/// Runs scripts/examples/run-qemu-style.sh with QEMU=`qemu` on `kernel`.
func runScript(qemu: String, kernel: String) throws -> CommandResult {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appending(path: "../../../scripts/examples/run-qemu-style.sh").standardized
    var environment = ProcessInfo.processInfo.environment
    environment["QEMU"] = qemu
    let process = Process()
    process.executableURL = script
    process.arguments = [kernel]
    process.environment = environment
    let stdout = Pipe(), stderr = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let out = stdout.fileHandleForReading.readDataToEndOfFile()
    let err = stderr.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                         stderr: String(decoding: err, as: UTF8.self))
}
