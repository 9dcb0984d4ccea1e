import Foundation
import Testing
import TestGuests
@testable import SwiftVMM

/// GRUB rescue ISOs (`grub-mkrescue`) booted by `swiftvmm boot ISO` and by Composite's own
/// QEMU command line with swiftvmm as `qemu-system-x86_64`: the guest sees the strings GRUB
/// 2 gives it (checked against QEMU+GRUB with the same guests), and broken discs and menus
/// end with status 2 and a message.
@Suite(.serialized, .enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"),
       .enabled(if: GRUBRescue.available, "\(GRUBRescue.unavailableReason ?? "")"))
struct GRUBDiscIntegrationTests {
    let directory = TemporaryDirectory()
    static let module = Array("module-one-contents\n".utf8)

    func fnv1a(_ bytes: [UInt8]) -> String {
        let hash = bytes.reduce(UInt32(2_166_136_261)) { ($0 ^ UInt32($1)) &* 16_777_619 }
        return "0x" + String(hash, radix: 16).leftPadded(to: 8)
    }

    /// mbinfo (multiboot 1) and mbinfo2 (multiboot 2) print what they were given.
    @Test(arguments: [("multiboot", "module", mbinfoGuest, "0x2badb002"), ("multiboot2", "module2", mbinfo2Guest, "0x36d76289")])
    func kernelSeesGRUBsStrings(_ kernelCommand: String, _ moduleCommand: String, _ guest: [UInt8], _ magic: String) throws {
        let config = """
            set timeout=0
            serial --unit=0 --speed=115200
            terminal_output serial
            menuentry "info" {
              \(kernelCommand) /boot/kernel.elf console=ttyS0 "two words" it\\'s
              \(moduleCommand) /boot/one first arg
              \(moduleCommand) /boot/one
            }
            """
        let iso = try GRUBRescue.make(["/boot/kernel.elf": guest, "/boot/one": Self.module, "/boot/grub/grub.cfg": Array(config.utf8)],
                                      name: kernelCommand, in: directory)
        let result = try swiftvmm(["boot", iso, "--cpus", "2"])
        #expect(result.status == 1, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("magic=\(magic)"))
        #expect(lines.contains(#"cmdline=[console=ttyS0 "two words" it\'s]"#))
        #expect(lines.contains("loader=[GRUB 2.06-13+deb12u2]"))
        #expect(lines.contains("mods=2"))
        let modules = lines.filter { $0.hasPrefix("mod ") }
        #expect(modules.count == 2)
        #expect(modules.first?.hasSuffix("string=[first arg] fnv=\(fnv1a(Self.module))") == true)
        #expect(modules.last?.hasSuffix("string=[] fnv=\(fnv1a(Self.module))") == true)
        #expect(lines.last == "done")
    }

    @Test func secondEntryByDefault() throws {
        let config = """
            set default=1
            set timeout=5
            menuentry "first" { multiboot /boot/hello.elf }
            menuentry "second" --id two {
              multiboot2 /boot/hello2.elf
            }
            """
        let iso = try GRUBRescue.make(["/boot/hello.elf": helloGuest, "/boot/hello2.elf": helloMb2Guest,
                                       "/boot/grub/grub.cfg": Array(config.utf8)], name: "two-entries", in: directory)
        let result = try swiftvmm(["boot", iso])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stdout == "Hello from multiboot 2!\n")
    }

    @Test func brokenDiscsAndMenusExitWithStatus2() throws {
        func iso(_ config: String?, name: String) throws -> String {
            var files: [String: [UInt8]] = ["/boot/kernel.elf": helloMb2Guest]
            if let config { files["/boot/grub/grub.cfg"] = Array(config.utf8) }
            return try GRUBRescue.make(files, name: name, in: directory)
        }
        let cases: [(String, String?, String)] = [
            ("no-config", nil, "no /boot/grub/grub.cfg on this disc"),
            ("linux", "menuentry x {\n linux /boot/vmlinuz\n}", "line 2: linux (in menu entry \"x\"): SwiftVMM boots multiboot kernels only"),
            ("chainloader", "menuentry x {\n chainloader +1\n}", "line 2: chainloader (in menu entry \"x\"): SwiftVMM has no firmware"),
            ("unset", "menuentry x {\n multiboot2 $kernel\n}", "line 2: $kernel is not set"),
            ("unclosed", "menuentry x {\n multiboot2 /boot/kernel.elf\n", "line 1: this block's { is never closed with }"),
            ("empty", "set timeout=0\n", "line 1: no menuentry to boot"),
        ]
        for (name, config, message) in cases {
            let path = try iso(config, name: name)
            let result = try swiftvmm(["boot", path])
            #expect(result.status == 2, "\(name)")
            #expect(result.stderr.contains(path) && result.stderr.contains(message), "\(name): \(result.stderr)")
        }
        // A disc cut short after its volume descriptors.
        let whole = Array(try Data(contentsOf: URL(fileURLWithPath: try iso("menuentry x { multiboot2 /boot/kernel.elf }", name: "whole"))))
        let cut = try directory.file("cut.iso", Array(whole.prefix(40 << 10)))
        let result = try swiftvmm(["boot", cut])
        #expect(result.status == 2 && result.stderr.contains("runs past the end of the image"), "\(result.stderr)")
    }

    /// Composite's image: a multiboot 2 higher-half kernel in `grub-mkrescue`'s ISO, booted by
    /// its tools/run.sh line unchanged, prints what `swiftvmm boot cos.img --cpus 16` prints.
    @Test func compositeRunScriptLine() throws {
        let (iso, image) = try compositeDisc()
        let qemu = try swiftvmm(Self.compositeLine(iso), executable: QEMUSpellingIntegrationTests.qemuSymlink)
        let native = try swiftvmm(["boot", image, "--cpus", "16"])
        #expect(native.status == 0, "\(native.stderr)")
        #expect(qemu.status == 0, "\(qemu.stderr)")
        #expect(Self.normalised(qemu.stdout) == Self.normalised(native.stdout))
        #expect(qemu.stdout.hasSuffix("hihalf-smp: all 16 CPUs online; powering off via ACPI S5 (PM1a_CNT 0x604, SLP_TYPa 0)\n"))
        #expect(qemu.stdout.contains("MADT: 16 CPUs, APIC IDs 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15"))
        // Over-commit is warned about; nothing else is.
        let warnings = qemu.stderr.split(separator: "\n").filter { $0.contains("warning") }
        #expect(warnings.count == 1 && warnings.first?.contains("16 vCPUs is more than") == true, "\(qemu.stderr)")
    }

    /// `cos debug`: the same line with -S; gdb loads cos.img, connects and continues, and
    /// the run ends as it would without gdb.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: GDB.path), "needs \(GDB.path) (Debian's gdb package)"))
    func compositeDebugLineWaitsForGDB() throws {
        let (iso, image) = try compositeDisc()
        let process = Process()
        process.executableURL = QEMUSpellingIntegrationTests.qemuSymlink
        process.arguments = Self.compositeLine(iso) + ["-S"]
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("the guest waits for gdb") {
            let chunk = stderr.fileHandleForReading.availableData   // waits for output or EOF
            if chunk.isEmpty { break }
            seen.append(chunk)
        }
        let gdb = try GDB.run(elf: image, commands: ["file \(image)", "target remote :1234", "continue"])
        let output = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(gdb.contains("_start"), "gdb stopped at the kernel's entry: \(gdb)")
        #expect(gdb.contains("exited normally"), "\(gdb)")
        #expect(process.terminationStatus == 0)
        #expect(output.hasSuffix("hihalf-smp: all 16 CPUs online; powering off via ACPI S5 (PM1a_CNT 0x604, SLP_TYPa 0)\n"))
    }

    static func compositeLine(_ iso: String) -> [String] {
        ["-enable-kvm", "-cpu", "max", "-smp", "16,cores=16,threads=1,sockets=1", "-m", "8192", "-cdrom", iso,
         "-no-reboot", "-nographic", "-s", "-nic", "none"]
    }

    /// cos.iso as Composite builds it, around hihalf-smp, and the kernel file itself.
    func compositeDisc() throws -> (iso: String, image: String) {
        let config = "set timeout=0\nset default=0\nmenuentry \"composite\" {\n  multiboot2 /boot/cos.img\n}\n"
        let iso = try GRUBRescue.make(["/boot/cos.img": hihalfSmpGuest, "/boot/grub/grub.cfg": Array(config.utf8)],
                                      name: "cos", in: directory)
        return (iso, try directory.file("cos.img", hihalfSmpGuest))
    }

    /// The output without what is measured (the TSC calibration) or raced (how many SIPIs
    /// an AP needed).
    static func normalised(_ output: String) -> [String] {
        output.split(separator: "\n").map { line in
            if line.contains("TSC ") && line.contains("kHz against the HPET") { return "TSC calibration" }
            if line.contains("checked in after"), let after = line.range(of: " after") { return String(line[..<after.lowerBound]) }
            return String(line)
        }
    }
}
